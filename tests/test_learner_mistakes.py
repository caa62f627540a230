"""Bad learner code fails its own checks with a sentence, and the rest of the suite still runs."""

import json
import shutil

import pytest

from kflab import checkrun, paths, registry

LAB = "2.1"
OTHER = "2.4"  # a cheap lab that must keep passing beside the broken one
FILE = "components.py"

MISTAKES = {
    "syntax error": (lambda src: src.replace("def data_preprocessing(", "def data_preprocessing(:", 1), "syntax error on line"),
    "missing function": (lambda src: src.replace("def data_preprocessing(", "def preprocess(", 1).replace(
        "data_preprocessing(input_data", "preprocess(input_data"), "defines no component `data_preprocessing`"),
    "component that raises": (lambda src: src.replace('    df = pd.read_csv(input_data.path)\n',
                                                      '    df = pd.read_csv(input_data.path)\n    raise ValueError("boom")\n', 1),
                              "ValueError: boom"),
    "the seed's kfp.v2 import": (lambda src: src.replace("from kfp import dsl\n", "from kfp.v2 import dsl\n", 1),
                                 "components.py line 6 uses an API that is deprecated"),
    "wrong annotation": (lambda src: src.replace("test_size: float = 0.2", "test_size: int = 0", 1), "NUMBER_INTEGER"),
    "reassigned output path": (lambda src: src.replace("    train_df.to_csv(", '    train_data.path = "train.csv"\n    train_df.to_csv(', 1),
                               "the component reassigned `train_data.path`"),
    "unstratified split": (lambda src: src.replace(', stratify=df["target"]', "", 1), "the classes are out of balance"),
    "missing output parameter": (lambda src: src.replace("    train_data: Output[Dataset],\n", "", 1),
                                 "has no parameter `train_data` yet"),
    "split declared as an input": (lambda src: src.replace("    test_data: Output[Dataset],\n", "    test_data: Input[Dataset],\n", 1),
                                   "`test_data` is declared `Input[Dataset]`; a split the component writes must be `Output[Dataset]`."),
}


def _no_loop(src: str) -> str:
    """Lab 2.3's loop taken out again, with the starter's plain list in place of dsl.Collected."""
    src = src.replace("    with dsl.ParallelFor(items=learning_rates, parallelism=3) as lr:\n        scored = ", "    scored = ", 1)
    src = src.replace("learning_rate=lr)", "learning_rate=0.001)", 1)
    return src.replace("results=dsl.Collected(scored.output)", "results=[scored.output]", 1)


def _frozen_timestamp(src: str) -> str:
    """Lab 2.5 with a timestamp fixed when the module is imported, passed to fit."""
    src = src.replace("from kfp import dsl, local\n", "from datetime import datetime\n\nfrom kfp import dsl, local\n", 1)
    src = src.replace('IMAGE = "', 'STARTED = datetime.now().isoformat()\nIMAGE = "', 1)
    src = src.replace("c: float = 1.0):\n", 'c: float = 1.0, started_at: str = ""):\n', 1)
    return src.replace("fit(train=parts.outputs[\"train\"], c=c)", "fit(train=parts.outputs[\"train\"], c=c, started_at=STARTED)", 1)


# Mistakes in the other stage-2 labs: (lab, file, change to the solution, what the learner must read).
OTHER_LABS = {
    "evaluation on the train split": ("2.2", "pipeline.py", lambda src: src.replace(
        'evaluate_model(test=features.outputs["test"]', 'evaluate_model(test=features.outputs["train"]', 1),
        "not engineer-features' `test` split"),
    "the seed's dsl.Condition": ("2.3", "pipeline.py", lambda src: src.replace("with dsl.If(", "with dsl.Condition(", 1),
                                 "dsl.Condition is deprecated. Please use dsl.If instead."),
    "plain list instead of dsl.Collected": ("2.3", "pipeline.py", _no_loop, "Pass the loop's outputs with `results=dsl.Collected"),
    "strict deployment gate": ("2.3", "pipeline.py", lambda src: src.replace(
        'best.outputs["accuracy"] >= accuracy_threshold', 'best.outputs["accuracy"] > accuracy_threshold', 1), "equal included"),
    "secret keys with dashes": ("2.4", "pipeline.py", lambda src: src.replace('{"accesskey": "AWS_ACCESS_KEY_ID", "secretkey":',
                                                                             '{"access-key": "AWS_ACCESS_KEY_ID", "secret-key":', 1),
                                "s3-credentials holds the key `accesskey`"),
    "secret mapping reversed": ("2.4", "pipeline.py", lambda src: src.replace(
        '{"accesskey": "AWS_ACCESS_KEY_ID", "secretkey": "AWS_SECRET_ACCESS_KEY"}',
        '{"AWS_ACCESS_KEY_ID": "accesskey", "AWS_SECRET_ACCESS_KEY": "secretkey"}', 1),
        "fetch-data's env vars are named accesskey, secretkey: the mapping is reversed."),
    "cpu request from a pipeline parameter": ("2.4", "pipeline.py", lambda src: src.replace(
        "def production_pipeline(n_estimators: int = 100):", 'def production_pipeline(n_estimators: int = 100, train_cpu: str = "1"):', 1
    ).replace('train.set_cpu_request("1")', "train.set_cpu_request(train_cpu)", 1), "is a pipeline parameter"),
    "metrics logged only as JSON": ("2.5", "pipeline.py", lambda src: src.replace('    metrics.log_metric("accuracy", accuracy)\n', "", 1),
                                    "score logs no `accuracy` metric"),
    "metrics only logged": ("2.5", "pipeline.py", lambda src: src.replace(
        '    with open(metrics.path, "w") as fh:\n        json.dump({"accuracy": accuracy}, fh)\n', "", 1), "wrote nothing to `metrics.path`"),
    "metrics path reassigned": ("2.5", "pipeline.py", lambda src: src.replace(
        '    with open(metrics.path, "w") as fh:\n', '    metrics.path = "metrics.json"\n    with open(metrics.path, "w") as fh:\n', 1),
        "score reassigned `metrics.path`"),
    "timestamp fixed at import": ("2.5", "pipeline.py", _frozen_timestamp, "compiles differently in each Python process"),
    "refusal on stdout": ("2.6", "submit.py", lambda src: src.replace("print(problem, file=sys.stderr)", "print(problem)", 1),
                          "prints its sentence to stdout"),
    "submit() that never runs": ("2.6", "submit.py", lambda src: src.replace(
        "    exp = client.create_experiment(experiment)\n", "    exp = client.create_experiment(experiment)\n    return version\n", 1),
        "submit() uploads a version but starts no run"),
    "submit.py syntax error": ("2.6", "submit.py", lambda src: src.replace("    if problem:\n", "    if problem\n", 1),
                               "submit.py has a syntax error on line"),
}
ALL = {**{name: (LAB, FILE, mutate, says) for name, (mutate, says) in MISTAKES.items()}, **OTHER_LABS}


def _target(tmp_path, lab_id, other, file, mutate):
    for each in (lab_id, other):
        lab = registry.get(each)
        shutil.copytree(lab.dir(paths.SOLUTIONS), lab.dir(tmp_path))
    path = registry.get(lab_id).dir(tmp_path) / file
    source = path.read_text()
    changed = mutate(source)
    assert changed != source, f"the mistake no longer applies to {path.name}: update its text in this test"
    path.write_text(changed)
    return tmp_path


@pytest.mark.parametrize("mistake", sorted(ALL))
def test_a_learner_mistake_fails_its_lab_with_a_sentence_and_spares_the_others(tmp_path, mistake):
    lab_id, file, mutate, says = ALL[mistake]
    other = OTHER if lab_id != OTHER else LAB
    labs = [registry.get(lab_id), registry.get(other)]
    result = checkrun.collect_results(labs, str(_target(tmp_path / "target", lab_id, other, file, mutate)))
    broken = result["labs"][lab_id]
    assert broken["failed"] >= 1, f"a {mistake} must fail at least one checkpoint of lab {lab_id}"
    messages = [c["message"] for c in broken["checks"].values() if c["outcome"] == "failed"]
    assert any(says in m for m in messages), f"a {mistake} should be reported as {says!r}; got {messages}"
    assert all("kflab/" not in m and "site-packages" not in m for m in messages), \
        f"learner-facing messages must not show harness or library frames: {messages}"
    assert not (paths.REPO / "train.csv").exists(), \
        f"checking a {mistake} wrote train.csv into the repository; learner code must run in a scratch folder"
    result_other = result["labs"][other]
    assert result_other["failed"] == 0 and result_other["passed"] > 0, f"lab {other} must still run and pass beside a {mistake}"


def test_a_component_that_raises_shows_its_own_file_and_line_and_no_runner_log(tmp_path):
    """The failed local run names components.py and the learner's line, and pytest shows no kfp.local log."""
    lab = registry.get(LAB)
    target = _target(tmp_path / "target", LAB, OTHER, FILE, MISTAKES["component that raises"][0])
    source = (lab.dir(target) / FILE).read_text().splitlines()
    line = source.index('    raise ValueError("boom")') + 1
    report, out = tmp_path / "report.json", tmp_path / "pytest.out"
    with out.open("w") as fh:
        checkrun.run_pytest(checkrun.pytest_args([lab], str(target), [f"--kflab-report={report}", "--no-progress"],
                                                 parallel=False), stdout=fh, stderr=fh)
    checks = json.loads(report.read_text())["labs"][LAB]["checks"]
    runs = [c["message"] for c in checks.values() if c["outcome"] == "failed" and "local run failed" in c["message"]]
    assert runs, f"a component that raises must fail the local-run checkpoints: {checks}"
    for message in runs:
        assert f'File "components.py", line {line}, in data_preprocessing' in message, \
            f"the frame names the learner's file and line {line}, not KFP's generated file: {message}"
        assert "/tmp/" not in message and "ephemeral_component" not in message, f"no temporary paths: {message}"
        assert "Run `python components.py` in the lab's folder to see kfp.local's full log." in message, message
    shown = out.read_text()
    assert "Captured stdout" not in shown and "Executing task" not in shown, \
        f"pytest must not show kfp.local's own log under the failure:\n{shown[-3000:]}"
    assert "ephemeral_component" not in shown and "kfp-workspace" not in shown, f"no runner temp paths:\n{shown[-3000:]}"
