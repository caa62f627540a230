"""Lab 2.1: lightweight components (data_preprocessing)."""

import ast
import contextlib
import inspect
import math
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pytest
from kfp import dsl
from kfp.dsl import Dataset

from kflab import datasets, kfp_local
from kflab.failures import LearnerError, expect, fail
from kflab.kfp_ir import PipelineIR

TEST_SIZE, SEED = 0.25, 7  # not the defaults, so the run proves they are passed through
# Every parameter the checks pass, as the lab page declares it.
SIGNATURE = {"input_data": "input_data: Input[Dataset]", "train_data": "train_data: Output[Dataset]",
             "test_data": "test_data: Output[Dataset]", "test_size": "test_size: float = 0.2",
             "random_state": "random_state: int = 42"}


def components(lab):
    """The learner's components.py; a split declared as an input is named before the traceback it causes."""
    try:
        return lab.module("components.py")
    except LearnerError:  # split_demo's call to data_preprocessing raises at import
        for name in splits_declared_as_inputs(lab.file("components.py")):
            fail(split_is_an_input(name))
        raise


def splits_declared_as_inputs(path: Path) -> list[str]:
    """The splits (train_data, test_data) that data_preprocessing annotates as Input[...] in the source."""
    try:
        tree = ast.parse(path.read_text())
    except (SyntaxError, ValueError, UnicodeDecodeError):
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "data_preprocessing":
            for arg in node.args.args + node.args.kwonlyargs:
                ann = arg.annotation
                base = ann.value if isinstance(ann, ast.Subscript) else None
                named = base.id if isinstance(base, ast.Name) else base.attr if isinstance(base, ast.Attribute) else None
                if arg.arg in ("train_data", "test_data") and named == "Input":
                    found.append(arg.arg)
    return found


def split_is_an_input(name: str) -> str:
    return f"`{name}` is declared `Input[Dataset]`; a split the component writes must be `Output[Dataset]`."


@pytest.fixture(scope="module")
def component(lab):
    return lab.attr(components(lab), "data_preprocessing", "component")


@pytest.fixture(scope="module")
def interface(component, lab_tmp):
    comp = PipelineIR.of(component, lab_tmp).spec
    return comp.get("root", {}).get("inputDefinitions", {}), comp.get("root", {}).get("outputDefinitions", {})


@pytest.fixture(scope="module")
def csv(lab_tmp):
    return datasets.breast_cancer_csv(lab_tmp)


@pytest.fixture(scope="module")
def local_run(component, csv, lab, lab_tmp):
    """One kfp.local run of the learner's component behind an importer."""
    class Splits(NamedTuple):
        train: Dataset
        test: Dataset

    try:
        @dsl.pipeline(name="check-lab-2-1")
        def wrapper(data_uri: str, test_size: float, random_state: int) -> Splits:
            raw = dsl.importer(artifact_uri=data_uri, artifact_class=Dataset)
            task = component(input_data=raw.output, test_size=test_size, random_state=random_state)
            return Splits(train=task.outputs["train_data"], test=task.outputs["test_data"])
    except (TypeError, KeyError, ValueError) as exc:
        expect_signature(component)
        for name in splits_declared_as_inputs(lab.file("components.py")):
            fail(split_is_an_input(name))
        expect(False, f"data_preprocessing cannot be wired as the lab asks ({exc}). "
                      "It needs the parameters test_size and random_state and the outputs train_data and test_data.")

    kfp_local.init(lab_tmp / "local")
    run = kfp_local.run(wrapper, {"data_uri": str(csv), "test_size": TEST_SIZE, "random_state": SEED},
                        doing="running data_preprocessing with kfp.local", file=lab.file("components.py"))
    for name, art in run.outputs.items():
        kfp_local.expect_kfp_path(f"{name}_data", art.uri, run.root, to_csv(f"{name}_data"))
        expect(Path(art.path).is_file(), f"data_preprocessing wrote nothing to `{name}_data`. Write that split to "
                                         f"the path KFP gives it: `{name}_df.to_csv({name}_data.path, index=False)`.")
    return {name: pd.read_csv(art.path) for name, art in run.outputs.items()}


def expect_signature(component) -> None:
    """Fail with the first parameter the lab asks for that data_preprocessing lacks."""
    params = inspect.signature(component.python_func).parameters
    missing = [name for name in SIGNATURE if name not in params]
    if missing:
        fail(f"data_preprocessing has no parameter `{missing[0]}` yet, so the check cannot call it. "
             f"Add `{SIGNATURE[missing[0]]}` to its signature.")


def to_csv(name: str) -> str:
    return f"write with `to_csv({name}.path, index=False)`"


def test_component_takes_a_dataset_and_gives_train_and_test_datasets(interface):
    """Does data_preprocessing declare Input[Dataset] input_data and two Output[Dataset]s?"""
    inputs, outputs = interface
    in_types = {k: v["artifactType"]["schemaTitle"] for k, v in inputs.get("artifacts", {}).items()}
    out_types = {k: v["artifactType"]["schemaTitle"] for k, v in outputs.get("artifacts", {}).items()}
    for name in ("train_data", "test_data"):
        expect(name not in in_types, split_is_an_input(name))
    expect(in_types.get("input_data") == "system.Dataset",
           f"data_preprocessing should take `input_data: Input[Dataset]`, but its artifact inputs are {_named(in_types)}.")
    for name in ("train_data", "test_data"):
        expect(out_types.get(name) == "system.Dataset",
               f"data_preprocessing has no `{name}: Output[Dataset]` (its artifact outputs are {_named(out_types)}). "
               "Declare it in the signature so KFP gives the component a path to write to.")


def _named(types: dict) -> str:
    """Artifacts as words: `train_data` (Dataset), ... or none."""
    return ", ".join(f"`{k}` ({v.removeprefix('system.')})" for k, v in types.items()) or "none"


def test_component_takes_test_size_and_random_state_with_defaults(interface):
    """Are test_size (float, 0.2) and random_state (int, 42) typed parameters with defaults?"""
    params = interface[0].get("parameters", {})
    wanted = {"test_size": ("NUMBER_DOUBLE", 0.2), "random_state": ("NUMBER_INTEGER", 42)}
    for name, (kind, default) in wanted.items():
        spec = params.get(name)
        expect(spec is not None, f"data_preprocessing has no parameter `{name}`. Add it with a type annotation and a default.")
        expect(spec.get("parameterType") == kind,
               f"`{name}` compiles to {spec.get('parameterType')}, not {kind}: annotate it as "
               f"`{'float' if kind == 'NUMBER_DOUBLE' else 'int'}`.")
        expect(spec.get("defaultValue") == default, f"`{name}` should default to {default}, not {spec.get('defaultValue')!r}.")


def test_component_runs_locally_and_writes_both_splits(local_run):
    """Does a kfp.local run write two non-empty CSVs with every column of the input?"""
    raw_columns = datasets_columns()
    for name, frame in local_run.items():
        expect(len(frame) > 0, f"The {name} split the component wrote is empty. Write the rows with to_csv(...).")
        expect(list(frame.columns) == raw_columns,
               f"The {name} split has columns {list(frame.columns)[:4]}..., not the input's. "
               "Write the DataFrame with index=False and keep every column, `target` included.")


def test_split_sizes_honour_test_size(local_run):
    """With test_size=0.25, do the splits hold 143 test rows and 426 train rows?"""
    n = datasets.BREAST_CANCER_ROWS
    want_test = math.ceil(n * TEST_SIZE)
    got = {k: len(v) for k, v in local_run.items()}
    expect(got["train"] + got["test"] == n,
           f"The splits hold {got['train']} + {got['test']} rows, but the input has {n}. Every row goes to exactly one split.")
    expect(got["test"] == want_test,
           f"With test_size={TEST_SIZE} the test split should hold {want_test} rows, but holds {got['test']}. "
           "Pass test_size through to train_test_split.")


def test_split_keeps_the_class_balance_in_both_parts(local_run):
    """Is the split stratified on `target`, so each class has the same share of the train and test splits?"""
    frames = {name: local_run[name] for name in ("train", "test")}
    for name, frame in frames.items():
        expect("target" in frame.columns, f"The {name} split has no `target` column. Keep every column of the input.")
    whole = pd.concat(frames.values())["target"].value_counts()
    for name, frame in frames.items():
        got = frame["target"].value_counts()
        for label, count in whole.items():
            want = count * len(frame) / whole.sum()
            expect(abs(got.get(label, 0) - want) <= 1,
                   f"The {name} split holds {got.get(label, 0)} rows of class {label}, but a stratified split of "
                   f"{len(frame)} rows holds {want:.0f}: the classes are out of balance. "
                   "Pass `stratify=df[\"target\"]` to train_test_split.")


def test_split_is_deterministic_for_a_given_random_state(component, csv, lab, lab_tmp):
    """Does the same random_state give the same split, and another one a different split?"""
    expect_signature(component)
    scratch = lab_tmp / "direct"
    scratch.mkdir(exist_ok=True)

    def split(seed, tag):
        train, test = Dataset(uri=str(scratch / f"train-{tag}.csv")), Dataset(uri=str(scratch / f"test-{tag}.csv"))
        given = {"train_data": train.uri, "test_data": test.uri}
        # The call runs where a stray relative write lands in the scratch folder, not in the repo.
        with lab.code("calling data_preprocessing directly"), contextlib.chdir(scratch):
            component.python_func(input_data=Dataset(uri=str(csv)), train_data=train, test_data=test,
                                  test_size=TEST_SIZE, random_state=seed)
        for name, art in (("train_data", train), ("test_data", test)):
            expect(art.uri == given[name], kfp_local.reassigned(name, art.uri, to_csv(name)))
        expect(all(Path(a.path).is_file() for a in (train, test)),
               "data_preprocessing wrote no files to train_data.path and test_data.path.")
        return pd.read_csv(test.path)

    first, again, other = split(SEED, "a"), split(SEED, "b"), split(SEED + 1, "c")
    expect(first.equals(again), "Two runs with the same random_state gave different splits. Pass random_state to train_test_split.")
    expect(not first.equals(other), "Different random_state values gave the same split, so the seed is ignored. Pass random_state through.")


def test_the_demo_pipeline_passes_its_test_size_to_the_component(lab, lab_tmp):
    """Does split_demo hand its own test_size parameter on to data_preprocessing?"""
    demo = lab.attr(components(lab), "split_demo", "pipeline")
    tasks = [t for t in PipelineIR.of(demo, lab_tmp).tasks().values()
             if t["componentRef"]["name"] == "comp-data-preprocessing"]
    expect(tasks, "split_demo runs no data_preprocessing task. Call data_preprocessing(input_data=raw.output, ...) "
                  "inside the pipeline.")
    source = tasks[0].get("inputs", {}).get("parameters", {}).get("test_size", {}).get("componentInputParameter")
    expect(source == "test_size", "split_demo takes a test_size parameter but does not pass it on, so the split always "
                                  "uses the default. Call data_preprocessing(input_data=raw.output, test_size=test_size).")


def datasets_columns() -> list[str]:
    from sklearn.datasets import load_breast_cancer

    return list(load_breast_cancer(as_frame=True).frame.columns)
