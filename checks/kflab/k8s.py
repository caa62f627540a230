"""The cluster tier's client: find the API through KUBECONFIG, answer quickly."""

from __future__ import annotations

import functools


@functools.cache
def api_client():
    """A kubernetes ApiClient for the current context, or None when there is none."""
    from kubernetes import client, config

    try:
        config.load_kube_config()
    except Exception:  # no file, no context, bad file: all mean "no cluster"
        try:
            config.load_incluster_config()
        except Exception:
            return None
    return client.ApiClient()


def api_version(timeout_s: float = 3.0) -> str | None:
    """The server's gitVersion, or None when no API answers in time."""
    from kubernetes import client

    api = api_client()
    if api is None:
        return None
    try:
        info = client.VersionApi(api).get_code(_request_timeout=timeout_s)
    except Exception:
        return None
    return info.git_version
