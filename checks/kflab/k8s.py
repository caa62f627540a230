"""The cluster tier's client: find the API through KUBECONFIG, and act politely on it.

Checks create objects only in namespaces of their own, label everything they
create `app.kubernetes.io/managed-by: kflab-checks`, wait on conditions through
watches (never sleep), and delete what they made.
"""

from __future__ import annotations

import functools
import json
import uuid

MANAGED_BY = {"app.kubernetes.io/managed-by": "kflab-checks"}


@functools.cache
def api_client():
    """A kubernetes ApiClient for the current context, or None when there is none."""
    from kubernetes import client, config

    try:
        config.load_kube_config()
    except Exception:  # no file, no context, a bad file: all mean "no cluster"
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
        return client.VersionApi(api).get_code(_request_timeout=timeout_s).git_version
    except Exception:
        return None


class ApiRefusal(Exception):
    """The API server refused a request; `reason` is its own message."""

    def __init__(self, status: int, reason: str):
        super().__init__(f"{status}: {reason}")
        self.status, self.reason = status, reason


class Cluster:
    """A thin layer over the dynamic client, with the course's hygiene built in."""

    def __init__(self, api=None):
        from kubernetes import dynamic

        self.api = api or api_client()
        self.dynamic = dynamic.DynamicClient(self.api)

    def resource(self, api_version: str, kind: str):
        return self.dynamic.resources.get(api_version=api_version, kind=kind)

    def _call(self, fn, *args, **kwargs):
        from kubernetes.client.exceptions import ApiException
        from kubernetes.dynamic.exceptions import DynamicApiError, ResourceNotFoundError

        try:
            return fn(*args, **kwargs)
        except ResourceNotFoundError as exc:
            raise ApiRefusal(404, f"the cluster does not serve this kind ({exc}); is its CRD installed?") from None
        except (DynamicApiError, ApiException) as exc:
            body = getattr(exc, "body", None) or getattr(exc, "summary", lambda: "")()
            try:
                reason = json.loads(body).get("message", body)
            except (TypeError, ValueError):
                reason = str(body or exc)
            raise ApiRefusal(getattr(exc, "status", 0), reason) from None

    def create(self, obj: dict, namespace: str | None = None, dry_run: bool = False):
        """Create (or server-side dry-run) an object with strict field validation."""
        obj = json.loads(json.dumps(obj))
        obj.setdefault("metadata", {}).setdefault("labels", {}).update(MANAGED_BY)
        res = self.resource(obj["apiVersion"], obj["kind"])
        query = [("fieldValidation", "Strict")] + ([("dryRun", "All")] if dry_run else [])
        ns = namespace if res.namespaced else None
        return self._call(res.create, body=obj, namespace=ns, query_params=query)

    def dry_run(self, obj: dict, namespace: str | None = None) -> str | None:
        """None when the API server accepts the object, else its reason."""
        try:
            self.create(obj, namespace, dry_run=True)
        except ApiRefusal as exc:
            return exc.reason
        return None

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None):
        res = self.resource(api_version, kind)
        return self._call(res.get, name=name, namespace=namespace if res.namespaced else None)

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> None:
        try:
            res = self.resource(api_version, kind)
            self._call(res.delete, name=name, namespace=namespace if res.namespaced else None)
        except ApiRefusal as exc:
            if exc.status != 404:
                raise

    def new_namespace(self, prefix: str, labels: dict | None = None) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"[:63]
        self.create({"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"name": name, "labels": {**MANAGED_BY, **(labels or {})}}})
        return name

    def wait(self, api_version: str, kind: str, name: str, namespace: str | None = None,
             for_conditions: tuple[str, ...] = (), raise_for_conditions: tuple[str, ...] = (),
             predicate=None, timeout_s: int = 60):
        """Watch one object until a condition in `for_conditions` is True (or `predicate(obj)`).

        A True condition in `raise_for_conditions` ends the wait early with ApiRefusal.
        Returns the object; raises TimeoutError naming what it waited for.
        """
        from kubernetes import watch

        res = self.resource(api_version, kind)
        ns = namespace if res.namespaced else None

        def done(obj) -> bool:
            conds = {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}
            for bad in raise_for_conditions:
                if conds.get(bad, {}).get("status") == "True":
                    raise ApiRefusal(0, f"{kind} {name} reached {bad}: {conds[bad].get('message', '')}")
            if predicate is not None and predicate(obj):
                return True
            return any(conds.get(c, {}).get("status") == "True" for c in for_conditions)

        current = self._call(res.get, name=name, namespace=ns).to_dict()
        if done(current):
            return current
        stream = watch.Watch().stream(res.get, namespace=ns, field_selector=f"metadata.name={name}",
                                      resource_version=current["metadata"]["resourceVersion"], timeout_seconds=timeout_s)
        for event in stream:
            obj = event["object"] if isinstance(event["object"], dict) else event["object"].to_dict()
            if done(obj):
                return obj
        wanted = " or ".join(for_conditions) or "its condition"
        raise TimeoutError(f"{kind} {name} did not reach {wanted} within {timeout_s}s")
