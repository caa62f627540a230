"""An Experiment against kubeflow-katib-api's pydantic models, in words.

The models check types; they ignore fields they do not define, which Katib's
controller would drop, so `model_problems` also names unknown fields (with the
closest known name). Every problem is a sentence that names the field's path.
"""

from __future__ import annotations

import difflib
import typing

# pydantic's error types, as what the field should be; and the branch names it adds for a Union field.
KINDS = {"float_type": "a number", "float_parsing": "a number", "int_type": "a whole number",
         "int_parsing": "a whole number", "string_type": "text", "bool_type": "true or false",
         "bool_parsing": "true or false", "list_type": "a list (lines starting with -)",
         "model_type": "a mapping (key: value lines)", "dict_type": "a mapping (key: value lines)"}
UNION_TAGS = {"float", "int", "str", "bool"}
# What goes under a field that must be a mapping, for the learner who wrote it as one value.
MAPPING_HINTS = {
    "algorithm": "write `algorithmName: tpe` on its own line under `algorithm:`",
    "objective": "write `type: maximize`, `goal: 0.95` and `objectiveMetricName: accuracy` on their own lines under `objective:`",
    "feasibleSpace": "write the bounds on their own lines under `feasibleSpace:`, as `min: \"0.5\"` and `max: \"0.95\"`",
    "trialParameters": "write each entry as `- name: {name}` with `reference: {name}` (the search parameter) on the line below",
    "parameters": "write each entry with `name:`, `parameterType:` and `feasibleSpace:` lines",
    "collector": "write `kind: StdOut` on its own line under `collector:`",
    "algorithmSettings": "write each entry as `- name: random_state` with `value: \"42\"` on the line below",
}


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
            hint = _hint(loc, err)
            kinds = wanted.setdefault(_path(loc), ([], err.get("input"), hint))[0]
            kinds.append(KINDS.get(err["type"], err["msg"][0].lower() + err["msg"][1:]))
        for path, (kinds, got, hint) in wanted.items():
            kinds = [k for k in dict.fromkeys(kinds) if not (k == "a whole number" and "a number" in kinds)]
            found.append(f"{path} should be {' or '.join(kinds)}, not {got!r:.60}{hint}")
    return found


def _hint(loc: tuple, err: dict) -> str:
    """What to write instead: the field's usual lines, or quotes around a feasibleSpace number."""
    got, key = err.get("input"), next((part for part in reversed(loc) if isinstance(part, str)), "")
    if err["type"] in ("model_type", "dict_type") and key in MAPPING_HINTS:
        name = got if isinstance(got, str) and got.isidentifier() else "momentum"
        return ": " + MAPPING_HINTS[key].replace("{name}", name)
    if "feasibleSpace" in loc[:-1] and isinstance(got, (int, float)) and not isinstance(got, bool):
        return f": quote it, as \"{got}\" (Katib keeps feasibleSpace values as strings)"
    return ""
