"""Katib's Experiment semantics, offline: the models, then the webhook's rules.

`problems(obj)` checks the Experiment against kubeflow-katib-api's pydantic
models (`katib_models`), then applies the rules of Katib's validating webhook
(limits, objective, algorithm, parameters, trial template). How a trial then
runs, its manifest and its metrics, is in `katib_trial`.

Every problem is a sentence that names the field's path.
"""

from __future__ import annotations

import json
import re

from kflab.katib_models import model_problems
from kflab.manifests import as_dict, as_list
from kflab.katib_trial import META, META_KEYS, META_MAPS, meta_key

# Katib v0.19's suggestion algorithms (katib-config). Names are case-sensitive.
ALGORITHMS = ("random", "tpe", "grid", "hyperband", "bayesianoptimization", "cmaes", "sobol",
              "multivariate-tpe", "enas", "darts", "pbt")
PARAMETER_TYPES = ("int", "double", "categorical", "discrete")
DISTRIBUTIONS = ("uniform", "logUniform", "normal", "logNormal")
COLLECTORS = ("StdOut", "File", "TensorFlowEvent", "PrometheusMetric", "Custom", "Push")  # v0.19: no "None"
REFERENCE = re.compile(r"\$\{trialParameters\.([^}]*)\}")
NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
MAX_NAME = 40  # the webhook's limit: trial names add a suffix to it


def references(trial_spec) -> list[str]:
    """Every `${trialParameters.NAME}` in a trial template, in order of appearance."""
    return REFERENCE.findall(json.dumps(trial_spec, default=str))


def semantic_problems(obj: dict) -> list[str]:
    """The rules of Katib's validating webhook that apply before anything runs."""
    spec, found = as_dict(as_dict(obj).get("spec")), []
    name = as_dict(as_dict(obj).get("metadata")).get("name", "")
    if not isinstance(name, str) or not NAME.match(name):
        found.append(f"metadata.name: {name!r} must be lower-case letters, digits and '-', starting with a letter")
    elif len(name) > MAX_NAME:
        found.append(f"metadata.name: {name!r} has {len(name)} characters; Katib allows at most {MAX_NAME}")
    limits = {k: spec.get(k) for k in ("maxTrialCount", "parallelTrialCount", "maxFailedTrialCount")}
    for key, low in (("maxTrialCount", 1), ("parallelTrialCount", 1), ("maxFailedTrialCount", 0)):
        if isinstance(limits[key], int) and limits[key] < low:
            found.append(f"spec.{key}: must be at least {low}, got {limits[key]}")
    for key in ("parallelTrialCount", "maxFailedTrialCount"):
        if isinstance(limits[key], int) and isinstance(limits["maxTrialCount"], int) and limits[key] > limits["maxTrialCount"]:
            found.append(f"spec.{key}: {limits[key]} is more than spec.maxTrialCount ({limits['maxTrialCount']})")
    found += _objective(spec.get("objective"))
    found += _algorithm(spec.get("algorithm"))
    found += _parameters(spec.get("parameters"))
    names = [as_dict(p).get("name") for p in as_list(spec.get("parameters"))]
    found += _template(spec.get("trialTemplate"), {n for n in names if isinstance(n, str)})
    kind = as_dict(as_dict(spec.get("metricsCollectorSpec")).get("collector")).get("kind", "StdOut")
    if kind not in COLLECTORS:
        found.append(f"spec.metricsCollectorSpec.collector.kind: {kind!r} is not one of {', '.join(COLLECTORS)}")
    return found


def _objective(obj) -> list[str]:
    obj = as_dict(obj)  # another shape is the models' problem (model_problems names it)
    if not obj:
        return ["spec.objective: must be set (type, objectiveMetricName, and optionally a goal)"]
    found = []
    if obj.get("type") not in ("maximize", "minimize"):
        found.append(f"spec.objective.type: must be 'maximize' or 'minimize', got {obj.get('type')!r}")
    if not obj.get("objectiveMetricName"):
        found.append("spec.objective.objectiveMetricName: must be set")
    if obj.get("objectiveMetricName") in as_list(obj.get("additionalMetricNames")):
        found.append("spec.objective.additionalMetricNames: must not repeat the objectiveMetricName")
    for s in map(as_dict, as_list(obj.get("metricStrategies"))):
        if s.get("value") not in ("min", "max", "latest"):
            found.append(f"spec.objective.metricStrategies: {s.get('value')!r} is not min, max or latest")
    return found


def _algorithm(algo) -> list[str]:
    name = as_dict(algo).get("algorithmName")
    if not name or not isinstance(name, str):
        return ["spec.algorithm.algorithmName: must be set"]
    if name in ALGORITHMS:
        return []
    lower = [a for a in ALGORITHMS if a == name.lower()]
    why = f"names are case-sensitive, write {lower[0]!r}" if lower else "Katib knows " + ", ".join(ALGORITHMS)
    return [f"spec.algorithm.algorithmName: {name!r} is not a Katib algorithm ({why})"]


def _parameters(params) -> list[str]:
    if not as_list(params):
        return ["spec.parameters: must list at least one parameter to search"]
    found, seen = [], set()
    for i, p in enumerate(params):
        if not isinstance(p, dict):
            continue
        where, fs = f"spec.parameters[{i}]", as_dict(p.get("feasibleSpace"))
        name = p.get("name")
        if not isinstance(name, str) or not name:
            found.append(f"{where}.name: must be set, as text")
        elif name in seen:
            found.append(f"{where}.name: {name!r} appears twice")
        seen.add(str(name))
        kind = p.get("parameterType")
        if kind not in PARAMETER_TYPES:
            found.append(f"{where}.parameterType: {kind!r} is not one of {', '.join(PARAMETER_TYPES)}")
        if fs.get("distribution") not in (None, "", *DISTRIBUTIONS):
            found.append(f"{where}.feasibleSpace.distribution: {fs['distribution']!r} is not one of {', '.join(DISTRIBUTIONS)}")
        if kind in ("int", "double"):
            if fs.get("list"):
                found.append(f"{where}.feasibleSpace.list: not allowed for parameterType {kind} (use min and max)")
            if not fs.get("min") or not fs.get("max"):
                found.append(f"{where}.feasibleSpace: parameterType {kind} needs min and max")
            else:
                try:
                    if float(fs["min"]) >= float(fs["max"]):
                        found.append(f"{where}.feasibleSpace: min ({fs['min']}) must be below max ({fs['max']})")
                except (TypeError, ValueError):
                    found.append(f"{where}.feasibleSpace: min and max must be numbers written as strings")
        elif kind in ("categorical", "discrete"):
            if fs.get("min") or fs.get("max") or fs.get("step"):
                found.append(f"{where}.feasibleSpace: parameterType {kind} takes a list, not min, max or step")
            if not fs.get("list"):
                found.append(f"{where}.feasibleSpace.list: parameterType {kind} needs a list of values")
    return found


def _template(tt, parameter_names: set) -> list[str]:
    tt = as_dict(tt)
    if not tt:
        return ["spec.trialTemplate: must be set"]
    found, where = [], "spec.trialTemplate"
    if not tt.get("primaryContainerName"):
        found.append(f"{where}.primaryContainerName: must name the container that trains")
    trial_spec, declared = as_dict(tt.get("trialSpec")), as_list(tt.get("trialParameters"))
    if not trial_spec:
        return found + [f"{where}.trialSpec: must hold the manifest each trial runs (for example a batch/v1 Job)"]
    if not declared:
        return found + [f"{where}.trialParameters: must list the parameters that the template substitutes"]
    used = set(references(trial_spec))
    names, refs = set(), set()
    for i, tp in enumerate(declared):
        if not isinstance(tp, dict):
            found.append(f"{where}.trialParameters[{i}]: {tp!r:.40} should be a mapping with a name and a reference")
            continue
        name, ref = tp.get("name"), tp.get("reference")
        if not isinstance(name, str) or not isinstance(ref, str) or not name or not ref or "{" in name or "}" in name:
            found.append(f"{where}.trialParameters[{i}]: needs a name and a reference (and no braces in the name)")
            names.add(name if isinstance(name, str) else None)  # declared, if badly: not also "undeclared" below
            continue
        if name in names:
            found.append(f"{where}.trialParameters[{i}].name: {name!r} appears twice")
        if ref in refs:
            found.append(f"{where}.trialParameters[{i}].reference: {ref!r} appears twice; give each parameter one trialParameter")
        names.add(name)
        refs.add(ref)
        if META.match(ref):
            problem = _meta_problem(ref, trial_spec)
            if problem:
                found.append(f"{where}.trialParameters[{i}].reference: {problem}")
        elif ref not in parameter_names:
            found.append(f"{where}.trialParameters[{i}].reference: {ref!r} is not a parameter in spec.parameters "
                         f"({', '.join(sorted(filter(None, parameter_names))) or 'none'})")
        if name not in used:
            found.append(f"{where}.trialParameters[{i}]: ${{trialParameters.{name}}} appears nowhere in the trialSpec; "
                         "use it in the container's command or args")
    for missing in sorted(used - names):
        found.append(f"{where}.trialSpec: uses ${{trialParameters.{missing}}}, but trialParameters declares no {missing!r}")
    meta = as_dict(trial_spec.get("metadata"))
    if meta.get("name") or meta.get("namespace"):
        found.append(f"{where}.trialSpec.metadata: leave out name and namespace; Katib sets them for every trial")
    if not trial_spec.get("apiVersion") or not trial_spec.get("kind"):
        found.append(f"{where}.trialSpec: needs apiVersion and kind")
    return found


def _meta_problem(ref: str, trial_spec: dict) -> str | None:
    """Why a `${trialSpec.X}` reference cannot be filled in, or None."""
    key, index = meta_key(ref)
    if key in META_KEYS and index is None:
        return None
    if key in META_MAPS and index is not None:
        values = as_dict(as_dict(trial_spec.get("metadata")).get(META_MAPS[key]))
        return None if index in values else f"{ref}: the trialSpec's metadata.{META_MAPS[key]} has no {index!r}"
    return (f"{ref} is not trial metadata Katib can fill in; use ${{trialSpec.X}} with X one of "
            f"{', '.join(META_KEYS)}, Labels[key] or Annotations[key]")


def problems(obj: dict) -> list[str]:
    """Everything wrong with an Experiment, models first; empty when Katib would accept it."""
    if not isinstance(obj, dict) or obj.get("kind") != "Experiment" or obj.get("apiVersion") != "kubeflow.org/v1beta1":
        return ["the file must hold an `apiVersion: kubeflow.org/v1beta1`, `kind: Experiment` object"]
    return model_problems(obj) or semantic_problems(obj)


