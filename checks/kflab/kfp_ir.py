"""The compiled pipeline (IR) as the checks read it.

Compilation uses the real KFP compiler. `PipelineIR` walks the PipelineSpec,
including the sub-DAGs that dsl.ParallelFor and dsl.If/Else compile into, and
the kfp-kubernetes platform spec when there is one.
"""

from __future__ import annotations

from pathlib import Path

from kflab.failures import CheckFailure


def compile_package(func, path: Path) -> Path:
    """Compile a pipeline or component with kfp's compiler, as `kfp dsl compile` would."""
    from kfp import compiler

    try:
        compiler.Compiler().compile(func, str(path))
    except Exception as exc:  # the compiler reports learner mistakes as assorted errors
        raise CheckFailure(
            f"The KFP compiler rejected `{getattr(func, 'name', func)}`: {type(exc).__name__}: {exc}. "
            "Fix what it names; `kfp dsl compile --py FILE --output out.yaml` shows the same error."
        ) from None
    return path


class PipelineIR:
    def __init__(self, docs: list[dict]):
        self.spec = docs[0]
        self.platform = docs[1] if len(docs) > 1 else {}

    @classmethod
    def load(cls, path: Path) -> "PipelineIR":
        import yaml

        return cls([d for d in yaml.safe_load_all(Path(path).read_text()) if d])

    @classmethod
    def of(cls, func, tmp: Path) -> "PipelineIR":
        name = getattr(func, "name", "pipeline").replace(" ", "-")
        return cls.load(compile_package(func, Path(tmp) / f"{name}.yaml"))

    # -- the pipeline's interface -------------------------------------------
    @property
    def name(self) -> str:
        return self.spec.get("pipelineInfo", {}).get("name", "")

    def root_inputs(self) -> dict:
        return self.spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})

    def component(self, name: str) -> dict:
        return self.spec.get("components", {}).get(name, {})

    # -- tasks across nested DAGs -------------------------------------------
    def dags(self):
        """(component name, dag) for the root and every nested DAG."""
        yield "root", self.spec.get("root", {}).get("dag", {})
        for name, comp in self.spec.get("components", {}).items():
            if "dag" in comp:
                yield name, comp["dag"]

    def tasks(self) -> dict[str, dict]:
        """Every task of every DAG, by task name."""
        return {t: spec for _, dag in self.dags() for t, spec in dag.get("tasks", {}).items()}

    def ancestors(self, task: str) -> list[str]:
        """The sub-DAG tasks (loops, conditions) that enclose `task`, innermost first."""
        parent_comp = {t: comp for comp, dag in self.dags() for t in dag.get("tasks", {})}
        task_of_comp = {spec["componentRef"]["name"]: name for name, spec in self.tasks().items()}
        chain, comp = [], parent_comp.get(task)
        while comp and comp != "root":
            holder = task_of_comp.get(comp)
            if holder is None:
                break
            chain.append(holder)
            comp = parent_comp.get(holder)
        return chain

    def conditions(self, task: str) -> list[str]:
        """The conditions of the dsl.If / dsl.Elif / dsl.Else blocks that enclose `task`, innermost first."""
        tasks = self.tasks()
        found = [tasks[a].get("triggerPolicy", {}).get("condition") for a in self.ancestors(task)]
        return [c for c in found if c]

    def leaf_tasks(self) -> dict[str, dict]:
        """Tasks that run a container (not a sub-DAG)."""
        return {n: t for n, t in self.tasks().items() if "dag" not in self.component(t["componentRef"]["name"])}

    def edges(self) -> set[tuple[str, str]]:
        """(upstream, downstream) pairs from dependentTasks and data inputs."""
        out = set()
        for name, task in self.tasks().items():
            for dep in task.get("dependentTasks", []):
                out.add((dep, name))
            for kind in ("parameters", "artifacts"):
                for spec in task.get("inputs", {}).get(kind, {}).values():
                    producer = (spec.get("taskOutputArtifact") or spec.get("taskOutputParameter") or {}).get("producerTask")
                    if producer:
                        out.add((producer, name))
        return out

    def input_source(self, task: str, name: str) -> tuple[str, str] | None:
        """(producer task, its output key) of the artifact or parameter input `name` of `task`, or None."""
        inputs = self.tasks().get(task, {}).get("inputs", {})
        art = inputs.get("artifacts", {}).get(name, {}).get("taskOutputArtifact")
        if art:
            return art.get("producerTask", ""), art.get("outputArtifactKey", "")
        param = inputs.get("parameters", {}).get(name, {}).get("taskOutputParameter")
        if param:
            return param.get("producerTask", ""), param.get("outputParameterKey", "")
        return None

    def listed_task_outputs(self, task: str) -> list[str]:
        """Inputs of `task` given as a Python list (or dict) that holds other tasks' outputs.

        The compiler turns such a list into a constant with placeholders in it, which the
        task cannot read back at run time; dsl.Collected is the way to pass a loop's outputs.
        """
        found = []
        for name, spec in self.tasks().get(task, {}).get("inputs", {}).get("parameters", {}).items():
            constant = spec.get("runtimeValue", {}).get("constant")
            if isinstance(constant, (list, dict)) and "pipelinechannel--" in str(constant):
                found.append(name)
        return found

    def executor(self, task: str) -> dict:
        comp = self.component(self.tasks()[task]["componentRef"]["name"])
        return self.spec["deploymentSpec"]["executors"][comp["executorLabel"]]["container"]

    def kubernetes_config(self, task: str) -> dict:
        """The kfp-kubernetes settings of one task (secrets as env, ...)."""
        executors = self.platform.get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {}).get("executors", {})
        comp = self.component(self.tasks()[task]["componentRef"]["name"])
        return executors.get(comp.get("executorLabel", ""), {})
