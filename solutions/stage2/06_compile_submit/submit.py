"""Lab 2.6: upload a compiled pipeline as a new version and start a run.

    kubectl -n kubeflow port-forward svc/ml-pipeline-ui 8080:80   # in another terminal
    kfp dsl compile --py pipeline.py --output pipeline.yaml
    python submit.py pipeline.yaml --host http://localhost:8080 --watch n=20 scale=0.5
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

NO_HOST = (
    "No KFP endpoint given. In another terminal run "
    "`kubectl -n kubeflow port-forward svc/ml-pipeline-ui 8080:80`, "
    "then pass `--host http://localhost:8080` (or set KFP_HOST)."
)


def endpoint_problem(host: str | None, timeout_s: float = 3.0) -> str | None:
    """None when `host` answers KFP's health check, else a sentence saying what to do."""
    if not host:
        return NO_HOST
    url = host.rstrip("/") + "/apis/v2beta1/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            json.load(resp)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return (f"Cannot reach KFP at {host} ({reason}). Is the port-forward to svc/ml-pipeline-ui "
                "still running, and is the URL right?")
    return None


def parse_params(pairs: list[str]) -> dict:
    """`n=20 scale=0.5` -> {"n": 20, "scale": 0.5}; values are JSON when they parse as JSON."""
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"parameter {pair!r} is not KEY=VALUE")
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


# --8<-- [start:submit]
def submit(client, package: str, pipeline_name: str, experiment: str, run_name: str, params: dict):
    """Upload `package` as a new version of `pipeline_name` and start a run of it."""
    version_name = f"{pipeline_name}-{time.strftime('%Y%m%d-%H%M%S')}"
    pipeline_id = client.get_pipeline_id(pipeline_name)
    if pipeline_id is None:
        pipeline_id = client.upload_pipeline(package, pipeline_name=pipeline_name).pipeline_id
    version = client.upload_pipeline_version(package, version_name, pipeline_id=pipeline_id)
    exp = client.create_experiment(experiment)
    return client.run_pipeline(exp.experiment_id, run_name, pipeline_id=pipeline_id,
                               version_id=version.pipeline_version_id, params=params)
# --8<-- [end:submit]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Submit a compiled KFP pipeline.")
    parser.add_argument("package", help="the compiled pipeline YAML")
    parser.add_argument("params", nargs="*", help="pipeline parameters as KEY=VALUE")
    parser.add_argument("--host", default=os.environ.get("KFP_HOST"), help="KFP endpoint (default: $KFP_HOST)")
    parser.add_argument("--pipeline-name", default="number-summary")
    parser.add_argument("--experiment", default="kflab-lab-2-6")
    parser.add_argument("--run-name", default=f"number-summary-{int(time.time())}")
    parser.add_argument("--watch", action="store_true", help="wait for the run to finish")
    parser.add_argument("--timeout", type=int, default=600, help="seconds to wait with --watch")
    args = parser.parse_intermixed_args(argv)  # KEY=VALUE may come after the flags too

    problem = endpoint_problem(args.host)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if not os.path.isfile(args.package):
        print(f"{args.package} does not exist. Compile first: kfp dsl compile --py pipeline.py --output {args.package}", file=sys.stderr)
        return 2
    try:
        params = parse_params(args.params)
    except ValueError as exc:
        print(f"{exc}. Give parameters as KEY=VALUE, for example n=20.", file=sys.stderr)
        return 2

    import kfp  # imported late: the checks above need no KFP client

    client = kfp.Client(host=args.host)
    run = submit(client, args.package, args.pipeline_name, args.experiment, args.run_name, params)
    print(f"run {run.run_id} created: {args.host.rstrip('/')}/#/runs/details/{run.run_id}")
    if args.watch:
        done = client.wait_for_run_completion(run.run_id, timeout=args.timeout)
        print(f"run {run.run_id} finished: {done.state}")
        return 0 if done.state == "SUCCEEDED" else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
