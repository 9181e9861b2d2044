"""Outcomes that are not pass or fail, as exception types, and the classification of a report.

A check (or the context building its case) raises `Unsupported` when the backend's spec declares
the capability absent, and `NotRun` when the check cannot run here (a missing optional package, a
CPU without bf16, no declared task offering what the clause needs). Both are pytest `Skipped`
subclasses, so pytest reports them as skips; the recorder tells them apart by type, never by the
wording of a reason.
"""

from __future__ import annotations

from typing import NoReturn

import pytest
from _pytest.outcomes import Skipped


class NotRun(Skipped):
    """The check cannot run here; never a pass, never a failure."""


class Unsupported(Skipped):
    """The backend's spec declares what the check needs absent."""


def not_run(reason: str) -> NoReturn:
    raise NotRun(reason)


def unsupported(reason: str) -> NoReturn:
    raise Unsupported(reason)


SKIP_KINDS: dict[type[Skipped], str] = {Unsupported: "unsupported", NotRun: "not_run"}


def skip_kind(excinfo: pytest.ExceptionInfo[BaseException] | None) -> str | None:
    """ "unsupported" / "not_run" for our skips, "not_run" for any other skip, None otherwise."""
    if excinfo is None or not isinstance(excinfo.value, Skipped):
        return None
    return next((kind for cls, kind in SKIP_KINDS.items() if isinstance(excinfo.value, cls)), "not_run")


def classify(
    report: pytest.TestReport, kind: str | None, timed_out: bool, skip_reason: str | None = None
) -> tuple[str, str]:
    """(outcome, message) of a setup or call report. `kind` and `skip_reason` are the skip the
    worker saw (kind and message), `timed_out` whether pytest-timeout ended the test."""
    text = report_text(report)
    if report.skipped:
        if hasattr(report, "wasxfail"):
            return "xfailed", report.wasxfail
        return kind or "not_run", skip_reason if skip_reason is not None else _skip_reason(report)
    if report.passed:
        if hasattr(report, "wasxfail"):
            return "xpassed", f"expected to fail: {report.wasxfail}"
        return "passed", ""
    if "[XPASS(strict)]" in text:
        return "xpassed", text.strip()
    if timed_out:
        return "timeout", text.strip().splitlines()[-1] if text.strip() else "timeout"
    if report.when != "call":
        return "error", text
    return "failed", text


def report_text(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message
    return str(report.longrepr or "")


def _skip_reason(report: pytest.TestReport) -> str:
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return str(report.longrepr or "")
