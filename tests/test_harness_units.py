"""Small, fast tests of the harness's pure parts."""

import pytest

from kflab import failures, kfp_local, kfp_traceback, manifests, notebooks, state

RUNNER_LOG = """\
18:15:17.711 - INFO - Executing task \x1b[96m'load'\x1b[0m
18:15:19.480 - INFO - Task \x1b[96m'load'\x1b[0m finished with status \x1b[92mSUCCESS\x1b[0m
INFO - Task train cache hit (key=0123456789ab); skipping execution.
18:15:20.000 - INFO - Skipping conditional task condition-4
18:15:21.000 - INFO - Executing task \x1b[96m'score'\x1b[0m
    Traceback (most recent call last):
      File "/venv/lib/python3.11/site-packages/kfp/dsl/executor.py", line 10, in execute
        result = self.func(**func_kwargs)
      File "/tmp/tmp.x/ephemeral_component.py", line 12, in score
        raise ValueError("boom")
    ValueError: boom
18:15:22.000 - ERROR - Task \x1b[96m'score'\x1b[0m finished with status \x1b[91mFAILURE\x1b[0m
"""


def test_runner_log_gives_executions_cache_hits_skips_and_failures():
    parsed = kfp_local.parse_log(RUNNER_LOG)
    assert parsed["executed"] == {"load": 1, "score": 1}, "executions come from 'Executing task' lines"
    assert parsed["cache_hits"] == {"train": 1}, "cache hits come from the runner's own 'cache hit' lines"
    assert parsed["skipped"] == ["condition-4"], "skipped branches are recorded"
    assert parsed["failed"] == ["score"], "a task finishing with FAILURE is recorded"


def test_traceback_keeps_only_the_components_frames():
    text = kfp_traceback.learner_traceback(RUNNER_LOG)
    assert "<your component>" in text and 'raise ValueError("boom")' in text, "the component's frame is shown"
    assert "site-packages" not in text, "KFP's own frames are trimmed"
    assert text.rstrip().endswith("ValueError: boom"), "the exception line closes the traceback"


def test_quantities_are_read_as_kubernetes_reads_them():
    assert manifests.quantity("500m") == manifests.quantity("0.5") and manifests.quantity("1Gi") == 2**30
    assert manifests.quantity(4) == 4, "a bare number is a quantity"
    for bad in ("4 Gi", "{{$.inputs.parameters['cpu']}}", "lots", None):
        assert manifests.quantity(bad) is None, f"{bad!r} is not a quantity the API server accepts"
    assert manifests.name_of({"metadata": {"name": "x"}}) == "x" and manifests.name_of({"metadata": None}) is None


def test_metadata_that_is_not_a_mapping_is_a_sentence():
    assert "metadata is empty" in manifests.problems({"apiVersion": "v1", "kind": "Namespace", "metadata": None})[0]
    assert "not a mapping" in manifests.problems({"apiVersion": "v1", "kind": "Namespace", "metadata": "x"})[0]


def test_strict_validation_names_the_misspelled_field_and_suggests_the_right_one():
    problems = manifests.problems({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "lables": {}}})
    assert problems and "lables" in problems[0] and "labels" in problems[0], f"got {problems}"
    assert manifests.problems({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}) == [], "a valid object passes"


def test_unknown_kinds_and_missing_names_are_sentences():
    assert "neither" in manifests.problems({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})[0]
    assert "metadata.name" in manifests.problems({"apiVersion": "v1", "kind": "Namespace", "metadata": {}})[0]


def test_failures_end_with_the_hint_command():
    assert failures.render("Something is missing.", "2.3").endswith("`kflab hint 2.3`."), "every failure ends with the hint"


@pytest.mark.parametrize("text", ["garbage{{{", "", "[]", "null", '{"labs": []}', '{"labs": {"1.1": "passed"}}',
                                  '{"labs": {"1.1": {"failed": "x"}}}', '{"hints": {"1.1": "abc"}}', '{"hints": []}'])
def test_a_broken_state_file_is_set_aside_with_a_sentence(tmp_path, monkeypatch, capsys, text):
    monkeypatch.setenv("KFLAB_STATE", str(tmp_path))
    (tmp_path / "state.json").write_text(text)
    assert state.reveal_hint("1.1", 3, False) == 1, "a fresh state starts the hints from the first"
    assert "kflab starts a fresh one" in capsys.readouterr().err, "the learner is told why progress starts afresh"
    assert (tmp_path / "state.json.broken").read_text() == text, "the unreadable file is kept, not overwritten"
    assert state.load()["hints"] == {"1.1": 1}, "the fresh file is well formed"


def test_hints_are_revealed_one_at_a_time(tmp_path, monkeypatch):
    monkeypatch.setenv("KFLAB_STATE", str(tmp_path))
    assert [state.reveal_hint("2.1", 3, False) for _ in range(4)] == [1, 2, 3, 3], "one more per call, never past the last"
    assert state.reveal_hint("2.2", 3, True) == 3, "--all reveals every hint"
    assert "Don't edit" in (tmp_path / "state.json").read_text(), "the state file says not to edit it"


def test_a_missing_file_outside_the_repo_is_named_as_under_labs(tmp_path):
    """A submission graded in a box: the message and its git command use the course's path, labs/stageN/..."""
    from kflab import registry
    from kflab.learner import LabTarget

    lab = LabTarget(registry.get("1.1"), tmp_path / "box" / "labs")
    with pytest.raises(failures.CheckFailure) as raised:
        lab.file("kind-config.yaml")
    said = str(raised.value)
    assert "git checkout -- labs/stage1/01_kind_cluster/kind-config.yaml" in said and str(tmp_path) not in said, said


def test_the_verdict_says_once_why_checkpoints_were_skipped(tmp_path):
    """`kflab check 2` on a laptop without a cluster: one line names the reason, not one per lab or checkpoint."""
    import types

    from kflab import results

    collector = results.Collector("solutions", progress=False)
    for lab, name, outcome in [("2.1", "test_a", "passed"), ("2.1", "test_c", "skipped"), ("2.2", "test_c", "skipped")]:
        message = "Skipped: no Kubernetes API answers." if outcome == "skipped" else ""
        collector.pytest_runtest_logreport(types.SimpleNamespace(
            nodeid=f"checks/x.py::{name}", when="setup" if outcome == "skipped" else "call",
            user_properties=[("kflab_lab", lab), ("kflab_message", message)], passed=outcome == "passed",
            failed=False, skipped=outcome == "skipped", duration=0.0))
    lines = collector.summary_lines()
    assert lines[-1] == "  2 skipped: no Kubernetes API answers.", lines
    assert sum("no Kubernetes API" in line for line in lines) == 1, lines


def test_learner_code_that_exits_is_a_sentence_not_the_end_of_the_run(tmp_path):
    """argparse at import time calls sys.exit(2); that must fail one checkpoint, not end pytest."""
    import argparse

    with pytest.raises(failures.CheckFailure) as raised:
        with failures.learner_code("importing components.py", tmp_path):
            argparse.ArgumentParser(prog="components.py").parse_args(["--no-such-flag"])
    said = str(raised.value)
    assert "called sys.exit(2) while importing components.py" in said and '__name__ == "__main__"' in said, said


def test_an_empty_or_binary_yaml_file_is_named_for_what_it_is(tmp_path):
    from kflab import registry, yamlfile
    from kflab.learner import LabTarget

    binary = tmp_path / "x.yaml"
    binary.write_bytes(b"a: 1\n\x00b: 2\n")
    with pytest.raises(ValueError, match=r"unacceptable character .* Remove the character it names"):
        yamlfile.read(binary, ValueError)
    lab = LabTarget(registry.get("1.1"), tmp_path / "labs")
    lab.dir.mkdir(parents=True)
    (lab.dir / "kind-config.yaml").write_text("# nothing but a comment\n")
    with pytest.raises(failures.CheckFailure, match="holds no YAML document"):
        lab.yaml_docs("kind-config.yaml")
    (lab.dir / "kind-config.yaml").write_text("- a\n- b\n")
    with pytest.raises(failures.CheckFailure, match="one document is list"):
        lab.yaml_docs("kind-config.yaml")


def test_an_exception_that_is_no_sentence_still_gets_a_verdict():
    """A check that raises something unexpected is 'could not finish', never an INTERNALERROR of the plugin."""
    from kflab import plugin

    assert plugin._sentence_for(FileNotFoundError("x")) is None
    assert plugin._sentence_for(failures.CheckFailure("said")) == "said"


def test_names_are_listed_as_words():
    assert [failures.listed(n) for n in ([], ["a"], ["a", "b"], ["a", "b", "c"])] == ["none", "a", "a and b", "a, b and c"]


def test_a_notebook_error_keeps_the_learners_cell_frame_and_the_error_line():
    frames = ["\x1b[0;31m---------\x1b[0m\nIntCastingNaNError    Traceback (most recent call last)",
              "Cell In[3], line 6\n----> 6 df[\"passengers\"] = df[\"passengers\"].astype(\"int64\")",
              "File .../pandas/core/generic.py:6643, in NDFrame.astype(self, dtype)", "File .../pandas/astype.py:101",
              "IntCastingNaNError: Cannot convert non-finite values (NA or inf) to integer"]
    kept = notebooks.trimmed(frames)
    assert kept[0].startswith("Cell In[3], line 6") and kept[-1].startswith("IntCastingNaNError"), kept
    assert not any("pandas" in frame for frame in kept), f"library frames are left out: {kept}"
    assert notebooks.trimmed(frames[2:]) == frames[2:], "without a cell frame the last three entries stay"


def test_a_bare_parameter_as_a_dsl_if_condition_is_explained():
    from kfp import dsl

    @dsl.component(base_image="python:3.11-slim")
    def step() -> int:
        return 1

    with pytest.raises(AttributeError) as raised:
        @dsl.pipeline
        def gated(deploy: bool = False):
            with dsl.If(deploy):
                step()
    assert "dsl.If(deploy == True)" in kfp_traceback.known_cause(raised.value), "KFP's own words name only its internals"
    error = failures.LearnerError("importing pipeline.py", raised.value, ())
    assert "a bare parameter or output is not one" in str(error) and "left_operand" in str(error), str(error)
    assert kfp_traceback.known_cause(ValueError("left_operand")) is None, "only the error KFP raises is explained"
