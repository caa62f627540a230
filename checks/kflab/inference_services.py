"""What KServe v0.20's admission webhooks refuse in an InferenceService's canaries, offline.

The CRD schema (checked by kflab.manifests) knows the fields; these rules are the ones
KServe's validating webhook adds on top (`validateCanarySpecs` in
pkg/apis/serving/v1beta1/inference_service_validation.go at the pinned version). Its
mutating webhook runs first and fills in the deployment-mode annotation from the
cluster's default, so a file that leaves it out passes on one cluster and fails on
another: the rule here asks for the annotation itself. Each problem is a sentence
that names the field and what to do.
"""

from __future__ import annotations

import functools

from kflab.manifests import as_dict

MODE_ANNOTATION, STANDARD = "serving.kserve.io/deploymentMode", "Standard"


def predictor(isvc: dict) -> dict:
    return as_dict(as_dict(isvc.get("spec")).get("predictor"))


def canaries(isvc: dict) -> list[dict]:
    found = as_dict(isvc.get("spec")).get("canary")
    return [as_dict(c) for c in found] if isinstance(found, list) else []


def model(pred: dict) -> dict:
    return as_dict(pred.get("model"))


def shortcuts(pred: dict) -> list[str]:
    """The framework shortcuts (`sklearn:`, `pytorch:` ...) a predictor uses instead of, or beside, `model:`."""
    return [key for key in _shortcut_fields() if key in pred]


@functools.cache
def _shortcut_fields() -> tuple[str, ...]:
    """PredictorSpec's fields other than `model` that hold a storageUri, read from the pinned InferenceService CRD."""
    from kflab.manifests import crd_schema

    spec = crd_schema("serving.kserve.io", "InferenceService", "v1beta1") or {}
    predictor = spec.get("properties", {}).get("spec", {}).get("properties", {}).get("predictor", {})
    return tuple(key for key, field in predictor.get("properties", {}).items()
                 if key != "model" and "storageUri" in (field.get("properties") or {}))


def mode(isvc: dict) -> str | None:
    return as_dict(as_dict(isvc.get("metadata")).get("annotations")).get(MODE_ANNOTATION)


def canary_problems(isvc: dict) -> list[str]:
    """The webhook's canary rules, in its order; [] when it would admit them."""
    entries = canaries(isvc)
    if not entries:
        return []
    if mode(isvc) == "RawDeployment":
        return [f"`{MODE_ANNOTATION}: RawDeployment` is the old name of Standard mode. KServe's defaulter rewrites "
                f"it, but write `{STANDARD}`, the name its validator and its docs use."]
    if mode(isvc) != STANDARD:
        now = f"it is {mode(isvc)!r}" if mode(isvc) else "it is not set under metadata.annotations"
        return [f"spec.canary needs Standard mode: set the annotation `{MODE_ANNOTATION}: {STANDARD}` under "
                f"metadata.annotations ({now}). Without it, KServe uses the cluster's default mode, and refuses the canary where "
                "that default is Knative."]
    stable = predictor(isvc)
    # The webhook asks for predictor.model, or a framework shortcut (predictor.sklearn ...) with a storageUri.
    if "model" not in stable and not any(isinstance(v, dict) and v.get("storageUri") for v in stable.values()):
        return ["spec.canary needs a stable predictor that serves a model (predictor.model with a storageUri)."]
    names, total, problems = set(), 0, []
    for i, entry in enumerate(entries):
        pred, name = as_dict(entry.get("predictor")), as_dict(entry.get("predictor")).get("name")
        if not name:
            problems.append(f"spec.canary[{i}].predictor has no name. Each canary needs one: its Deployment is "
                            "called {isvc}-{name}-predictor.")
            continue
        if name in names:
            problems.append(f"Two canaries are named {name!r}; give each its own predictor.name.")
        if name == stable.get("name"):
            problems.append(f"The canary's predictor.name {name!r} is the stable predictor's name too; name each "
                            "version differently (v1 stable, v2 canary).")
        names.add(name)
        total += entry.get("trafficPercent") if isinstance(entry.get("trafficPercent"), int) else 0
        fixed = ["maxReplicas"] if pred.get("maxReplicas") else []  # 0 counts as unset, as in the webhook
        fixed += [f for f in ("scaleTarget", "scaleMetric", "autoScaling") if pred.get(f) is not None]
        if fixed:
            problems.append(f"Canary {name!r} sets {', '.join(fixed)}: a canary has fixed replicas (minReplicas only).")
        if pred.get("workerSpec") is not None:
            problems.append(f"Canary {name!r} sets workerSpec; multi-node predictors cannot be canaries.")
        floor = stable.get("minReplicas", 1)
        if isinstance(pred.get("minReplicas"), int) and isinstance(floor, int) and pred["minReplicas"] > floor:
            problems.append(f"Canary {name!r} asks for minReplicas {pred['minReplicas']}, more than the stable "
                            f"predictor's {floor}; a canary may not outnumber what it is tested against.")
    if total > 100:
        problems.append(f"The canaries' trafficPercent values add up to {total}, over 100.")
    return problems
