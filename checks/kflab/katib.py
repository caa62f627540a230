"""Katib's Experiment semantics, offline: the models, the webhook's rules, metrics and substitution.

- `problems(obj)`: the Experiment against kubeflow-katib-api's pydantic models
  (types, and unknown fields, which the models alone would ignore), then the
  rules Katib's validating webhook applies (limits, parameters, trial template).
- `parse_metrics(text, names)`: what the StdOut collector reads from a trial's
  output, with Katib's default filter; `objective(values, strategy)` reduces them.
- `substitute(...)`: a trial's manifest, with `${trialParameters.x}` replaced
  (by a parameter's value, or by the trial's metadata for `${trialSpec.Name}` and the like).

Every problem is a sentence that names the field's path.
"""

from __future__ import annotations

import difflib
import json
import re
import typing

# Katib v0.19's suggestion algorithms (katib-config). Names are case-sensitive.
ALGORITHMS = ("random", "tpe", "grid", "hyperband", "bayesianoptimization", "cmaes", "sobol",
              "multivariate-tpe", "enas", "darts", "pbt")
PARAMETER_TYPES = ("int", "double", "categorical", "discrete")
DISTRIBUTIONS = ("uniform", "logUniform", "normal", "logNormal")
COLLECTORS = ("StdOut", "File", "TensorFlowEvent", "PrometheusMetric", "Custom", "Push")  # v0.19: no "None"
# Katib's default StdOut filter (pkg/metricscollector/v1beta1/common): `name=value` pairs.
DEFAULT_METRICS_FORMAT = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"
REFERENCE = re.compile(r"\$\{trialParameters\.([^}]*)\}")
NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
MAX_NAME = 40  # the webhook's limit: trial names add a suffix to it
# A trialParameter may refer to the trial's own metadata instead of a parameter.
META = re.compile(r"^\$\{trialSpec\.(.+?)\}$")
META_KEYS = ("Name", "Namespace", "Kind", "APIVersion")
META_MAPS = {"Labels": "labels", "Annotations": "annotations"}  # Labels[key], Annotations[key]


# pydantic's error types, as what the field should be; and the branch names it adds for a Union field.
KINDS = {"float_type": "a number", "float_parsing": "a number", "int_type": "a whole number",
         "int_parsing": "a whole number", "string_type": "text", "bool_type": "true or false",
         "bool_parsing": "true or false", "list_type": "a list (lines starting with -)",
         "model_type": "a mapping (key: value lines)", "dict_type": "a mapping (key: value lines)"}
UNION_TAGS = {"float", "int", "str", "bool"}


def _path(loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _unknown_fields(model, data, loc=()) -> list[str]:
    """Fields the models do not define (pydantic ignores them; Katib's controller drops them)."""
    from pydantic import BaseModel

    if not isinstance(data, dict):
        return []
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    found = []
    for key, value in data.items():
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            advice = f"did you mean {close[0]!r}?" if close else "allowed here: " + ", ".join(sorted(fields))
            found.append(f"{_path((*loc, key))}: unknown field {key!r} ({advice})")
            continue
        inner, many = _model_in(fields[key].annotation, BaseModel)
        if inner is None:
            continue
        items = enumerate(value) if many and isinstance(value, list) else [(None, value)]
        for i, item in items:
            found += _unknown_fields(inner, item, (*loc, key) if i is None else (*loc, key, i))
    return found


def _model_in(annotation, base) -> tuple[type | None, bool]:
    """The pydantic model inside Optional[...] / List[...], and whether it is a list."""
    many = False
    while typing.get_origin(annotation) in (typing.Union, list, typing.List):
        if typing.get_origin(annotation) in (list, typing.List):
            many = True
        annotation = next((a for a in typing.get_args(annotation) if a is not type(None)), None)
    return (annotation, many) if isinstance(annotation, type) and issubclass(annotation, base) else (None, many)


def model_problems(obj: dict) -> list[str]:
    """Problems against kubeflow-katib-api's V1beta1Experiment model (types and field names)."""
    import pydantic
    from kubeflow_katib_api.models import V1beta1Experiment

    found = _unknown_fields(V1beta1Experiment, obj)
    try:
        V1beta1Experiment.model_validate(obj)
    except pydantic.ValidationError as exc:
        wanted: dict[str, tuple[list[str], object, str]] = {}  # path -> what it should be, what it is, a hint
        for err in exc.errors():
            loc = tuple(err["loc"])
            while loc and loc[-1] in UNION_TAGS:  # pydantic names each branch of Union[float, int]; say it once
                loc = loc[:-1]
            hint = " (quote it: Katib keeps feasibleSpace values as strings)" if "feasibleSpace" in loc else ""
            kinds = wanted.setdefault(_path(loc), ([], err.get("input"), hint))[0]
            kinds.append(KINDS.get(err["type"], err["msg"][0].lower() + err["msg"][1:]))
        for path, (kinds, got, hint) in wanted.items():
            kinds = [k for k in dict.fromkeys(kinds) if not (k == "a whole number" and "a number" in kinds)]
            found.append(f"{path} should be {' or '.join(kinds)}, not {got!r:.60}{hint}")
    return found


def references(trial_spec) -> list[str]:
    """Every `${trialParameters.NAME}` in a trial template, in order of appearance."""
    return REFERENCE.findall(json.dumps(trial_spec))


def semantic_problems(obj: dict) -> list[str]:
    """The rules of Katib's validating webhook that apply before anything runs."""
    spec, found = obj.get("spec") or {}, []
    name = (obj.get("metadata") or {}).get("name", "")
    if not NAME.match(name or ""):
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
    found += _template(spec.get("trialTemplate"), {p.get("name") for p in spec.get("parameters") or [] if isinstance(p, dict)})
    kind = ((spec.get("metricsCollectorSpec") or {}).get("collector") or {}).get("kind", "StdOut")
    if kind not in COLLECTORS:
        found.append(f"spec.metricsCollectorSpec.collector.kind: {kind!r} is not one of {', '.join(COLLECTORS)}")
    return found


def _objective(obj) -> list[str]:
    if not obj:
        return ["spec.objective: must be set (type, objectiveMetricName, and optionally a goal)"]
    found = []
    if obj.get("type") not in ("maximize", "minimize"):
        found.append(f"spec.objective.type: must be 'maximize' or 'minimize', got {obj.get('type')!r}")
    if not obj.get("objectiveMetricName"):
        found.append("spec.objective.objectiveMetricName: must be set")
    if obj.get("objectiveMetricName") in (obj.get("additionalMetricNames") or []):
        found.append("spec.objective.additionalMetricNames: must not repeat the objectiveMetricName")
    for s in obj.get("metricStrategies") or []:
        if s.get("value") not in ("min", "max", "latest"):
            found.append(f"spec.objective.metricStrategies: {s.get('value')!r} is not min, max or latest")
    return found


def _algorithm(algo) -> list[str]:
    name = (algo or {}).get("algorithmName")
    if not name:
        return ["spec.algorithm.algorithmName: must be set"]
    if name in ALGORITHMS:
        return []
    lower = [a for a in ALGORITHMS if a == name.lower()]
    why = f"names are case-sensitive, write {lower[0]!r}" if lower else "Katib knows " + ", ".join(ALGORITHMS)
    return [f"spec.algorithm.algorithmName: {name!r} is not a Katib algorithm ({why})"]


def _parameters(params) -> list[str]:
    if not params:
        return ["spec.parameters: must list at least one parameter to search"]
    found, seen = [], set()
    for i, p in enumerate(params):
        if not isinstance(p, dict):
            continue
        where, fs = f"spec.parameters[{i}]", p.get("feasibleSpace") or {}
        if p.get("name") in seen:
            found.append(f"{where}.name: {p.get('name')!r} appears twice")
        seen.add(p.get("name"))
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
    if not tt:
        return ["spec.trialTemplate: must be set"]
    found, where = [], "spec.trialTemplate"
    if not tt.get("primaryContainerName"):
        found.append(f"{where}.primaryContainerName: must name the container that trains")
    trial_spec, declared = tt.get("trialSpec"), tt.get("trialParameters") or []
    if not trial_spec:
        return found + [f"{where}.trialSpec: must hold the manifest each trial runs (for example a batch/v1 Job)"]
    if not declared:
        return found + [f"{where}.trialParameters: must list the parameters that the template substitutes"]
    used = set(references(trial_spec))
    names, refs = set(), set()
    for i, tp in enumerate(declared):
        name, ref = tp.get("name"), tp.get("reference")
        if not name or not ref or "{" in name or "}" in name:
            found.append(f"{where}.trialParameters[{i}]: needs a name and a reference (and no braces in the name)")
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
    meta = trial_spec.get("metadata") or {}
    if meta.get("name") or meta.get("namespace"):
        found.append(f"{where}.trialSpec.metadata: leave out name and namespace; Katib sets them for every trial")
    if not trial_spec.get("apiVersion") or not trial_spec.get("kind"):
        found.append(f"{where}.trialSpec: needs apiVersion and kind")
    return found


def _meta_problem(ref: str, trial_spec: dict) -> str | None:
    """Why a `${trialSpec.X}` reference cannot be filled in, or None."""
    key, index = _meta_key(ref)
    if key in META_KEYS and index is None:
        return None
    if key in META_MAPS and index is not None:
        values = (trial_spec.get("metadata") or {}).get(META_MAPS[key]) or {}
        return None if index in values else f"{ref}: the trialSpec's metadata.{META_MAPS[key]} has no {index!r}"
    return (f"{ref} is not trial metadata Katib can fill in; use ${{trialSpec.X}} with X one of "
            f"{', '.join(META_KEYS)}, Labels[key] or Annotations[key]")


def _meta_key(ref: str) -> tuple[str, str | None]:
    inner = META.match(ref).group(1)
    indexed = re.fullmatch(r"(.+)\[(.+)]", inner)
    return (indexed.group(1), indexed.group(2)) if indexed else (inner, None)


def problems(obj: dict) -> list[str]:
    """Everything wrong with an Experiment, models first; empty when Katib would accept it."""
    if not isinstance(obj, dict) or obj.get("kind") != "Experiment" or obj.get("apiVersion") != "kubeflow.org/v1beta1":
        return ["the file must hold an `apiVersion: kubeflow.org/v1beta1`, `kind: Experiment` object"]
    return model_problems(obj) or semantic_problems(obj)


def parse_metrics(text: str, names: list[str], formats: list[str] | None = None) -> dict[str, list[float]]:
    """Each metric's values, in order, read as Katib's StdOut collector reads the log."""
    regexes = [re.compile(f) for f in (formats or [DEFAULT_METRICS_FORMAT])]
    values = {n: [] for n in names}
    for line in text.splitlines():
        if not any(n in line for n in names):  # Katib skips lines that name no metric
            continue
        for rx in regexes:
            for match in rx.finditer(line):
                key, raw = match.group(1).strip(), match.group(2).strip()
                if key in values:
                    try:
                        values[key].append(float(raw))
                    except ValueError:
                        pass
    return values


def strategy(objective: dict, metric: str) -> str:
    """How Katib reduces a metric's values: metricStrategies, else max/min by objective type.

    Katib's defaulting (experiment_defaults.go) gives the additional metrics the
    objective's direction too, whatever its comment says; `latest` only without a type.
    """
    for s in objective.get("metricStrategies") or []:
        if s.get("name") == metric:
            return s.get("value", "latest")
    return {"maximize": "max", "minimize": "min"}.get(objective.get("type"), "latest")


def reduce(values: list[float], how: str) -> float | None:
    if not values:
        return None
    return {"max": max, "min": min}.get(how, lambda v: v[-1])(values)


def substitute(trial_spec: dict, trial_parameters: list[dict], assignment: dict[str, str],
               trial_name: str = "", namespace: str = "default") -> dict:
    """The trial's manifest: Katib replaces `${trialParameters.NAME}` in the template's JSON text.

    A trialParameter whose reference is `${trialSpec.X}` gets the trial's metadata,
    as Katib's manifest generator gives it.
    """
    text = json.dumps(trial_spec)
    for tp in trial_parameters:
        ref = tp["reference"]
        value = _meta_value(ref, trial_spec, trial_name, namespace) if META.match(ref) else assignment[ref]
        text = text.replace("${trialParameters.%s}" % tp["name"], str(value))
    return json.loads(text)


def _meta_value(ref: str, trial_spec: dict, trial_name: str, namespace: str) -> str:
    key, index = _meta_key(ref)
    if key in META_MAPS:
        return (trial_spec.get("metadata") or {}).get(META_MAPS[key], {})[index]
    return {"Name": trial_name, "Namespace": namespace, "Kind": trial_spec.get("kind", ""),
            "APIVersion": trial_spec.get("apiVersion", "")}[key]
