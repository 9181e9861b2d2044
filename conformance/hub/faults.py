"""Fault injection: fail, cut or delay requests that match a route.

A fault matches on the HTTP method and a regular expression searched in the raw request path
(percent-encoded as sent, without the query string), optionally restricted to one repository so
that parallel tests sharing a server do not trip over each other's faults.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Action = Literal["status", "cut", "delay"]
ACTIONS = ("status", "cut", "delay")


@dataclass
class Fault:
    """One injected fault.

    - ``status``: answer ``status`` (with an ``X-Error-Message``) without running the route.
    - ``cut``: for a request with a body, read ``cut_after`` bytes of it then close the socket;
      otherwise send the headers and at most ``cut_after`` bytes of the response body, then close.
    - ``delay``: sleep ``delay`` seconds before handling the request.

    ``times`` is how many matching requests are affected (``None``: until removed).
    """

    action: Action
    method: str = "*"
    path: str = ".*"
    status: int = 500
    times: int | None = 1
    delay: float = 0.0
    cut_after: int = 0
    repo_id: str | None = None
    error_code: str | None = None
    message: str = "Injected fault"
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    hits: int = 0

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown fault action {self.action!r}; expected one of {ACTIONS}")
        self.method = self.method.upper()
        self._path_re = re.compile(self.path)  # raises re.error on a bad pattern
        if not 100 <= int(self.status) <= 599:
            raise ValueError(f"invalid status {self.status}")
        if self.times is not None and int(self.times) < 1:
            raise ValueError("times must be >= 1 or None")
        if self.delay < 0 or self.cut_after < 0:
            raise ValueError("delay and cut_after must be >= 0")
        self._repo_re = None
        if self.repo_id:
            ns, _, name = self.repo_id.partition("/")
            # The repo shows up as /ns/name followed by a separator in every route that names it
            # (API, resolve, LFS batch `ns/name.git`, LFS upload URLs).
            self._repo_re = re.compile("/" + re.escape(ns) + "/" + re.escape(name) + r"(?:/|\.git/|$)")

    def matches(self, method: str, raw_path: str) -> bool:
        if self.method not in ("*", method.upper()):
            return False
        if self._repo_re is not None and not self._repo_re.search(raw_path):
            return False
        return self._path_re.search(raw_path) is not None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        allowed = {
            "action",
            "method",
            "path",
            "status",
            "times",
            "delay",
            "cut_after",
            "repo_id",
            "error_code",
            "message",
        }
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        if "action" not in data:
            raise ValueError("a fault needs an 'action'")
        kwargs = dict(data)
        for key, kind in (("status", int), ("delay", float), ("cut_after", int)):
            if key in kwargs:
                kwargs[key] = kind(kwargs[key])
        if kwargs.get("times") is not None:
            kwargs["times"] = int(kwargs["times"])
        return cls(**kwargs)


class FaultInjector:
    """Thread-safe set of active faults, consumed by the request handler."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def fail_next(
        self, method: str = "*", path: str = ".*", *, status: int = 500, times: int = 1, **kwargs: Any
    ) -> Fault:
        """Answer the next `times` matching requests with `status`."""
        return self.add(Fault("status", method, path, status=status, times=times, **kwargs))

    def cut(
        self, method: str = "*", path: str = ".*", *, after_bytes: int = 0, times: int = 1, **kwargs: Any
    ) -> Fault:
        """Close the connection of the next `times` matching requests mid-body."""
        return self.add(Fault("cut", method, path, cut_after=after_bytes, times=times, **kwargs))

    def delay(
        self, method: str = "*", path: str = ".*", *, seconds: float, times: int | None = None, **kwargs: Any
    ) -> Fault:
        """Add `seconds` of latency to matching requests (until removed unless `times` is set)."""
        return self.add(Fault("delay", method, path, delay=seconds, times=times, **kwargs))

    def remove(self, fault_id: str) -> bool:
        with self._lock:
            before = len(self._faults)
            self._faults = [f for f in self._faults if f.id != fault_id]
            return len(self._faults) != before

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_dict() for f in self._faults]

    def take(self, method: str, raw_path: str) -> list[Fault]:
        """The faults to apply to this request; each use is counted (and spent ones dropped)."""
        taken: list[Fault] = []
        with self._lock:
            for fault in list(self._faults):
                if not fault.matches(method, raw_path):
                    continue
                fault.hits += 1
                taken.append(fault)
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
        return taken
