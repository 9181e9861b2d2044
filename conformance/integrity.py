"""Process state a check must leave as it found it.

One check that leaves torch's process-wide state changed breaks every check after it in the same
worker, far from the cause: transformers builds models under a swapped `nn.Module.register_parameter`
(meta device), and a backend may set a default dtype or device and never reset it. After each check
this plugin compares that state with the session's start; a change is restored at once, and the check
that made it fails with `ProcessStateChanged`, naming what it changed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Generator
from typing import Any

import pytest


class ProcessStateChanged(AssertionError):
    """A check left torch's process-wide state changed (restored before the next check)."""


def _probes(torch: Any) -> dict[str, tuple[Callable[[], Any], Callable[[Any], None]]]:
    """name -> (read, restore) of each process-wide setting watched."""
    module = torch.nn.Module

    def attribute(name: str) -> tuple[Callable[[], Any], Callable[[Any], None]]:
        return (lambda: module.__dict__[name]), (lambda value: setattr(module, name, value))

    probes = {
        "nn.Module.register_parameter": attribute("register_parameter"),
        "nn.Module.register_buffer": attribute("register_buffer"),
        "torch default dtype": (torch.get_default_dtype, torch.set_default_dtype),
    }
    if hasattr(torch, "get_default_device"):  # torch >= 2.3
        probes["torch default device"] = (torch.get_default_device, torch.set_default_device)
    return probes


_BASELINE: dict[str, Any] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, None]:
    torch = sys.modules.get("torch")
    probes = _probes(torch) if torch is not None else {}
    for name, (read, _) in probes.items():
        _BASELINE.setdefault(name, read())  # first seen before any check ran it
    outcome = yield
    changed = []
    for name, (read, restore) in probes.items():
        now = read()
        if now != _BASELINE[name]:
            changed.append(f"{name} ({_BASELINE[name]!r} -> {now!r})")
            restore(_BASELINE[name])
    if changed:
        error = ProcessStateChanged(
            f"this check left process-wide state changed, restored before the next check: {'; '.join(changed)}"
        )
        if outcome.excinfo is None:
            outcome.force_exception(error)
