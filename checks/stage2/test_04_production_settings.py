"""Lab 2.4: production settings, read from the compiled IR and platform spec."""

import re

import pytest

from kflab import manifests
from kflab.failures import expect
from kflab.kfp_ir import PipelineIR

ARTIFACT_STORE = "minio://mlpipeline/v2/artifacts"
SECRET_ENV = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
# s3-credentials holds the object store's keys under the names of KFP's own mlpipeline-minio-artifact Secret.
SECRET_KEYS = {"AWS_ACCESS_KEY_ID": "accesskey", "AWS_SECRET_ACCESS_KEY": "secretkey"}


@pytest.fixture(scope="module")
def ir(lab, lab_tmp):
    pipeline = lab.attr(lab.module("pipeline.py"), "production_pipeline", "pipeline")
    return PipelineIR.of(pipeline, lab_tmp)


def _task(ir, name):
    expect(name in ir.tasks(), f"The pipeline has no `{name}` task. Keep both components of the starter in the pipeline.")
    return ir.tasks()[name]


def _quantity(text: str, what: str):
    """A Kubernetes quantity as a number, or a sentence when it is a placeholder or not a quantity."""
    text = str(text)
    expect("{{" not in text,
           f"train-forest's {what} is a pipeline parameter (`{text}`), so it is not fixed until a run starts and "
           "cannot be compared with the other bound. The lab asks for fixed amounts: pass a literal such as "
           "`.set_cpu_request(\"1\")` or `.set_memory_limit(\"4Gi\")`.")
    value = manifests.quantity(text)
    expect(value is not None,
           f"train-forest's {what} `{text}` is not a Kubernetes quantity. Write it as a number with an optional unit, "
           "such as \"1\", \"500m\" or \"2Gi\".")
    return value


def test_train_task_requests_and_limits_cpu_and_memory(ir):
    """Does train-forest request CPU and memory, with limits at least as large?"""
    _task(ir, "train-forest")
    res = ir.executor("train-forest").get("resources", {})
    for kind in ("Cpu", "Memory"):
        request, limit = res.get(f"resource{kind}Request"), res.get(f"resource{kind}Limit")
        expect(request and limit, f"train-forest sets no {kind.lower()} {'request' if not request else 'limit'}. "
                                  f"Call `.set_{kind.lower()}_request(...)` and `.set_{kind.lower()}_limit(...)` on the task.")
        expect(_quantity(limit, f"{kind.lower()} limit") >= _quantity(request, f"{kind.lower()} request"),
               f"train-forest's {kind.lower()} limit {limit} is below its request {request}, which the API server "
               "refuses. Raise the limit to at least the request, or lower the request.")


def test_fetch_task_is_never_served_from_the_cache(ir):
    """Is caching off for fetch-data (fresh data each run) and on for train-forest?"""
    fetch, train = _task(ir, "fetch-data"), _task(ir, "train-forest")
    expect(not fetch.get("cachingOptions", {}).get("enableCache"),
           "fetch-data can be served from the cache, so a rerun would reuse stale data. Call `fetch.set_caching_options(False)`.")
    expect(train.get("cachingOptions", {}).get("enableCache"),
           "train-forest has caching turned off; only the fetch step should. Leave training cacheable.")


def test_train_task_retries_with_backoff(ir):
    """Does train-forest retry (at least twice) with a backoff between attempts?"""
    policy = _task(ir, "train-forest").get("retryPolicy", {})
    expect(policy.get("maxRetryCount", 0) >= 2, "train-forest never retries. Call `.set_retry(num_retries=3, backoff_duration='30s', backoff_factor=2.0)`.")
    expect(policy.get("backoffDuration", "0s") not in ("0s", ""), "train-forest retries immediately; give set_retry a backoff_duration.")


MAPPING = ('`secret_key_to_env={"accesskey": "AWS_ACCESS_KEY_ID", "secretkey": "AWS_SECRET_ACCESS_KEY"}` '
           "(Secret key \u2192 env var name)")


def _secret_env(ir) -> dict:
    """fetch-data's env vars from Secrets, each with the Secret key it comes from."""
    return {m.get("envVar"): m.get("secretKey") for s in ir.kubernetes_config("fetch-data").get("secretAsEnv", [])
            for m in s.get("keyToEnv", [])}


def _expect_not_reversed(mapped: dict) -> None:
    """Fail when the env vars carry the Secret's key names and the keys the env var names."""
    reversed_ = sorted(env for env, key in mapped.items() if env in SECRET_KEYS.values() and key in SECRET_KEYS)
    expect(not reversed_, f"fetch-data's env vars are named {', '.join(reversed_)}: the mapping is reversed. "
                          f"Write {MAPPING}.")


def test_fetch_task_reads_s3_credentials_from_a_secret_as_env(ir):
    """Does fetch-data get AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from a Secret, via kfp-kubernetes?"""
    _task(ir, "fetch-data")
    secrets = ir.kubernetes_config("fetch-data").get("secretAsEnv", [])
    mapped = _secret_env(ir)
    expect(secrets, "fetch-data gets no Secret. Use `kubernetes.use_secret_as_env(fetch, secret_name='s3-credentials', secret_key_to_env={...})`.")
    _expect_not_reversed(mapped)
    missing = sorted(SECRET_ENV - set(mapped))
    expect(not missing, f"fetch-data gets no {' or '.join(missing)} from its Secret. Write {MAPPING}.")
    expect(all(s.get("secretName") == "s3-credentials" for s in secrets), "The credentials should come from the Secret named `s3-credentials`.")


def test_fetch_task_maps_the_secret_keys_accesskey_and_secretkey(ir):
    """Do AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY come from the Secret's keys `accesskey` and `secretkey`?"""
    _task(ir, "fetch-data")
    mapped = _secret_env(ir)
    _expect_not_reversed(mapped)
    for env, key in SECRET_KEYS.items():
        expect(env in mapped, f"fetch-data gets no {env} from a Secret. Map it with "
                              f"`secret_key_to_env={{\"{key}\": \"{env}\", ...}}` in kubernetes.use_secret_as_env.")
        expect(mapped[env] == key,
               f"{env} comes from the Secret key `{mapped[env]}`, but s3-credentials holds the key `{key}` (the names of "
               f"KFP's own mlpipeline-minio-artifact Secret), so the pod would not start. Map `\"{key}\": \"{env}\"`.")


def _installs(ir, task):
    command = " ".join(ir.executor(task).get("command", []))
    match = re.search(r"pip install --quiet --no-warn-script-location (.*?)\s*&&", command)
    return re.findall(r"'([^']+)'", match.group(1)) if match else []


def test_components_pin_their_packages_and_image(ir):
    """Does every component pin its base image tag and every package it installs (name==version)?"""
    for task in ("fetch-data", "train-forest"):
        _task(ir, task)
        packages = _installs(ir, task)
        expect(packages, f"{task} installs no packages, but its code imports pandas and scikit-learn. Use packages_to_install.")
        loose = [p for p in packages if not re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][0-9A-Za-z.]*", p)]
        expect(not loose, f"{task} installs {', '.join(loose)} without an exact version. Pin each one as name==version.")
        image = ir.executor(task).get("image", "")
        expect(":" in image.split("/")[-1] and not image.endswith(":latest"),
               f"{task} runs on `{image}`, which floats. Pin a tag such as python:3.11.11-slim.")


def test_pipeline_root_is_the_cluster_artifact_store(ir):
    """Does the pipeline store artifacts under minio://mlpipeline/v2/artifacts?"""
    root = ir.spec.get("defaultPipelineRoot")
    expect(root == ARTIFACT_STORE, f"The pipeline root is {root or 'unset'}; set `pipeline_root='{ARTIFACT_STORE}'` in @dsl.pipeline.")
