"""Bad learner code fails its own checks with a sentence, and the rest of the suite still runs."""

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
    "wrong annotation": (lambda src: src.replace("test_size: float = 0.2", "test_size: int = 0", 1), "NUMBER_INTEGER"),
}


def _target(tmp_path, mutate):
    for lab_id in (LAB, OTHER):
        lab = registry.get(lab_id)
        shutil.copytree(lab.dir(paths.SOLUTIONS), lab.dir(tmp_path))
    path = registry.get(LAB).dir(tmp_path) / FILE
    path.write_text(mutate(path.read_text()))
    return tmp_path


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_a_learner_mistake_fails_its_lab_with_a_sentence_and_spares_the_others(tmp_path, mistake):
    mutate, says = MISTAKES[mistake]
    labs = [registry.get(LAB), registry.get(OTHER)]
    result = checkrun.collect_results(labs, str(_target(tmp_path, mutate)))
    broken = result["labs"][LAB]
    assert broken["failed"] >= 1, f"a {mistake} must fail at least one checkpoint of lab {LAB}"
    messages = [c["message"] for c in broken["checks"].values() if c["outcome"] == "failed"]
    assert any(says in m for m in messages), f"a {mistake} should be reported as {says!r}; got {messages}"
    assert all("kflab/" not in m and "site-packages" not in m for m in messages), \
        f"learner-facing messages must not show harness or library frames: {messages}"
    other = result["labs"][OTHER]
    assert other["failed"] == 0 and other["passed"] > 0, f"lab {OTHER} must still run and pass beside a {mistake}"
