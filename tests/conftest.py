"""Shared fixtures for the harness's own tests."""

from __future__ import annotations

import socket

import pytest

# Starts the embedded Hub for the session and points HF_ENDPOINT/HF_TOKEN/HF_HOME at it before any
# test module imports huggingface_hub. The endpoint is loopback: no test can reach the real Hub.
pytest_plugins = ["conformance.hub.pytest_plugin", "pytester"]


class NetworkBlocked(AssertionError):
    """Raised by the `no_network` fixture on any connection attempt."""


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list:
    """Fail any socket connection (loopback included); returns the list of attempted addresses."""
    return block_network(monkeypatch)


@pytest.fixture
def no_network_later(monkeypatch: pytest.MonkeyPatch):
    """Call it to block the network from that point of the test on; returns the attempts list."""
    return lambda: block_network(monkeypatch)


def block_network(monkeypatch: pytest.MonkeyPatch) -> list:
    attempts: list = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise NetworkBlocked(f"network access attempted: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: refuse(None, address))
    return attempts
