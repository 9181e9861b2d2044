"""Keep a session that uses the embedded Hub on loopback.

Against the embedded Hub nothing has a reason to leave the machine, yet libraries do try: an online
transformers load of a ``pytorch_model.bin`` repo starts a thread that asks an outside service to
convert it to safetensors (transformers < 4.56 has no ``DISABLE_SAFETENSORS_CONVERSION`` switch), and
on a machine whose DNS hangs instead of failing, such a call stalls the check that waits for it.
While the guard is on, resolving a name or connecting to an address that is not loopback fails at
once with `OutsideNetworkError`, and every refused attempt is kept for the session's summary.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from typing import Any

LOCAL_NAMES = frozenset({"", "localhost", "localhost.localdomain"})


class OutsideNetworkError(ConnectionRefusedError):
    """A connection or name lookup beyond loopback while the guard is on."""


def is_local(host: object) -> bool:
    if host is None:
        return True  # getaddrinfo(None, port): a local bind
    name = host.decode() if isinstance(host, bytes) else str(host)
    if name.lower() in LOCAL_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


class LoopbackGuard:
    """Installs itself over `socket.getaddrinfo` and `socket.socket.connect`/`connect_ex`."""

    def __init__(self) -> None:
        self.refused: list[str] = []  # "host:port (thread name)", in order
        self._saved: tuple[Any, Any, Any] | None = None
        self._lock = threading.Lock()

    def _refuse(self, host: object, port: object) -> OutsideNetworkError:
        where = f"{host}:{port} ({threading.current_thread().name})"
        with self._lock:
            self.refused.append(where)
        return OutsideNetworkError(
            f"refused an outside connection to {host}:{port}: this session runs against the embedded "
            "Hub on loopback (pass --hub-endpoint to check against another Hub)"
        )

    def install(self) -> None:
        if self._saved is not None:
            return
        getaddrinfo, connect, connect_ex = socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex
        self._saved = (getaddrinfo, connect, connect_ex)
        guard = self

        def guarded_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            if not is_local(host):
                raise guard._refuse(host, port)
            return getaddrinfo(host, port, *args, **kwargs)

        def outside(sock: socket.socket, address: Any) -> bool:
            return sock.family in (socket.AF_INET, socket.AF_INET6) and not is_local(address[0])

        def guarded_connect(sock: socket.socket, address: Any) -> None:
            if outside(sock, address):
                raise guard._refuse(*address[:2])
            return connect(sock, address)

        def guarded_connect_ex(sock: socket.socket, address: Any) -> int:
            if outside(sock, address):
                raise guard._refuse(*address[:2])
            return connect_ex(sock, address)

        socket.getaddrinfo = guarded_getaddrinfo  # type: ignore[assignment]
        socket.socket.connect = guarded_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign]

    def uninstall(self) -> None:
        if self._saved is None:
            return
        socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex = self._saved  # type: ignore[method-assign]
        self._saved = None
