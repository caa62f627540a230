"""A minimal Kubernetes API client on urllib, and a polling wait that names its goal.

`up` runs with the system python3 and no virtualenv, so there is no kubernetes
client library here. YAML is never parsed locally: the apiserver accepts YAML
bodies, and a dry-run create turns a YAML manifest into JSON.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

TIMEOUT_S = 30


class ApiError(RuntimeError):
    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class WaitTimeout(RuntimeError):
    """A wait ran out of time; the message says what it waited for."""


class Api:
    def __init__(self, server: str, pki: Path, identity: str = "admin"):
        self.server = server.rstrip("/")
        self.ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.ctx.load_cert_chain(str(pki / f"{identity}.crt"), str(pki / f"{identity}.key"))

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        data = body.encode() if isinstance(body, str) else None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=TIMEOUT_S) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            try:
                detail = json.loads(detail).get("message", detail)
            except (ValueError, AttributeError):
                pass
            raise ApiError(exc.code, detail) from None
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode(errors="replace")

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def exists(self, path: str) -> bool:
        try:
            self.get(path)
            return True
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise

    def create_if_missing(self, collection: str, obj: dict) -> bool:
        """POST unless an object of that name exists; True when it was created."""
        try:
            self.request("POST", collection, obj)
            return True
        except ApiError as exc:
            if exc.status == 409:
                return False
            raise

    def apply(self, path: str, manifest: str | dict, manager: str = "kflab-controlplane") -> Any:
        """Server-side apply of one object (YAML text or a dict) at its own URL."""
        body = manifest if isinstance(manifest, str) else json.dumps(manifest)
        return self.request("PATCH", f"{path}?fieldManager={manager}&force=true", body,
                            "application/apply-patch+yaml")

    def yaml_to_json(self, collection: str, yaml_text: str) -> dict:
        """The apiserver's parse of a YAML manifest, via a dry-run create (nothing is stored)."""
        return self.request("POST", f"{collection}?dryRun=All", yaml_text, "application/yaml")

    def answers(self) -> bool:
        try:
            return self.request("GET", "/readyz") == "ok"
        except (ApiError, OSError):
            return False


def wait_for(what: str, check: Callable[[], Any], timeout_s: float, interval_s: float = 0.5) -> Any:
    """Poll `check` until it returns something truthy; errors count as 'not yet'."""
    print(f"[controlplane up] waiting for {what} (up to {timeout_s:.0f} s)", flush=True)
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while True:
        try:
            result = check()
            if result:
                return result
        except (ApiError, OSError, ValueError) as exc:
            last_error = exc
        if time.monotonic() > deadline:
            extra = f" (last error: {last_error})" if last_error else ""
            raise WaitTimeout(f"timed out after {timeout_s:.0f} s waiting for {what}{extra}")
        time.sleep(interval_s)


def condition(obj: dict, kind: str) -> bool:
    """Whether status.conditions has `kind` with status True."""
    return any(c.get("type") == kind and c.get("status") == "True" for c in obj.get("status", {}).get("conditions", []))
