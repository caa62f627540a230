"""The cluster tier's client: find the API through KUBECONFIG, and act politely on it.

Checks create objects only in namespaces of their own, label everything they
create `app.kubernetes.io/managed-by: kflab-checks`, wait on conditions through
watches (never sleep), and delete what they made.
"""

from __future__ import annotations

import base64
import functools
import json
import time
import uuid

from kflab.k8s_files import LearnerFiles

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


def condition(obj: dict, kind: str) -> dict:
    """The status condition of type `kind` ({} when the object has none)."""
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), {})


def not_served(api_version: str, kind: str) -> str:
    """Why the cluster has no such kind, and which course component (scripts/cluster install) brings it."""
    from kflab.doctor_cluster import COMPONENTS

    group = api_version.split("/")[0] if "/" in api_version else ""
    crd = f"{kind.lower()}s.{group}"
    same_group = [c for c in COMPONENTS if c.crd.split(".", 1)[1] == group]
    found = [c for c in same_group if c.crd == crd] or (same_group if len(same_group) == 1 else [])
    said = f"the cluster does not serve {kind} ({api_version}): its CRD is not installed."
    if not found:
        return f"{said} Install the component that defines it."
    comp = found[0]
    profile = f" It comes with the {comp.profile} profile (`scripts/cluster up --profile {comp.profile}`)." \
        if comp.profile != "lite" else ""
    return f"{said} `scripts/cluster install {comp.key}` adds {comp.name}.{profile}"


class ApiRefusal(Exception):
    """The API server refused a request; `reason` is its own message."""

    def __init__(self, status: int, reason: str):
        super().__init__(f"{status}: {reason}")
        self.status, self.reason = status, reason


class Cluster(LearnerFiles):
    """A thin layer over the dynamic client, with the course's hygiene built in."""

    def __init__(self, api=None):
        from kubernetes import dynamic

        self.api = api or api_client()
        self.dynamic = dynamic.DynamicClient(self.api)

    def resource(self, api_version: str, kind: str):
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        try:
            return self.dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            raise ApiRefusal(404, not_served(api_version, kind)) from None

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

    def create(self, obj: dict, namespace: str | None = None, dry_run: bool = False, label: bool = True):
        """Create (or server-side dry-run) an object with strict field validation.

        Everything is labelled as ours, except reviews, whose metadata must stay empty.
        """
        obj = json.loads(json.dumps(obj))
        if label:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(MANAGED_BY)
        res = self.resource(obj["apiVersion"], obj["kind"])
        query = [("fieldValidation", "Strict")] + ([("dryRun", "All")] if dry_run else [])
        ns = namespace if res.namespaced else None
        return self._call(res.create, body=obj, namespace=ns, query_params=query)

    def dry_run(self, obj: dict, namespace: str | None = None) -> str | None:
        """None when the API server accepts the object, else its reason.

        An object that names a namespace of its own (a learner's `monitoring`) is tried in `namespace`.
        """
        if namespace and (obj.get("metadata") or {}).get("namespace"):
            obj = {**obj, "metadata": {**obj["metadata"], "namespace": namespace}}
        try:
            self.create(obj, namespace, dry_run=True)
        except ApiRefusal as exc:
            return exc.reason
        return None

    def dry_run_pod(self, spec: dict, namespace: str, name: str = "probe") -> str | None:
        """dry_run of a Pod with this spec: how a pod template inside a custom resource fares as the pod it becomes.

        CRDs check only the shape of their pod parts; the API server's own rules (a request above its
        limit, a restartPolicy a Job refuses) apply once an operator makes the pod.
        """
        return self.dry_run({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}, namespace)

    def eventually(self, probe, timeout_s: float = 10.0, interval_s: float = 0.2):
        """Call `probe()` until it returns something truthy or time runs out; returns the last value.

        Only for state with no watch to wait on, such as the authorizer's caches
        catching up with a new RoleBinding.
        """
        import threading

        deadline, tick, value = time.monotonic() + timeout_s, threading.Event(), None
        while time.monotonic() < deadline:
            value = probe()
            if value:
                return value
            tick.wait(interval_s)
        return value

    def can(self, namespace: str, verb: str, resource: str, group: str = "", user: str = "",
            groups: tuple[str, ...] = (), subresource: str = "", name: str = "") -> bool:
        """The API server's own RBAC decision, through a SubjectAccessReview."""
        attrs = {"namespace": namespace, "verb": verb, "resource": resource, "group": group}
        if subresource:
            attrs["subresource"] = subresource
        if name:
            attrs["name"] = name
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                  "spec": {"user": user, "groups": list(groups), "resourceAttributes": attrs}}
        answer = self.create(review, label=False)
        return bool(answer.status.allowed)

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None):
        res = self.resource(api_version, kind)
        return self._call(res.get, name=name, namespace=namespace if res.namespaced else None)

    def secret_data(self, name: str, namespace: str) -> dict[str, str]:
        """A Secret's data, decoded."""
        data = self.get("v1", "Secret", name, namespace).to_dict().get("data") or {}
        return {k: base64.b64decode(v).decode() for k, v in data.items()}

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

    def wait(self, api_version: str, kind: str, name: str | None, namespace: str | None = None,
             for_conditions: tuple[str, ...] = (), raise_for_conditions: tuple[str, ...] = (),
             predicate=None, timeout_s: int = 60, what: str = ""):
        """Watch until an object reaches a condition in `for_conditions` (or `predicate(obj)` holds).

        With `name=None`, any object of the kind in the namespace will do. A True
        condition in `raise_for_conditions` ends the wait early with ApiRefusal.
        Returns the object; raises TimeoutError naming what it waited for.
        """
        res = self.resource(api_version, kind)
        ns = namespace if res.namespaced else None

        def done(obj) -> bool:
            conds = {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}
            for bad in raise_for_conditions:
                if conds.get(bad, {}).get("status") == "True":
                    raise ApiRefusal(0, f"{kind} {obj['metadata']['name']} reached {bad}: {conds[bad].get('message', '')}")
            if predicate is not None and predicate(obj):
                return True
            return any(conds.get(c, {}).get("status") == "True" for c in for_conditions)

        if name:
            listing = {"items": [self._call(res.get, name=name, namespace=ns).to_dict()]}
            listing["metadata"] = {"resourceVersion": listing["items"][0]["metadata"]["resourceVersion"]}
        else:
            listing = self._call(res.get, namespace=ns).to_dict()
        for obj in listing.get("items", []):
            if done(obj):
                return obj
        events = self.dynamic.watch(res, namespace=ns, name=name,
                                    resource_version=listing["metadata"]["resourceVersion"], timeout=timeout_s)
        for event in events:
            if event["type"] != "DELETED" and done(event["raw_object"]):
                return event["raw_object"]
        wanted = what or " or ".join(for_conditions) or "its condition"
        raise TimeoutError(f"{kind} {name or '(any)'} did not reach {wanted} within {timeout_s}s")
