"""A Katib trial template as a learner wrote it: which flag gets which parameter, and where train.py is.

Lab 3.3's checks read the primary container's command through these, so that a
failure can name the flag (`--lr receives ${trialParameters.batchSize}...`)
rather than a field path; `sample_trial` makes one trial's Job as Katib would.
"""

from __future__ import annotations

import copy
import posixpath
import re

from kflab import katib, katib_trial, tune_trials
from kflab.failures import CheckFailure
from kflab.manifests import as_dict, as_list
from kflab.tune_search import TuneError


def flag_references(spec) -> dict[str, tuple[str, str]]:
    """For each `--flag=${trialParameters.NAME}` of the trial command: (NAME, the reference NAME declares)."""
    template = as_dict(spec.get("trialTemplate"))
    refs = {tp.get("name"): tp.get("reference") for tp in as_list(template.get("trialParameters"))
            if isinstance(tp, dict) and isinstance(tp.get("name"), str) and isinstance(tp.get("reference"), str)}
    words = command_words(template)
    found = {}
    for i, word in enumerate(words):
        flag, _, value = word.partition("=")
        if not value and i + 1 < len(words):
            value = words[i + 1]
        names = katib.REFERENCE.findall(value)
        if flag.startswith("--") and names and names[0] in refs:
            found[flag] = (names[0], refs[names[0]])
    return found


def flag_parameters(spec) -> dict[str, dict]:
    """Which search parameter each train.py flag receives, read from the trial command and the references."""
    params = _parameters(spec)
    return {flag: params[ref] for flag, (_, ref) in flag_references(spec).items() if ref in params}


def _parameters(spec) -> dict[str, dict]:
    """spec.parameters by name, leaving out entries of another shape (the models' check names those)."""
    return {p["name"]: p for p in as_list(spec.get("parameters")) if isinstance(p, dict) and isinstance(p.get("name"), str)}


def _same_name(name) -> str:
    """`--batch-size`, `batch_size` and `batchSize` alike; `learning_rate` is `lr`."""
    key = re.sub(r"[^a-z0-9]", "", str(name).lower())
    return {"learningrate": "lr", "bs": "batchsize"}.get(key, key)


def swapped_references(spec) -> list[str]:
    """Flags that receive another parameter than the one named like them (lr's value passed as --momentum)."""
    params = {_same_name(name): name for name in _parameters(spec)}
    found = []
    for flag, (name, ref) in flag_references(spec).items():
        meant = params.get(_same_name(flag))
        if meant is not None and ref != meant:
            found.append(f"{flag} receives ${{trialParameters.{name}}}, whose reference is {ref!r}: each trial would pass "
                         f"its {ref} value as {flag}. Make trialParameter {name!r} reference {meant!r}.")
    return found


def script_paths(spec) -> tuple[str | None, list[str]]:
    """The primary container's workingDir, and where its volumes put train.py inside the container."""
    template = as_dict(spec.get("trialTemplate"))
    pod = tune_trials.pod_of(template.get("trialSpec"), template.get("primaryContainerName"))
    if pod is None:
        return None, []
    container = tune_trials.primary_container(pod, template.get("primaryContainerName"))
    volumes = {v.get("name"): v for v in as_list(pod.get("volumes")) if isinstance(v, dict) and isinstance(v.get("name"), str)}
    found = []
    for mount in as_list(container.get("volumeMounts")):
        if not isinstance(mount, dict) or not isinstance(mount.get("mountPath"), str):
            continue
        at, volume = mount["mountPath"], volumes.get(str(mount.get("name"))) or {}
        items = as_list(as_dict(volume.get("configMap")).get("items"))
        if isinstance(mount.get("subPath"), str) and mount["subPath"]:  # one file or folder of the volume, at mountPath itself
            found.append(at if posixpath.basename(mount["subPath"]) == "train.py" else posixpath.join(at, "train.py"))
        elif items:  # only the listed keys, each at its own path
            found += [posixpath.join(at, str(i.get("path", ""))) for i in items if isinstance(i, dict) and i.get("key") == "train.py"]
        else:  # a ConfigMap made with --from-file=train.py holds the key train.py
            found.append(posixpath.join(at, "train.py"))
    wd = container.get("workingDir")
    return wd if isinstance(wd, str) and wd else None, [posixpath.normpath(f) for f in found]


def sample_trial(spec) -> tuple[dict, list[str]]:
    """One trial's Job, as Katib would make it with each parameter's first value, and its container's argv."""
    template = as_dict(spec.get("trialTemplate"))
    sample = {n: (as_list(as_dict(p.get("feasibleSpace")).get("list")) or [as_dict(p.get("feasibleSpace")).get("min", "1")])[0]
              for n, p in _parameters(spec).items()}
    declared = [tp for tp in as_list(template.get("trialParameters"))
                if isinstance(tp, dict) and isinstance(tp.get("name"), str) and str(tp.get("reference")) in sample]
    try:
        job = katib_trial.substitute(as_dict(template.get("trialSpec")), declared, sample)
        argv, _ = tune_trials.command(job, template.get("primaryContainerName", ""))
    except (TuneError, KeyError, ValueError) as exc:
        raise CheckFailure(f"The trial template cannot be turned into a trial: {exc}") from None
    job = copy.deepcopy(job)
    job.setdefault("metadata", {})["name"] = "trial"
    return job, argv


def command_words(template: dict, required: bool = False) -> list[str]:
    """The primary container's command and args, placeholders still in place.

    Without such a container: [] or, when `required`, the sentence that says why there is none.
    """
    try:
        argv, _ = tune_trials.command(as_dict(template.get("trialSpec")), template.get("primaryContainerName", ""))
        return argv
    except TuneError as exc:
        if required:
            said = str(exc)
            raise CheckFailure(said[:1].upper() + said[1:]) from None
        return []
