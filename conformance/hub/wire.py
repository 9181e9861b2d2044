"""Request, response and routing types shared by the transport (server.py) and the routes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from .errors import HubError, bad_request, unauthorized

if TYPE_CHECKING:
    from .server import HubServer

# Reusable pieces of route patterns, matched against the *raw* (still percent-encoded) path so
# that `refs%2Fpr%2F1` stays one segment.
SEG = r"[^/]+"
API_REPO = rf"/api/(?P<type>models|datasets|spaces)/(?P<ns>{SEG})/(?P<name>{SEG})"
URL_REPO = rf"/(?:(?P<prefix>datasets|spaces)/)?(?P<ns>{SEG})/(?P<name>{SEG})"


@dataclass
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # Streamed from disk instead of `body` (downloads).
    file: Path | None = None
    offset: int = 0
    length: int = 0

    @property
    def content_length(self) -> int:
        return self.length if self.file is not None else len(self.body)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data).encode()
    return Response(status, {"Content-Type": "application/json", **(headers or {})}, body)


def error_response(error: HubError) -> Response:
    headers = {"X-Error-Message": _header_safe(error.message), **error.headers}
    if error.code:
        headers["X-Error-Code"] = error.code
    return json_response({"error": error.message, **error.extra}, error.status, headers)


def _header_safe(text: str) -> str:
    # Header values must be latin-1 and single-line.
    return " ".join(text.split()).encode("latin-1", "replace").decode("latin-1")[:1000]


class Request:
    """What a route sees: method, raw path, query, headers, the authenticated user, the body."""

    def __init__(
        self,
        app: HubServer,
        method: str,
        raw_path: str,
        query: str,
        headers: Message,
        body_reader: Callable[[int], Iterator[bytes]],
    ) -> None:
        self.app = app
        self.method = method
        self.raw_path = raw_path
        self.query = parse_qs(query, keep_blank_values=True)
        self.headers = headers
        self._body_reader = body_reader
        self._user: str | None = None
        self._authenticated = False

    @property
    def user(self) -> str | None:
        """The token's user, None when anonymous; a wrong token is a 401 (even on public reads)."""
        if not self._authenticated:
            self._user = self._authenticate()
            self._authenticated = True
        return self._user

    def bearer_token(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        scheme, _, token = auth.strip().partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def _authenticate(self) -> str | None:
        if not self.headers.get("Authorization"):
            return None
        token = self.bearer_token()
        user = self.app.users.user_for(token) if token else None
        if user is None:
            raise unauthorized()
        return user

    def require_user(self) -> str:
        if self.user is None:
            raise unauthorized("Authorization header is required: this endpoint needs a valid token")
        return self.user

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str) -> bool:
        return (self.param(name) or "").lower() in ("1", "true", "yes")

    def iter_body(self, limit: int | None = None) -> Iterator[bytes]:
        return self._body_reader(limit if limit is not None else self.app.max_body_bytes)

    def body(self, limit: int | None = None) -> bytes:
        return b"".join(self.iter_body(limit if limit is not None else self.app.max_json_bytes))

    def json(self) -> Any:
        raw = self.body()
        try:
            return json.loads(raw) if raw.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise bad_request(f"Invalid JSON body: {exc}") from None

    def json_object(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise bad_request("The JSON body must be an object")
        return data

    def form(self) -> dict[str, list[str]]:
        if "json" in (self.headers.get("Content-Type") or ""):
            data = self.json_object()
            return {k: v if isinstance(v, list) else [v] for k, v in data.items()}
        raw = self.body()
        try:
            return parse_qs(raw.decode(), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise bad_request("Invalid form body") from None


Handler = Callable[..., Response]


class Router:
    """First matching pattern wins; a path that matches with another method is a 405."""

    def __init__(self) -> None:
        self._routes: list[tuple[frozenset[str], re.Pattern[str], Handler]] = []

    def add(self, methods: str, pattern: str, handler: Handler) -> None:
        self._routes.append((frozenset(methods.split()), re.compile(f"^{pattern}$"), handler))

    def dispatch(self, req: Request) -> Response:
        allowed: set[str] = set()
        for methods, pattern, handler in self._routes:
            match = pattern.match(req.raw_path)
            if match is None:
                continue
            if req.method in methods or (req.method == "HEAD" and "GET" in methods):
                return handler(req, **{k: v for k, v in match.groupdict().items()})
            allowed |= methods
        if allowed:
            raise HubError(
                405, f"Method {req.method} not allowed here", headers={"Allow": ", ".join(sorted(allowed))}
            )
        raise HubError(404, f"Not found: {req.method} {req.raw_path}")
