"""Commands that fail on their input leave nothing behind and say what they found in plain words.

`kflab rules` (a folder made at parse time) and `kflab tune` (a document without `kind`); the grader's own
refusals are in grading/test_out_and_only.py.
"""

from __future__ import annotations

import shutil

import pytest

from kflab import cli, paths, promtool, tune


def test_rules_with_a_missing_file_creates_no_output_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["rules", "nope.yaml"]) == 1
    assert "cannot read nope.yaml" in capsys.readouterr().err
    assert not (tmp_path / "local_outputs").exists(), "argparse runs the --output type on the default: it must not mkdir"


def test_rules_creates_the_output_folder_when_it_writes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(paths.SOLUTIONS / "stage3" / "07_monitoring" / "alerts.yaml", tmp_path / "alerts.yaml")
    monkeypatch.setattr(promtool, "run", lambda args, cwd: (0, "SUCCESS"))  # promtool itself is not under test
    assert cli.main(["rules", "alerts.yaml"]) == 0
    assert (tmp_path / "local_outputs" / "rules.yaml").is_file(), "the default output folder is made when writing"


def test_rules_output_under_a_file_is_refused_at_once(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("")
    assert cli.main(["rules", "alerts.yaml", "-o", "a-file/rules.yaml"]) == 2
    assert "is not a folder you can write to" in capsys.readouterr().err


def test_tune_names_a_mapping_without_kind_in_words(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("apiVersion: kubeflow.org/v1beta1\nmetadata: {name: x}\n")
    with pytest.raises(tune.TuneError) as raised:
        tune.load(path)
    said = str(raised.value)
    assert said.endswith("but holds none (it holds a mapping with no `kind`).") and "None" not in said, said
