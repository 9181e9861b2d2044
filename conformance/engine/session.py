"""The end of a session: stale expectations fail the run, the record is closed, the summary printed."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from conformance.engine.state import STALE, STATE


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None:
        return
    stale = [e for i, e in enumerate(state.expectations) if i not in state.matched]
    if stale and not hasattr(session.config, "workerinput"):
        session.config.stash[STALE] = stale
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if state.writer is not None:
        state.writer.end(int(session.exitstatus))
        state.writer = None
    if state.cleanup_hub:
        state.cache.hub.cleanup()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave nothing in the temp folder: each process's saved exports and, on the controller, the
    workers' folder (after every report, a crashed worker's included, has been read)."""
    state = config.stash.get(STATE, None)
    if state is None:
        return
    shutil.rmtree(state.cache.scratch, ignore_errors=True)
    if state.workers_dir is not None:
        shutil.rmtree(state.workers_dir, ignore_errors=True)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None:
        return
    for expectation in config.stash.get(STALE, []):
        terminalreporter.write_line(
            f"STALE EXPECTATION ({expectation.source}): {expectation.test!r} matches no test; remove or fix it",
            red=True,
        )
    results = config.getoption("results")
    if results and Path(results).is_file():
        terminalreporter.write_sep("-", "conformance summary")
        for line in summary_lines(Path(results)):
            terminalreporter.write_line(line)


def summary_lines(path: Path) -> list[str]:
    """Counts by outcome and core/strict pass rates per backend, from a run record; the rates are
    the report's (same formula, same rounding down), so the terminal and the site agree."""
    from reports.schema import SCORED
    from reports.score import pass_rate, pct

    rows: dict[str, dict[str, Counter[str]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("type") != "result":
            continue
        row = rows.setdefault(record["backend"], {"core": Counter(), "strict": Counter()})
        for level in ("core", "strict") if record["level"] == "core" else ("strict",):
            row[level][record["outcome"]] += 1
    lines = []
    for backend, row in rows.items():
        counts = ", ".join(f"{n} {o}" for o, n in sorted(row["strict"].items()))
        rates = "  ".join(
            f"{level} {pct(pass_rate(row[level]))} ({row[level]['passed']}/{sum(row[level][o] for o in SCORED)})"
            for level in ("core", "strict")
        )
        lines.append(f"{backend}: {rates}  [{counts}]")
    lines.append(f"record: {os.fspath(path)}")
    return lines
