"""`kflab tune experiment.yaml`: run a Katib Experiment on this machine, with Katib's semantics.

The spec is parsed with kubeflow-katib-api's models and checked with the rules of
Katib's webhook. Optuna suggests each trial's parameters (kflab.tune_search); each
trial is the template's training command, substituted and run as a local process
(kflab.tune_trials); its metrics are read from its output as Katib's StdOut
collector reads them. Up to parallelTrialCount trials run at once. The Experiment
stops when the objective reaches its goal, when maxTrialCount trials have
completed, or when maxFailedTrialCount trials have failed, as Katib's controller does.
"""

from __future__ import annotations

import dataclasses
import sys
import time
import warnings
from pathlib import Path

from kflab import katib, katib_trial, paths, tune_search, tune_trials, yamlfile
from kflab.tune_search import TuneError
from kflab.tune_trials import Trial

DEFAULT_PARALLEL = 3  # Katib's default parallelTrialCount


@dataclasses.dataclass
class TuneResult:
    """What one local Experiment did, in the shape results.json takes."""

    name: str
    status: str  # Succeeded or Failed
    reason: str
    objective: dict
    trials: list[Trial]
    out: Path
    wall_s: float = 0.0

    @property
    def best(self) -> Trial | None:
        scored = [t for t in self.trials if t.status == "Succeeded"]
        if not scored:
            return None
        pick = max if self.objective.get("type") == "maximize" else min
        return pick(scored, key=lambda t: t.objective)


def _mapping(value) -> dict:
    return value if isinstance(value, dict) else {}


def _described(doc) -> str:
    """A YAML document in a few words: `a Deployment`, `a mapping with no kind`, `a list`."""
    if isinstance(doc, dict):
        return f"a {doc['kind']}" if isinstance(doc.get("kind"), str) and doc["kind"] else "a mapping with no `kind`"
    return {list: "a list", str: "a string"}.get(type(doc), f"a {type(doc).__name__}")


def load(path: str | Path) -> dict:
    """The Experiment in `path`, or a TuneError that lists everything Katib would reject."""
    path = Path(path)
    docs = yamlfile.read(path, TuneError)
    experiments = [d for d in docs if isinstance(d, dict) and d.get("kind") == "Experiment"]
    if len(experiments) != 1:
        others = [_described(d) for d in docs]
        held = f"{len(experiments)}" if experiments else "none" + (f" (it holds {', '.join(others)})" if others else "")
        raise TuneError(f"{path} should hold exactly one Experiment (`kind: Experiment`, apiVersion kubeflow.org/v1beta1), "
                        f"but holds {held}.")
    found = katib.problems(experiments[0])
    spec = _mapping(experiments[0].get("spec"))  # a string or a list is a problem found above
    algorithm = _mapping(spec.get("algorithm")).get("algorithmName")
    supported = f"kflab tune runs the algorithms {', '.join(tune_search.SAMPLERS)}"
    if found:
        if algorithm is not None and algorithm not in tune_search.SAMPLERS:
            found.append(f"{supported}; {algorithm!r} is not one of them")
        raise TuneError(f"{path} is not an Experiment Katib would accept:\n  - " + "\n  - ".join(found))
    if algorithm not in tune_search.SAMPLERS:
        raise TuneError(f"Katib runs algorithmName {algorithm!r} on a cluster, but {supported} only.")
    found = tune_search.space_problems(spec["parameters"])
    if found:
        raise TuneError(f"{path} has a search space that kflab tune cannot sample:\n  - " + "\n  - ".join(found))
    kind = ((spec.get("metricsCollectorSpec") or {}).get("collector") or {}).get("kind", "StdOut")
    if kind != "StdOut":
        raise TuneError(f"kflab tune reads metrics from the trial's output (the StdOut collector), not {kind!r}.")
    return experiments[0]


def _stop_reason(done: list[Trial], objective: dict, limit: int, max_failed: int | None) -> str | None:
    """Katib's controller, in its order: the goal, then too many failures, then the trial budget."""
    goal, maximize = objective.get("goal"), objective.get("type") == "maximize"
    scored = [t.objective for t in done if t.status == "Succeeded"]
    if goal is not None and scored and (max(scored) >= goal if maximize else min(scored) <= goal):
        return f"Succeeded: the objective reached its goal ({goal})"
    failed = sum(t.status in ("Failed", "MetricsUnavailable") for t in done)
    if max_failed is not None and failed and failed >= max_failed:
        return f"Failed: {failed} trial(s) failed (maxFailedTrialCount is {max_failed})"
    if len(done) >= limit:
        return f"Succeeded: {len(done)} trials completed (maxTrialCount is {limit})"
    return None


def run(path: str | Path, max_trials: int | None = None, parallel: int | None = None, max_failed: int | None = None,
        seed: int | None = None, trial_timeout: float = 600, out: str | Path | None = None,
        workdir: str | Path | None = None, echo=print) -> TuneResult:
    """Run the Experiment in `path` locally; flags override the spec's trial limits."""
    import optuna

    experiment, started = load(path), time.monotonic()
    spec, name = experiment["spec"], experiment["metadata"]["name"]
    objective, params = spec["objective"], spec["parameters"]
    limit = max_trials if max_trials is not None else spec.get("maxTrialCount")
    if not limit:
        raise TuneError("set spec.maxTrialCount (or pass --max-trials): a local Experiment needs a trial budget.")
    points = tune_search.grid_size(spec["algorithm"], params)
    if points is not None and limit > points:  # Katib's Optuna service refuses it the same way
        raise TuneError(f"the trial budget ({limit}) is larger than the grid, which has {points} points; "
                        f"Katib refuses such an Experiment. Set spec.maxTrialCount to at most {points}.")
    parallel = parallel or spec.get("parallelTrialCount") or DEFAULT_PARALLEL
    max_failed = max_failed if max_failed is not None else spec.get("maxFailedTrialCount")
    formats = (((spec.get("metricsCollectorSpec") or {}).get("source") or {}).get("filter") or {}).get("metricsFormat")
    out = Path(out) if out else paths.state_dir() / "tune" / name
    workdir = Path(workdir) if workdir else Path(path).resolve().parent

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    sampler = tune_search.sampler(spec["algorithm"], params, seed)
    study = optuna.create_study(direction=objective["type"], sampler=sampler)
    space = tune_search.distributions(params)
    running, done, reason = [], [], None
    echo(f"Experiment {name}: {spec['algorithm']['algorithmName']}, up to {limit} trials, {parallel} at a time, in {workdir}")
    try:
        while True:
            while reason is None and len(running) < parallel and len(done) + len(running) < limit:
                running.append(_launch(study, space, experiment, len(done) + len(running), out, workdir))
                echo(f"  trial {running[-1].number} started: {' '.join(running[-1].argv)}")
            if not running:
                break
            time.sleep(0.05)
            for trial in [t for t in running if tune_trials.poll(t, objective, formats, trial_timeout)]:
                running.remove(trial)
                done.append(trial)
                _tell(study, trial)
                echo(_finished(trial, objective))
                if reason is None:
                    reason = _stop_reason(done, objective, limit, max_failed)
                    if reason and running:  # as in Katib: they finish, and may still be the best trial
                        echo(f"  {reason}; letting the {len(running)} running trial(s) finish, as Katib does")
    except BaseException:  # Ctrl-C, or a crash here: no trial outlives kflab tune
        for trial in running:
            tune_trials.stop(trial, "Killed")
        raise
    done.sort(key=lambda t: t.number)
    reason = reason or _stop_reason(done, objective, limit, max_failed) or f"Succeeded: {len(done)} trials completed"
    return TuneResult(name, reason.split(":")[0], reason, objective, done, out, time.monotonic() - started)


def _launch(study, space: dict, experiment: dict, number: int, out: Path, workdir: Path) -> Trial:
    """Ask the sampler for a point, put it into the trial template as Katib would, and start the trial."""
    template, meta = experiment["spec"]["trialTemplate"], experiment["metadata"]
    suggestion = study.ask(space)
    assignment = {k: tune_search.as_string(v) for k, v in suggestion.params.items()}
    manifest = katib_trial.substitute(template["trialSpec"], template["trialParameters"], assignment,
                                      trial_name=f"{meta['name']}-{number:03d}", namespace=meta.get("namespace") or "default")
    argv, env = tune_trials.command(manifest, template["primaryContainerName"])
    trial = Trial(number, assignment, argv, out / "trials" / f"trial-{number:03d}.log", optuna_trial=suggestion)
    tune_trials.start(trial, env, workdir)
    return trial


def _finished(trial: Trial, objective: dict) -> str:
    """The lines that report a finished trial, with the reason when it did not succeed."""
    score = "" if trial.objective is None else f" {objective['objectiveMetricName']}={trial.objective:.4f}"
    line = f"  trial {trial.number} {trial.status}{score} in {trial.seconds:.1f} s"
    return line if trial.status == "Succeeded" else f"{line}\n{_why(trial, objective)}"


def _tell(study, trial: Trial) -> None:
    import optuna

    try:
        if trial.status == "Succeeded":
            study.tell(trial.optuna_trial, trial.objective)
        else:
            study.tell(trial.optuna_trial, state=optuna.trial.TrialState.FAIL)
    except RuntimeError:
        # GridSampler calls study.stop() once the grid is used up, which Optuna only
        # allows inside study.optimize(). The trial is recorded (a `finally` in Optuna),
        # and the budget is at most the grid's size.
        pass


def _why(trial: Trial, objective: dict) -> str:
    tail = trial.tail().strip()
    if trial.status == "MetricsUnavailable":
        head = (f"    it printed no `{objective['objectiveMetricName']}=<number>` line (a finite number), so Katib would "
                "count it as failed.")
    elif trial.exit_code is None:  # the process never started: the tail says why
        head = "    it could not start."
    else:
        head = f"    it exited with status {trial.exit_code}."
    if not tail:
        return f"{head} It printed nothing ({trial.log})."
    return f"{head} Its last lines ({trial.log}):\n" + "\n".join("      " + line for line in tail.splitlines())


def cmd_tune(args) -> int:
    from kflab import tune_report

    try:
        result = run(args.experiment, args.max_trials, args.parallel, args.max_failed, args.seed,
                     args.trial_timeout, args.out, args.workdir)
    except TuneError as exc:
        print(f"kflab tune: {exc}", file=sys.stderr)
        return 2
    print(tune_report.table(result))
    files = tune_report.write(result)
    print("wrote " + ", ".join(str(f) for f in files))
    return 0 if result.status == "Succeeded" else 1


def register_cli(sub) -> None:
    from kflab.argtypes import count, folder, output_folder, seconds

    p = sub.add_parser("tune", help="run a Katib Experiment locally: Optuna suggests, each trial runs as a process")
    p.add_argument("experiment", help="the Experiment YAML (kubeflow.org/v1beta1)")
    p.add_argument("--max-trials", type=count("--max-trials"), help="override spec.maxTrialCount")
    p.add_argument("--parallel", type=count("--parallel"), help="override spec.parallelTrialCount")
    p.add_argument("--max-failed", type=count("--max-failed", minimum=0), help="override spec.maxFailedTrialCount")
    p.add_argument("--seed", type=int, help="seed the sampler (overrides the random_state setting)")
    p.add_argument("--trial-timeout", type=seconds("--trial-timeout"), default=600, help="stop a trial after this many seconds (default 600)")
    p.add_argument("--out", type=output_folder("--out"),
                   help="folder for results.json, objective.png and trial logs (default .kflab/tune/NAME)")
    p.add_argument("--workdir", type=folder("--workdir"), help="where trials run (default: the folder that holds the Experiment)")
    p.set_defaults(func=cmd_tune)
