"""Threads per xdist worker: N workers on C cores each get C // N (at least 1) OpenMP threads.

Torch runs the PyTorch oracle and every export through OpenMP, which by default takes every core in
every worker: two workers on two cores then run two-thread kernels against each other, and the
meta-tests' runs took 17 % longer (45.7-49.3 s against 39.6-40.3 s for one slice, measured three
times each). The controller sets `OMP_NUM_THREADS` before it starts the workers, which inherit it;
a value the user set wins, and a run without workers is left alone.
"""

from __future__ import annotations

import os

import pytest

from conformance.engine.state import STATE


@pytest.hookimpl(trylast=True)  # after xdist has turned -n auto into a number
def pytest_configure(config: pytest.Config) -> None:
    if config.stash.get(STATE, None) is None or hasattr(config, "workerinput"):
        return
    workers = config.getoption("numprocesses", None)
    if not isinstance(workers, int) or workers < 1:
        return
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, len(os.sched_getaffinity(0)) // workers)))
