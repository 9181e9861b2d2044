"""The HTTP transport: a threaded stdlib server, body reading with limits, faults and logging.

`HubServer` is the in-process handle; it owns the storage, the users, the fault injector and the
route table, and runs `ThreadingHTTPServer.serve_forever` in a daemon thread.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from . import admin, lfs, routes
from .auth import Masker, Users
from .errors import HubError
from .faults import Fault, FaultInjector
from .storage import Storage
from .wire import Request, Response, Router, error_response

logger = logging.getLogger("conformance.hub")

MiB = 1024 * 1024
_CHUNK = 1024 * 1024
_DRAIN_LIMIT = 16 * MiB


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _ClientGone(Exception):
    """The peer closed or reset the connection: nothing more can be sent."""


class _Abort(Exception):
    """Close the connection now, without a response (cut fault)."""


class HubServer:
    """A Hub-compatible server bound to a loopback address.

    `tokens` maps user name -> token; a user may write only under its own namespace. The admin
    token enables the `/_conformance/` control endpoint (faults, server-side repo state).
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: Mapping[str, str] | None = None,
        admin_token: str | None = None,
        regular_only: bool = False,
        lfs_threshold: int = 10 * MiB,
        max_body_bytes: int = 512 * MiB,
        max_json_bytes: int = 16 * MiB,
        request_timeout: float = 60.0,
        allow_remote: bool = False,
    ) -> None:
        if not allow_remote and not is_loopback(host):
            raise ValueError(f"refusing to listen on non-loopback host {host!r} (allow_remote=False)")
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="conformance-hub-")
            data_dir = self._tmp.name
        self.data_dir = Path(data_dir)
        self.storage = Storage(self.data_dir)
        self.users = Users(tokens)
        self.admin_token = admin_token
        self.regular_only = regular_only
        self.lfs_threshold = lfs_threshold
        self.max_body_bytes = max_body_bytes
        self.max_json_bytes = max_json_bytes
        self.request_timeout = request_timeout
        self.faults = FaultInjector()
        self.lfs_uploads = lfs.PendingUploads()
        self.masker = Masker([*self.users.tokens(), admin_token or ""])
        self.router = Router()
        for module in (admin, routes, lfs):
            module.register(self.router)
        self.host, self.port = host, port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def add_user(self, user: str, token: str) -> None:
        self.users.add(user, token)
        self.masker.add(token)

    def start(self) -> HubServer:
        """Bind and serve in a daemon thread; returns once requests are accepted."""
        if self._httpd is not None:
            return self
        server_class = _HTTPServer6 if ":" in self.host else _HTTPServer
        self._httpd = server_class((self.host, self.port), _Handler)
        self._httpd.hub = self
        self.host, self.port = self._httpd.server_address[:2]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="conformance-hub",
            daemon=True,
        )
        self._thread.start()
        logger.info("embedded Hub listening on %s (data %s)", self.url, self.data_dir)
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._httpd = self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Convenience wrappers around the injector (in-process fault API).
    def fail_next(self, method: str = "*", path: str = ".*", **kwargs: Any) -> Fault:
        return self.faults.fail_next(method, path, **kwargs)

    def cut_connection(self, method: str = "*", path: str = ".*", **kwargs: Any) -> Fault:
        return self.faults.cut(method, path, **kwargs)

    def add_latency(self, method: str = "*", path: str = ".*", **kwargs: Any) -> Fault:
        return self.faults.delay(method, path, **kwargs)

    def clear_faults(self) -> None:
        self.faults.clear()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # snapshot_download opens several connections at once
    hub: HubServer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End idle keep-alive connections so their handler threads exit with the server."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A handler thread must never take the server down; keep the trace for debugging.
        logger.debug("connection error from %s", client_address, exc_info=True)


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client reuses pooled connections
    # A response leaves in two writes, headers then body. With Nagle's algorithm the body waits for
    # the client's ACK of the headers, which the client delays (40 ms on Linux): every request took
    # 45-90 ms on loopback instead of 1-5 ms (benchmarks/test_hub.py).
    disable_nagle_algorithm = True
    server_version = "conformance-hub/0.1"
    sys_version = ""
    server: _HTTPServer

    def setup(self) -> None:
        self.timeout = self.server.hub.request_timeout  # also bounds idle keep-alive waits
        super().setup()

    # Every method goes through the router (unknown routes/methods get JSON errors).
    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    # ------------------------------------------------------------------ request body
    def _body_length(self) -> int | None:
        """Declared body length; None for chunked bodies."""
        encoding = (self.headers.get("Transfer-Encoding") or "").strip().lower()
        if encoding and encoding != "identity":
            if encoding != "chunked":
                raise HubError(501, f"Unsupported Transfer-Encoding {encoding!r}")
            return None
        raw = self.headers.get("Content-Length")
        if raw is None:
            return 0
        if not raw.strip().isdigit():
            raise HubError(400, "Invalid Content-Length header")
        return int(raw)

    def _read(self, n: int) -> bytes:
        try:
            data = self.rfile.read(n)
        except TimeoutError:
            self._body_state = "broken"
            raise HubError(408, "Timed out reading the request body") from None
        except OSError:
            raise _ClientGone() from None
        if len(data) < n:
            self._body_state = "broken"
            raise HubError(400, "Incomplete request body (connection closed before Content-Length bytes)")
        return data

    def _iter_body(self, limit: int) -> Iterator[bytes]:
        if self._body_state != "unread":
            raise HubError(500, "request body already consumed")
        self._body_state = "reading"
        length = self._body_length()
        if length is not None:
            if length > limit:
                self._body_state = "broken"
                raise HubError(413, f"Request body too large ({length} > {limit} bytes)")
            remaining = length
            while remaining:
                chunk = self._read(min(_CHUNK, remaining))
                remaining -= len(chunk)
                yield chunk
        else:
            yield from self._iter_chunked(limit)
        self._body_state = "read"

    def _iter_chunked(self, limit: int) -> Iterator[bytes]:
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                self._body_state = "broken"
                raise HubError(400, "Invalid chunked encoding") from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return
            total += size
            if total > limit:
                self._body_state = "broken"
                raise HubError(413, f"Request body too large (> {limit} bytes)")
            yield self._read(size)
            self._read(2)  # CRLF after each chunk

    # ------------------------------------------------------------------ dispatch
    def _dispatch(self) -> None:
        hub = self.server.hub
        started = time.monotonic()
        self._body_state = "unread"
        self._cut_after: int | None = None
        self._sent = 0
        raw_path, _, query = self.path.partition("?")
        status = 0
        try:
            response = self._respond(hub, raw_path, query)
            status = response.status
            self._send(response)
        except (_Abort, _ClientGone):
            status = -1
            self._close_now()
        finally:
            logger.info(
                "%s %s -> %s %dB %.0fms",
                self.command,
                hub.masker(self.path),
                status if status > 0 else "closed",
                self._sent,
                (time.monotonic() - started) * 1000,
            )

    def _respond(self, hub: HubServer, raw_path: str, query: str) -> Response:
        try:
            self._apply_faults(hub, raw_path)
            request = Request(hub, self.command, raw_path, query, self.headers, self._iter_body)
            return hub.router.dispatch(request)
        except HubError as exc:
            return error_response(exc)
        except (_Abort, _ClientGone):
            raise
        except Exception:
            logger.exception("internal error on %s %s", self.command, hub.masker(self.path))
            return error_response(HubError(500, "Internal server error"))

    def _apply_faults(self, hub: HubServer, raw_path: str) -> None:
        if raw_path.startswith("/_conformance/"):
            return
        faults = hub.faults.take(self.command, raw_path)
        for fault in faults:
            if fault.action == "delay":
                time.sleep(fault.delay)
        for fault in faults:
            if fault.action == "status":
                self._drain()
                raise HubError(fault.status, fault.message, code=fault.error_code)
            if fault.action == "cut":
                length = self._body_length()
                if length == 0:
                    self._cut_after = fault.cut_after  # download cut, applied in _send
                    continue
                # Upload cut: read part of the body, then drop the connection mid-upload.
                self._body_state = "broken"
                with contextlib.suppress(HubError):
                    self._read(min(fault.cut_after, length if length is not None else fault.cut_after))
                raise _Abort()

    def _drain(self) -> None:
        """Read and drop a (reasonably small) body so the connection stays usable."""
        with contextlib.suppress(HubError):
            for _ in self._iter_body(self.server.hub.max_body_bytes):
                pass

    # ------------------------------------------------------------------ response
    def _send(self, response: Response) -> None:
        length = response.content_length
        if not self.close_connection and self._body_state != "read" and self._has_body():
            # Unread bytes would be parsed as the next request. Read small bodies away rather
            # than closing on them: closing with unread data resets the connection, and the
            # client may then lose the response (e.g. a 401 on a commit).
            if self._body_state == "unread" and self._drainable():
                self._drain()
            if self._body_state != "read":
                self.close_connection = True
        try:
            self.send_response(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(length))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command == "HEAD" or length == 0:
                if self._cut_after is not None:
                    raise _Abort()
                return
            budget = length if self._cut_after is None else min(self._cut_after, length - 1)
            for chunk in self._chunks(response, budget):
                self.wfile.write(chunk)
                self._sent += len(chunk)
            if self._cut_after is not None:
                self.wfile.flush()
                raise _Abort()
        except OSError:
            raise _ClientGone() from None

    @staticmethod
    def _chunks(response: Response, budget: int) -> Iterator[bytes]:
        if response.file is None:
            yield response.body[:budget]
            return
        with open(response.file, "rb") as fh:
            fh.seek(response.offset)
            while budget > 0:
                chunk = fh.read(min(_CHUNK, budget))
                if not chunk:
                    return
                budget -= len(chunk)
                yield chunk

    def _drainable(self) -> bool:
        try:
            length = self._body_length()
        except HubError:
            return False
        return length is None or length <= _DRAIN_LIMIT

    def _has_body(self) -> bool:
        try:
            return self._body_length() != 0
        except HubError:
            return True

    def _close_now(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # ------------------------------------------------------------------ stdlib hooks
    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Malformed request lines/headers end here: answer JSON and close.
        self.close_connection = True
        self._body_state, self._cut_after, self._sent = "broken", None, 0
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.1"  # unparsable line: still answer with a status line
        phrase = message or HTTPStatus(code).phrase
        logger.info(
            "%s -> %d %s", self.server.hub.masker(getattr(self, "requestline", "") or "-"), code, phrase
        )
        response = error_response(HubError(code, phrase))
        with contextlib.suppress(_Abort, _ClientGone):
            self._send(response)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # one line per request is written by _dispatch (masked, no headers)

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s", self.server.hub.masker(format % args))
