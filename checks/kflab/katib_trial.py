"""How Katib runs a trial: its manifest from the template, and its metrics from the log.

- `substitute(...)`: the trial's manifest, with `${trialParameters.x}` replaced
  (by a parameter's value, or by the trial's metadata for `${trialSpec.Name}` and the like).
- `parse_metrics(text, names)`: what the StdOut collector reads from the trial's
  output, with Katib's default filter; `reduce(values, strategy(...))` gives one value.
"""

from __future__ import annotations

import json
import re

# Katib's default StdOut filter (pkg/metricscollector/v1beta1/common): `name=value` pairs.
DEFAULT_METRICS_FORMAT = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"
# A trialParameter may refer to the trial's own metadata instead of a parameter.
META = re.compile(r"^\$\{trialSpec\.(.+?)\}$")
META_KEYS = ("Name", "Namespace", "Kind", "APIVersion")
META_MAPS = {"Labels": "labels", "Annotations": "annotations"}  # Labels[key], Annotations[key]


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
    key, index = meta_key(ref)
    if key in META_MAPS:
        return (trial_spec.get("metadata") or {}).get(META_MAPS[key], {})[index]
    return {"Name": trial_name, "Namespace": namespace, "Kind": trial_spec.get("kind", ""),
            "APIVersion": trial_spec.get("apiVersion", "")}[key]


def meta_key(ref: str) -> tuple[str, str | None]:
    """The X of a `${trialSpec.X}` reference, split into a key and its `[index]`, if any."""
    inner = META.match(ref).group(1)
    indexed = re.fullmatch(r"(.+)\[(.+)]", inner)
    return (indexed.group(1), indexed.group(2)) if indexed else (inner, None)
