"""`EmbeddedHub`: a small handle on a running server, usable from any process.

It only needs the URL and tokens (from the environment the pytest plugin sets), and talks to the
admin-token-protected `/_conformance/` endpoint over HTTP, so an xdist worker can inject faults
into, and inspect, a server running in the controller process.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

ENV_URL = "OPTIMUM_CONFORMANCE_HUB_URL"
ENV_ADMIN_TOKEN = "OPTIMUM_CONFORMANCE_HUB_ADMIN_TOKEN"
ENV_TOKENS = "OPTIMUM_CONFORMANCE_HUB_TOKENS"  # "alice:hf_...,bob:hf_..."
ENV_USER = "OPTIMUM_CONFORMANCE_HUB_USER"

_PLURAL = {"model": "models", "dataset": "datasets", "space": "spaces"}

# Loopback only: never go through a proxy configured in the environment.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class EmbeddedHub:
    url: str
    tokens: dict[str, str]
    admin_token: str
    user: str

    @property
    def token(self) -> str:
        """The default user's token (also exported as `HF_TOKEN`)."""
        return self.tokens[self.user]

    def token_for(self, user: str) -> str:
        return self.tokens[user]

    @property
    def users(self) -> list[str]:
        return sorted(self.tokens)

    def __repr__(self) -> str:  # never show tokens
        return f"EmbeddedHub(url={self.url!r}, users={self.users!r}, user={self.user!r})"

    # ------------------------------------------------------------------ environment
    def to_env(self) -> dict[str, str]:
        return {
            ENV_URL: self.url,
            ENV_ADMIN_TOKEN: self.admin_token,
            ENV_TOKENS: ",".join(f"{u}:{t}" for u, t in self.tokens.items()),
            ENV_USER: self.user,
        }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EmbeddedHub:
        env = os.environ if env is None else env
        url = env.get(ENV_URL)
        if not url:
            raise RuntimeError(
                f"{ENV_URL} is not set: load the plugin with "
                "`pytest_plugins = ['conformance.hub.pytest_plugin']` in a conftest"
            )
        tokens = dict(item.split(":", 1) for item in env.get(ENV_TOKENS, "").split(",") if ":" in item)
        user = env.get(ENV_USER) or next(iter(tokens), "")
        return cls(url.rstrip("/"), tokens, env.get(ENV_ADMIN_TOKEN, ""), user)

    def new_repo_id(self, prefix: str = "repo", user: str | None = None) -> str:
        """A fresh, unique `user/prefix-xxxxxxxxxx` (not created)."""
        return f"{user or self.user}/{prefix}-{uuid.uuid4().hex[:10]}"

    # ------------------------------------------------------------------ control endpoint
    def _call(self, method: str, path: str, body: Any = None, raw: bool = False) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.admin_token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with _opener.open(request, timeout=30) as response:
            payload = response.read()
        return payload if raw else json.loads(payload)

    def health(self) -> bool:
        try:
            return bool(self._call("GET", "/_conformance/health").get("ok"))
        except (OSError, ValueError):
            return False

    def inject_fault(self, action: str, method: str = "*", path: str = ".*", **fields: Any) -> dict[str, Any]:
        """Add a fault (see `conformance.hub.faults.Fault`); returns it, with its `id`."""
        return self._call(
            "POST", "/_conformance/faults", {"action": action, "method": method, "path": path, **fields}
        )

    def fail_next(
        self, method: str = "*", path: str = ".*", *, status: int = 500, times: int = 1, **fields: Any
    ) -> dict[str, Any]:
        return self.inject_fault("status", method, path, status=status, times=times, **fields)

    def cut_connection(
        self, method: str = "*", path: str = ".*", *, after_bytes: int = 0, times: int = 1, **fields: Any
    ) -> dict[str, Any]:
        return self.inject_fault("cut", method, path, cut_after=after_bytes, times=times, **fields)

    def add_latency(
        self, method: str = "*", path: str = ".*", *, seconds: float, times: int | None = None, **fields: Any
    ) -> dict[str, Any]:
        return self.inject_fault("delay", method, path, delay=seconds, times=times, **fields)

    def remove_fault(self, fault_id: str) -> None:
        with contextlib.suppress(urllib.error.HTTPError):  # already spent
            self._call("DELETE", f"/_conformance/faults/{fault_id}")

    def clear_faults(self) -> None:
        self._call("DELETE", "/_conformance/faults")

    def list_faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "/_conformance/faults")

    @contextlib.contextmanager
    def fault(
        self, action: str, method: str = "*", path: str = ".*", **fields: Any
    ) -> Iterator[dict[str, Any]]:
        """`with hub.fault("status", "POST", "/commit/", status=500, repo_id=rid): ...`"""
        fault = self.inject_fault(action, method, path, **fields)
        try:
            yield fault
        finally:
            self.remove_fault(fault["id"])

    # ------------------------------------------------------------------ server-side state
    def _repo_path(self, repo_id: str, repo_type: str) -> str:
        return f"/_conformance/repos/{_PLURAL[repo_type]}/{repo_id}"

    def repo_state(
        self, repo_id: str, revision: str = "main", repo_type: str = "model"
    ) -> dict[str, Any] | None:
        """Refs, first-parent history and files at `revision`; None if the repo does not exist."""
        query = urlencode({"revision": revision})
        try:
            return self._call("GET", f"{self._repo_path(repo_id, repo_type)}?{query}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and exc.headers.get("X-Error-Code") == "RepoNotFound":
                return None
            raise

    def commits(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> list[dict[str, Any]]:
        """Newest first: id, parents, title, message, author."""
        state = self.repo_state(repo_id, revision, repo_type)
        return [] if state is None else state["commits"]

    def files(
        self, repo_id: str, revision: str = "main", repo_type: str = "model"
    ) -> dict[str, dict[str, Any]]:
        """path -> {size, oid, sha256, lfs} at `revision`."""
        state = self.repo_state(repo_id, revision, repo_type)
        return {} if state is None else state["files"]

    def file_bytes(self, repo_id: str, path: str, revision: str = "main", repo_type: str = "model") -> bytes:
        query = urlencode({"revision": revision, "path": path}, quote_via=quote)
        return self._call("GET", f"{self._repo_path(repo_id, repo_type)}/file?{query}", raw=True)
