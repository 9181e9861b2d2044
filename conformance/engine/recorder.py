"""Case properties on every report, and one run-record line per test, written where reports arrive.

The worker attaches the case properties (clause, level, backend, task, arch, tier, repro, and the
stage, metrics and skip kind the check reached) to each report as a user property. The controller
(or the only process) writes one result line per test from them. A worker that dies takes no
report with it: the controller then finds the properties of the test it died on in the case file
the worker wrote after collection (`case_file`), so a crash is recorded without parsing node ids.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from conformance.engine.outcomes import classify, report_text, skip_kind
from conformance.engine.state import CONTEXT, PROPS, STATE, State

if TYPE_CHECKING:
    from conformance.cases import Case
    from conformance.catalogue import Clause
    from conformance.expectations import Expectation

USER_PROPERTY = "conformance"


def case_props(
    state: State, item: pytest.Item, declared: Clause, case: Case, expectation: Expectation | None
) -> dict[str, Any]:
    """What every result line of this item says, known at collection."""
    return {
        "check": declared.id,
        "level": declared.level,
        "backend": case.spec.name,
        "task": case.task,
        "arch": case.arch,
        "precision": case.precision,
        "repro": repro(state.selectors.get(case.spec.name, case.spec.name), item.name),
        "expectation": (
            {"outcome": expectation.outcome, "reason": expectation.reason, "link": expectation.link}
            if expectation is not None
            else None
        ),
    }


def repro(selector: str, test_name: str) -> str:
    return f"pytest --pyargs conformance --backend {shlex.quote(selector)} -k {shlex.quote(test_name)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    props = item.stash.get(PROPS, None)
    if props is None:
        return
    context = item.stash.get(CONTEXT, None)
    report = outcome.get_result()
    kind = skip_kind(call.excinfo)
    report.user_properties.append(
        (
            USER_PROPERTY,
            {
                **props,
                "stage": getattr(context, "stage", None),
                "metrics": _jsonable(getattr(context, "metrics", {})),
                "skip_kind": kind,
                "skip_reason": getattr(call.excinfo.value, "msg", None) if kind else None,
                "timed_out": _timed_out(call.excinfo),
            },
        )
    )


def _timed_out(excinfo: pytest.ExceptionInfo[BaseException] | None) -> bool:
    """pytest-timeout (signal method) ends a test with `pytest.fail` and its own message."""
    if excinfo is None or not isinstance(excinfo.value, pytest.fail.Exception):
        return False
    try:
        from pytest_timeout import PYTEST_FAILURE_MESSAGE
    except ImportError:
        return False
    return re.fullmatch(re.escape(PYTEST_FAILURE_MESSAGE).replace("%s", ".+"), excinfo.value.msg) is not None


def _jsonable(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, (int, float, str)) or v is None else str(v) for k, v in metrics.items()}


class Recorder:
    """Writes one result line per test (registered on the process that owns the run record)."""

    def __init__(self, state: State) -> None:
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        state = self.state
        if state.writer is None or report.nodeid in state.written:
            return
        props = dict(report.user_properties).get(USER_PROPERTY)
        if props is not None:
            state.props.setdefault(report.nodeid, props)
        if report.when == "???":  # pytest-xdist: the worker died while running this test
            props = props or state.props.get(report.nodeid) or _from_case_files(state, report.nodeid)
            if props is None:
                return
            outcome, message = ("xfailed" if hasattr(report, "wasxfail") else "crashed"), report_text(report)
        elif props is None:
            return
        elif report.when == "call" or (report.when == "setup" and not report.passed):
            outcome, message = classify(
                report, props.get("skip_kind"), props.get("timed_out", False), props.get("skip_reason")
            )
        else:
            return
        state.written.add(report.nodeid)
        state.writer.result(_line(report, props, outcome, message))


def _line(report: pytest.TestReport, props: dict[str, Any], outcome: str, message: str) -> dict[str, Any]:
    from reports.schema import result_line

    failed = outcome in ("failed", "crashed", "timeout")
    return result_line(
        test_id=report.nodeid,
        check=props["check"],
        level=props["level"],
        backend=props["backend"],
        task=props["task"],
        arch=props["arch"],
        precision=props.get("precision") or "fp32",
        outcome=outcome,
        stage=(props.get("stage") or "infer") if failed else None,
        duration_s=round(float(getattr(report, "duration", 0.0) or 0.0), 4),
        message=message,
        repro=props["repro"],
        metrics=props.get("metrics") or {},
        expectation=props.get("expectation"),
    )


# ---------------------------------------------------------------------- case files (xdist crashes)


def case_file(workers_dir: Path, worker: str) -> Path:
    return workers_dir / f"{worker}.json"


def write_case_file(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker, after collection: node id -> case properties, for the controller."""
    workers_dir = getattr(config, "workerinput", {}).get("conformance_workers_dir")
    if not workers_dir:
        return
    table = {item.nodeid: props for item in items if (props := item.stash.get(PROPS, None)) is not None}
    target = case_file(Path(workers_dir), config.workerinput["workerid"])  # type: ignore[attr-defined]
    fd, staging = tempfile.mkstemp(dir=workers_dir, prefix=".cases-")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(table, out)
    os.replace(staging, target)


def _from_case_files(state: State, node_id: str) -> dict[str, Any] | None:
    if state.workers_dir is None:
        return None
    for path in sorted(state.workers_dir.glob("*.json")):
        props = json.loads(path.read_text(encoding="utf-8")).get(node_id)
        if props is not None:
            return props
    return None


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.stash.get(STATE, None) is not None:
        write_case_file(session.config, session.items)
