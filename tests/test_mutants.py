"""kflab dev mutants: which starter changes count, and how a mutant is judged by the lab's real checks."""

import dataclasses

from kflab import mutants, paths, registry

LAB = registry.get("2.1")


def test_comments_docstrings_and_yaml_layout_mean_nothing():
    code = 'def f(x):\n    """Add one."""\n    return x + 1  # more\n'
    assert mutants.meaning("a.py", code) == mutants.meaning("a.py", 'def f(x):\n    """Other words."""\n    return x + 1\n')
    assert mutants.meaning("a.py", code) != mutants.meaning("a.py", "def f(x):\n    return x + 2\n")
    doc = "a: 1\nb: [x, y]  # why\n"
    assert mutants.meaning("k.yaml", doc) == mutants.meaning("k.yaml", "# note\na: 1\nb:\n  - x\n  - y\n")
    assert mutants.meaning("k.yaml", doc) != mutants.meaning("k.yaml", 'a: "1"\nb: [x, y]\n')
    # a file a half-done TODO left unparsable is compared by its code lines
    assert mutants.meaning("a.py", "def f(:\n  # c\n  pass\n") == ["def f(:", "pass"]


def test_each_code_change_is_one_mutant_and_a_comment_change_none():
    solution = "import os\n\n# Set up.\nx = 1\ny = os.sep\n"
    starter = "import os\n\n# Set things up.\n# TODO: set x to 1\nx = 0\ny = os.sep\n"
    found = list(mutants._line_mutants(LAB, "m.py", solution, starter))
    assert [m.where for m in found] == ["lines 3-4"]
    assert found[0].text == "import os\n\n# Set things up.\n# TODO: set x to 1\nx = 0\ny = os.sep\n"
    assert found[0].starter_lines == ("x = 0",)


def test_lines_the_registry_calls_equivalent_are_not_run():
    lab = dataclasses.replace(LAB, equivalent_lines=("from datetime import datetime",))
    mutant = next(mutants._line_mutants(lab, "m.py", "x = 1\n", "from datetime import datetime\nx = 1\n"))
    verdict = mutants.judge(mutant, [])
    assert mutant.equivalent and verdict.outcome == "equivalent"


def test_a_mutant_is_caught_when_a_check_fails_and_missed_when_none_does():
    solution = (paths.SOLUTIONS / LAB.folder / "components.py").read_text()
    broken = solution.replace("test_size=test_size)", ")", 1)  # split_demo stops passing test_size on
    silent = solution.replace('print(f"Outputs are under', 'print(f"Results are under', 1)  # nothing checks __main__
    assert broken != solution and silent != solution
    caught = mutants.judge(mutants.Mutant(LAB, "components.py", "test", broken, ()), [])
    missed = mutants.judge(mutants.Mutant(LAB, "components.py", "test", silent, ()), [])
    assert caught.outcome == "caught" and "test_the_demo_pipeline_passes_its_test_size" in caught.detail, caught
    assert missed.outcome == "missed", missed
    assert mutants.failing([caught, missed]) == [missed]
    assert "1 of 2 caught, 1 missed" in mutants.summary([caught, missed])
