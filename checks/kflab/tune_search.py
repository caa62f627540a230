"""The search side of `kflab tune`: Katib algorithms as Optuna samplers, parameters as distributions.

On a cluster, Katib v0.19 serves `tpe` and `random` with hyperopt, `multivariate-tpe`
and `grid` with Optuna, and `cmaes` with goptuna. Locally each maps to the Optuna
sampler of the same method; the names stay Katib's, case-sensitive.
"""

from __future__ import annotations

import math

from kflab.manifests import as_dict


class TuneError(ValueError):
    """The Experiment cannot run locally; the message says why and what to change."""


SAMPLERS = {"tpe": "TPESampler", "multivariate-tpe": "TPESampler", "random": "RandomSampler",
            "grid": "GridSampler", "cmaes": "CmaEsSampler"}
# algorithmSettings each sampler accepts locally: Katib's name -> Optuna's keyword.
SETTINGS = {
    "tpe": {"random_state": "seed", "n_EI_candidates": "n_ei_candidates", "prior_weight": "prior_weight"},
    "multivariate-tpe": {"random_state": "seed", "n_startup_trials": "n_startup_trials", "n_ei_candidates": "n_ei_candidates"},
    "random": {"random_state": "seed"},
    "grid": {"random_state": "seed"},
    "cmaes": {"random_state": "seed", "sigma": "sigma0"},
}
CASTS = {"seed": int, "n_ei_candidates": int, "n_startup_trials": int, "prior_weight": float, "sigma0": float}


def space_problems(parameters: list[dict]) -> list[str]:
    """What no sampler could draw from, one sentence per parameter and field.

    Katib's webhook checks only that min and max are there; its suggestion services
    then read them with int() and float() (Optuna's, for int parameters) and take
    their logarithm for logUniform (hyperopt's, behind tpe and random). Optuna,
    which samples here, needs step > 0.
    """
    found = []
    for p in (p for p in parameters if isinstance(p, dict)):
        fs, kind, name = as_dict(p.get("feasibleSpace")), p.get("parameterType"), p.get("name")
        if kind not in ("int", "double"):
            continue
        for key in [k for k in ("min", "max", "step") if fs.get(k) not in (None, "")]:
            if kind == "int" and not _reads_as(int, fs[key]):
                fraction = " (if it takes fractions, as a learning rate does, make it `parameterType: double`)" \
                    if _reads_as(float, fs[key]) else ""
                found.append(f"parameter {name!r} is an int, so feasibleSpace.{key} must be a whole number written as "
                             f"digits (such as \"32\"), not {fs[key]!r}{fraction}")
            elif not _reads_as(float, fs[key]):
                found.append(f"parameter {name!r}: feasibleSpace.{key} must be a number written as a string, not {fs[key]!r}")
            elif key == "step" and float(fs[key]) <= 0:
                found.append(f"parameter {name!r}: feasibleSpace.step must be above 0, not {fs[key]!r}; it is the "
                             "distance between the values tried (leave it out to try any value between min and max)")
        if fs.get("distribution") == "logUniform" and _reads_as(float, fs.get("min")) and float(fs["min"]) <= 0:
            found.append(f"parameter {name!r} is logUniform, so feasibleSpace.min must be above 0 (there is no log of "
                         f"{fs['min']}); start at the smallest value worth trying, such as \"0.001\"")
    return found


def _reads_as(cast, value) -> bool:
    try:
        cast(value)
        return True
    except (TypeError, ValueError):
        return False


def distributions(parameters: list[dict]) -> dict:
    """Katib's search space as Optuna distributions, keyed by parameter name."""
    import optuna.distributions as d

    space = {}
    for p in parameters:
        fs, kind, name = p.get("feasibleSpace") or {}, p.get("parameterType"), p["name"]
        dist = fs.get("distribution") or "uniform"
        if dist not in ("uniform", "logUniform"):
            raise TuneError(f"parameter {name!r} uses distribution {dist!r}; kflab tune samples uniform and logUniform only.")
        log = dist == "logUniform"
        if kind == "int":
            space[name] = d.IntDistribution(int(fs["min"]), int(fs["max"]), log=log, step=1 if log else int(fs.get("step") or 1))
        elif kind == "double":
            step = float(fs["step"]) if fs.get("step") else None
            if log and step:
                raise TuneError(f"parameter {name!r} sets both a step and logUniform; Optuna (like Katib) allows one or the other.")
            space[name] = d.FloatDistribution(float(fs["min"]), float(fs["max"]), log=log, step=step)
        else:  # categorical and discrete: Katib passes their values as strings
            space[name] = d.CategoricalDistribution(list(fs["list"]))
    return space


def grid(parameters: list[dict]) -> dict[str, list]:
    """Every value of every parameter, for the grid algorithm (doubles need a step, as in Katib)."""
    values = {}
    for p in parameters:
        fs, kind, name = p.get("feasibleSpace") or {}, p.get("parameterType"), p["name"]
        if kind == "int":
            values[name] = list(range(int(fs["min"]), int(fs["max"]) + 1, int(fs.get("step") or 1)))
        elif kind == "double":
            if not fs.get("step"):
                raise TuneError(f"the grid algorithm needs feasibleSpace.step for the double parameter {name!r}.")
            lo, hi, step = float(fs["min"]), float(fs["max"]), float(fs["step"])
            values[name] = [round(lo + i * step, 12) for i in range(int(math.floor((hi - lo) / step + 1e-9)) + 1)]
        else:
            values[name] = list(fs["list"])
    return values


def sampler(algorithm: dict, parameters: list[dict], seed: int | None = None):
    """The Optuna sampler for a Katib `spec.algorithm`; a clear TuneError for anything else."""
    import optuna.samplers as s

    name = (algorithm or {}).get("algorithmName", "")
    if name not in SAMPLERS:
        hint = f" (names are case-sensitive: write {name.lower()!r})" if name.lower() in SAMPLERS else ""
        raise TuneError(f"kflab tune cannot run algorithmName {name!r}{hint}. It runs: {', '.join(SAMPLERS)}.")
    kwargs = {}
    for setting in algorithm.get("algorithmSettings") or []:
        key = SETTINGS[name].get(setting.get("name"))
        if key is None:
            raise TuneError(f"algorithm {name!r} has no setting {setting.get('name')!r} in kflab tune; "
                            f"it accepts {', '.join(SETTINGS[name])}.")
        try:
            kwargs[key] = CASTS[key](setting.get("value"))
        except (TypeError, ValueError):
            raise TuneError(f"algorithm setting {setting.get('name')!r} = {setting.get('value')!r} is not a number.") from None
    if seed is not None:
        kwargs["seed"] = seed
    if name == "multivariate-tpe":
        kwargs["multivariate"] = True
    if name == "grid":
        return s.GridSampler(grid(parameters), **kwargs)
    return getattr(s, SAMPLERS[name])(**kwargs)


def grid_size(algorithm: dict, parameters: list[dict]) -> int | None:
    """How many trials the grid holds (None for the other algorithms, whose space is unbounded)."""
    if (algorithm or {}).get("algorithmName") != "grid":
        return None
    return math.prod(len(v) for v in grid(parameters).values())


def as_string(value) -> str:
    """A sampled value as Katib writes it into a trial: a plain string."""
    if isinstance(value, float):
        return repr(round(value, 10))
    return str(value)
