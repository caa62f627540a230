"""Fixtures for the grader's tests: a corpus of submissions, one graded class, and a watch on the world outside.

Most tests share one grading run (`graded_corpus`, lab 2.1 only, short limits,
two jobs), so the whole robustness corpus costs about one class's grading time.
"""

from __future__ import annotations

import uuid

import pytest
from graderkit import LAB, LIMITS, Outside, corpus_kinds

from kflab.grading import corpus, grader, handins


@pytest.fixture(scope="session")
def token() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def graded_corpus(tmp_path_factory, token):
    """One class: a solution, a starter, two good archives and every broken kind, graded with two jobs."""
    root = tmp_path_factory.mktemp("corpus")
    folder = root / "submissions"
    folder.mkdir()
    for kind in ["solution", "starter", *corpus_kinds()]:
        corpus.build(kind, folder, kind, [LAB], token=token)
    handins.archive(folder / "zipped", [LAB], "zip")
    handins.archive(folder / "tarred", [LAB], "tar", source="starter")
    outside = Outside(token)
    summary = grader.grade(folder, [LAB], jobs=2, out=root / "out", limits=LIMITS, show_progress=False)
    return {"folder": folder, "out": root / "out", "summary": summary, "outside": outside,
            "rows": {row["name"]: row for row in summary.rows}}
