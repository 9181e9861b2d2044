"""pytest11 entry point of the conformance suite.

Inactive unless `--backend` is given. Then it parametrizes the checks in `conformance/checks/`
over backend x zoo model, applies expectations and declared capabilities, and writes every
outcome to the run record as soon as it is known.

Loading this module stays cheap: it imports no runtime (onnxruntime, openvino, IPEX, optimum)
and neither torch nor huggingface_hub.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conformance import catalogue

_PROPERTY = "conformance"
EMBEDDED_HUB_TIMEOUT_S = 4
_SCOPE_DEFAULT = "one"


@dataclass
class State:
    """Everything the plugin keeps for one session (in `config.stash`)."""

    specs: list[Any]
    selectors: dict[str, str]  # spec name -> the --backend value that selected it
    filters: tuple[list[str] | None, list[str] | None]  # --arch, --task
    export_root: Path | None
    expectations: list[Any] = field(default_factory=list)
    matched: set[int] = field(default_factory=set)
    writer: Any = None
    cleanup_hub: bool = False
    written: set[str] = field(default_factory=set)
    cache: Any = None
    shard: tuple[int, int] = (0, 1)


STATE = pytest.StashKey[State]()
CONTEXT = pytest.StashKey[Any]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(
        "conformance", "optimum-conformance: check a backend against the OptimizedModel contract"
    )
    group.addoption(
        "--backend",
        action="append",
        default=[],
        help="backend to check (repeatable): a built-in "
        "name, an entry point of group optimum_conformance.backends, module:attr of a BackendSpec, "
        "or a module path whose classes follow the Optimum naming",
    )
    group.addoption("--results", default=None, help="write the run record (JSON lines) here")
    group.addoption(
        "--export-cache",
        default=None,
        help="folder caching exported models by content key (default: the zoo cache; 'none' disables)",
    )
    group.addoption(
        "--check-timeout", type=float, default=900.0, help="seconds per check (needs pytest-timeout)"
    )
    group.addoption("--arch", action="append", default=None, help="only these zoo architectures (repeatable)")
    group.addoption("--task", action="append", default=None, help="only these tasks (repeatable)")
    group.addoption("--shard", default="0/1", help="run shard I of N (I/N), by a stable hash of the test id")
    group.addoption(
        "--hub-endpoint",
        default=None,
        help="run the Hub checks against this Hub instead of the "
        "embedded one (repos are created under a unique prefix and deleted afterwards)",
    )
    group.addoption("--hub-token", default=None, help="write token for --hub-endpoint (never recorded)")


def pytest_configure(config: pytest.Config) -> None:
    for family in catalogue.FAMILIES:
        config.addinivalue_line("markers", f"{family}: conformance checks of the {family}.* family")
    config.addinivalue_line("markers", "core: checks of what the Optimum contract promises")
    config.addinivalue_line("markers", "hub: checks that talk to a Hub (embedded, or --hub-endpoint)")
    config.addinivalue_line("markers", "strict: checks of what the reference guarantees beyond the contract")
    config.addinivalue_line(
        "markers", "models(scope): which zoo models a check runs on (zoo, text, pair, one, real)"
    )
    config.addinivalue_line(
        "markers", "precision_tiers: runs once per precision tier the backends declare (not fp32)"
    )
    config.addinivalue_line(
        "markers", "last_of_case: runs after every other check of its case (it may leave the model unusable)"
    )
    selectors = config.getoption("backend")
    if not selectors:
        return
    from conformance import backends, expectations, zoo
    from conformance.cases import SessionCache
    from conformance.hubaccess import HubAccess

    config.pluginmanager.import_plugin("conformance.integrity")
    endpoint = config.getoption("hub_endpoint")
    if endpoint:  # before anything imports huggingface_hub, which reads these once
        os.environ["HF_ENDPOINT"] = endpoint.rstrip("/")
        if config.getoption("hub_token"):
            os.environ["HF_TOKEN"] = config.getoption("hub_token")
    else:
        config.pluginmanager.import_plugin("conformance.hub.pytest_plugin")
        # The embedded Hub answers on loopback: a silent answer is a fault, so give up on it sooner
        # than huggingface_hub's default of 10 s (input.hub_faults goes shorter still).
        for name in ("HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT"):
            os.environ.setdefault(name, str(EMBEDDED_HUB_TIMEOUT_S))

    specs, by_name = [], {}
    for selector in selectors:
        try:
            spec = backends.resolve(selector)
        except backends.BackendError as error:
            raise pytest.UsageError(str(error)) from None
        specs.append(spec)
        by_name[spec.name] = selector
        config.addinivalue_line("markers", f"{backend_marker(spec.name)}: checks of backend {spec.name}")
    cache_option = config.getoption("export_cache")
    export_root = None if cache_option == "none" else Path(cache_option or zoo.cache_root() / "exports")
    if export_root is not None:
        export_root.mkdir(parents=True, exist_ok=True)
    state = State(specs, by_name, (config.getoption("arch"), config.getoption("task")), export_root)
    state.shard = _parse_shard(config.getoption("shard"))
    for spec in specs:
        if spec.expectations:
            try:
                state.expectations += expectations.load(spec.expectations)
            except expectations.ExpectationError as error:
                raise pytest.UsageError(str(error)) from None
    state.cache = SessionCache(export_root)
    state.cache.hub = HubAccess(prefix="conformance" if not endpoint else f"conformance-{os.getpid()}")
    state.cleanup_hub = bool(endpoint)
    results = config.getoption("results")
    if results and not hasattr(config, "workerinput"):  # one writer: the xdist controller
        from conformance.record import RecordWriter

        state.writer = RecordWriter(results)
        state.writer.run(
            [{"name": s.name, "version": s.version(), "runtime": s.runtime_versions()} for s in specs],
            state.shard,
            sys.argv,
        )
        config.pluginmanager.register(Recorder(state), "conformance-recorder")
    config.stash[STATE] = state


def _parse_shard(value: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)/(\d+)", value or "0/1")
    if not match or int(match[1]) >= int(match[2]):
        raise pytest.UsageError(f"--shard {value!r}: use I/N with 0 <= I < N, e.g. 0/2")
    return int(match[1]), int(match[2])


def backend_marker(name: str) -> str:
    return "backend_" + re.sub(r"\W", "_", name)


# ---------------------------------------------------------------------- parametrization


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" not in metafunc.fixturenames:
        return
    state = metafunc.config.stash.get(STATE, None)
    if state is None:
        raise pytest.UsageError(
            "conformance checks need --backend NAME (see `optimum-conformance run --help`)"
        )
    from conformance.cases import Case

    marker = metafunc.definition.get_closest_marker("models")
    scope = marker.args[0] if marker else _SCOPE_DEFAULT
    models = _models(scope, state.filters)
    if metafunc.definition.get_closest_marker("precision_tiers"):
        # Every tier any selected backend declares, for every backend: one without it is unsupported.
        tiers = sorted({tier for spec in state.specs for tier in spec.precisions})
        cases = [Case(spec, model, tier) for spec in state.specs for tier in tiers for model in models]
    else:
        cases = [Case(spec, model) for spec in state.specs for model in models]
    metafunc.parametrize(
        "case", [pytest.param(c, id=c.id, marks=pytest.mark.xdist_group(c.id)) for c in cases]
    )


def _models(scope: str, filters: tuple[list[str] | None, list[str] | None]) -> list[Any]:
    from conformance import zoo

    archs, tasks = filters
    everything = list(zoo.models(archs, tasks))
    chosen = {
        "zoo": everything,
        "text": [m for m in everything if m.spec.modality == "text"],
        "pair": [
            m
            for m in everything
            if (m.arch, m.task) in {("bert", "text-classification"), ("vit", "image-classification")}
        ],
        "one": [m for m in everything if (m.arch, m.task) == ("bert", "text-classification")],
        "real": [m for m in everything if (m.arch, m.task) == ("bert", "feature-extraction")],
        "timm": [m for m in everything if m.spec.library == "timm"],
    }[scope]
    return chosen


@pytest.fixture
def check(request: pytest.FixtureRequest, case: Any, tmp_path: Path) -> Any:
    """The `CheckContext` of this check on this case."""
    from conformance.cases import CheckContext

    state = request.config.stash[STATE]
    context = CheckContext.__new__(CheckContext)  # registered before __init__ so a skip is still recorded
    request.node.stash[CONTEXT] = context
    CheckContext.__init__(context, case, catalogue.check_id(request.node.originalname), state.cache, tmp_path)
    return context


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    state = config.stash.get(STATE, None)
    if state is None:
        return
    timeout = config.getoption("check_timeout")
    has_timeout = config.pluginmanager.hasplugin("timeout")
    kept = []
    for item in items:
        case = _case(item)
        if case is None:
            kept.append(item)
            continue
        check = catalogue.check_id(item.originalname)
        item.add_marker(check.split(".")[0])
        item.add_marker(catalogue.level(check))
        item.add_marker(backend_marker(case.spec.name))
        if has_timeout and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(timeout))
        for index, expectation in enumerate(state.expectations):
            if expectation.matches(item.name):
                state.matched.add(index)
                item.add_marker(
                    pytest.mark.xfail(reason=f"{expectation.reason} ({expectation.link})", strict=True)
                )
                item.stash[EXPECTATION] = expectation
                break
        if _in_shard(item.nodeid, state.shard):
            kept.append(item)
    if hasattr(config, "workeroutput"):  # a pytest-xdist worker: the controller collects nothing
        config.workeroutput["conformance_matched"] = sorted(state.matched)
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
    items[:] = _last_of_case_moved(kept)


def _last_of_case_moved(items: list[pytest.Item]) -> list[pytest.Item]:
    """Each `last_of_case` check moved to just after the last other check of its case, which keeps
    a case's checks on one worker (its xdist group) and its exported model in the cache."""
    last_index = {_case(item).id: index for index, item in enumerate(items) if _case(item) is not None}
    deferred: dict[int, list[pytest.Item]] = {}
    ordered = []
    for index, item in enumerate(items):
        case = _case(item)
        if case is not None and item.get_closest_marker("last_of_case"):
            deferred.setdefault(last_index[case.id], []).append(item)
        else:
            ordered.append(item)
        ordered.extend(deferred.pop(index, []))
    return ordered


EXPECTATION = pytest.StashKey[Any]()


def _case(item: pytest.Item) -> Any:
    """The Case a check item runs on, or None (not a check, or an empty parameter set)."""
    from conformance.cases import Case

    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("case") if callspec is not None else None
    return case if isinstance(case, Case) else None


def _in_shard(node_id: str, shard: tuple[int, int]) -> bool:
    import zlib

    return zlib.crc32(node_id.encode()) % shard[1] == shard[0]


# ---------------------------------------------------------------------- outcomes


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    outcome = yield
    report = outcome.get_result()
    state = item.config.stash.get(STATE, None)
    case = _case(item)
    if state is None or case is None:
        return
    context = item.stash.get(CONTEXT, None)
    expectation = item.stash.get(EXPECTATION, None)
    check = catalogue.check_id(item.originalname)
    props = {
        "check": check,
        "level": catalogue.level(check),
        "backend": case.spec.name,
        "task": case.task,
        "arch": case.arch,
        "precision": case.precision,
        "stage": getattr(context, "stage", None),
        "metrics": _jsonable(getattr(context, "metrics", {})),
        "repro": repro(state.selectors.get(case.spec.name, case.spec.name), item.name),
        "expectation": _expectation_props(expectation),
    }
    report.user_properties.append((_PROPERTY, props))


def _expectation_props(expectation: Any) -> dict[str, str] | None:
    if expectation is None:
        return None
    return {"outcome": expectation.outcome, "reason": expectation.reason, "link": expectation.link}


def repro(selector: str, test_name: str) -> str:
    return f"pytest --pyargs conformance --backend {shlex.quote(selector)} -k {shlex.quote(test_name)}"


def _jsonable(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, (int, float, str)) or v is None else str(v) for k, v in metrics.items()}


class Recorder:
    """Writes one result line per test, where reports arrive (the xdist controller, or the only process)."""

    def __init__(self, state: State) -> None:
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        state = self.state
        if state.writer is None or report.nodeid in state.written:
            return
        props = dict(report.user_properties).get(_PROPERTY)
        if report.when == "???":  # pytest-xdist: the worker died while running this test
            props = props or _props_from_node_id(report.nodeid, state)
            if props is None:
                return
            outcome = "xfailed" if hasattr(report, "wasxfail") else "crashed"
            result = _result(report, props, outcome, _text(report))
        elif props is None:
            return
        elif report.when == "call" or (report.when == "setup" and not report.passed):
            outcome, message = classify(report)
            result = _result(report, props, outcome, message)
        else:
            return
        state.written.add(report.nodeid)
        state.writer.result(result)


def _result(report: pytest.TestReport, props: dict[str, Any], outcome: str, message: str) -> dict[str, Any]:
    failed = outcome in ("failed", "crashed", "timeout", "error")
    return {
        "test_id": report.nodeid,
        "check": props["check"],
        "level": props["level"],
        "backend": props["backend"],
        "task": props["task"],
        "arch": props["arch"],
        "precision": props.get("precision") or "fp32",
        "outcome": outcome,
        "stage": (props.get("stage") or "infer") if failed and outcome != "error" else None,
        "duration_s": round(float(getattr(report, "duration", 0.0) or 0.0), 4),
        "message": message[:4000],
        "repro": props["repro"],
        "metrics": props.get("metrics") or {},
        "expectation": props.get("expectation"),
    }


def classify(report: pytest.TestReport) -> tuple[str, str]:
    """(outcome, message) of a setup or call report, in the DESIGN.md vocabulary."""
    from conformance.cases import NOT_RUN, UNSUPPORTED

    text = _text(report)
    if report.skipped:
        if hasattr(report, "wasxfail"):
            return "xfailed", report.wasxfail
        reason = _skip_reason(report)
        if reason.startswith(UNSUPPORTED):
            return "unsupported", reason[len(UNSUPPORTED) :]
        return "not_run", reason.removeprefix(NOT_RUN)
    if report.passed:
        return (
            ("xpassed", f"expected to fail: {report.wasxfail}")
            if hasattr(report, "wasxfail")
            else ("passed", "")
        )
    if "[XPASS(strict)]" in text:
        return "xpassed", text.strip()
    if "Timeout" in text and "pytest-timeout" in text:
        return "timeout", text.strip().splitlines()[-1] if text.strip() else "timeout"
    if report.when != "call":
        return "error", text
    return "failed", text


def _text(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message
    return str(report.longrepr or "")


def _skip_reason(report: pytest.TestReport) -> str:
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return str(report.longrepr or "")


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the pytest-xdist controller: which expectations the worker's collection matched."""
    state = node.config.stash.get(STATE, None)
    if state is not None:
        state.matched.update(getattr(node, "workeroutput", {}).get("conformance_matched", ()))


@pytest.hookimpl(optionalhook=True)
def pytest_handlecrashitem(crashitem: str, report: Any, sched: Any) -> None:
    """A known crash is an expected failure: it holds its expectation (recorded as xfailed)."""
    state = sched.config.stash.get(STATE, None) if hasattr(sched, "config") else None
    expectation = _expectation_for(crashitem, state)
    if expectation is not None:
        report.outcome, report.wasxfail = "skipped", f"{expectation.reason} ({expectation.link})"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`optimum-conformance run` uses --dist loadgroup; its scheduler, as of pytest-xdist 3.8,
    hangs after a worker crash (see CrashSafeScheduling)."""
    if config.stash.get(STATE, None) is None or config.getoption("dist", None) != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class CrashSafeScheduling(LoadGroupScheduling):
        """After a crash pytest-xdist re-queues the dead worker's whole workload, finished groups
        and the crashed test included, and gives the replacement one group: a worker keeps its
        last test until more work or a shutdown comes, so a one-test group never runs. Here only
        what is unfinished is re-queued, the crashed test is not run again (it is recorded as
        crashed), and a replacement gets work until it holds two tests or the queue is empty."""

        def remove_node(self, node: Any) -> str | None:
            workload = self.assigned_work.pop(node)
            pending = [nodeid for unit in workload.values() for nodeid, done in unit.items() if not done]
            if not pending:
                return None
            for scope, unit in workload.items():
                if pending[0] in unit:
                    unit[pending[0]] = True
                if not all(unit.values()):
                    self.workqueue[scope] = unit
            for other in self.assigned_work:
                self._reschedule(other)
            return pending[0]

        def schedule(self) -> None:
            rescheduling = self.collection is not None
            super().schedule()
            if rescheduling:  # a replacement worker joined
                for node in self.nodes:
                    if node in self.registered_collections:
                        self._reschedule(node)

    return CrashSafeScheduling(config, log)


def _expectation_for(node_id: str, state: State | None) -> Any:
    name = node_id.rpartition("::")[2]
    matches = [e for e in state.expectations if e.matches(name)] if state is not None else []
    return matches[0] if matches else None


def _props_from_node_id(node_id: str, state: State) -> dict[str, Any] | None:
    """Check, backend, task and arch from `path::test_family_name[backend-task-arch]`."""
    from conformance import zoo

    match = re.search(r"::(test_\w+)\[(.+)\]$", node_id)
    if not match:
        return None
    check, param = catalogue.check_id(match[1]), match[2]
    for spec in state.specs:
        if param.startswith(spec.name + "-"):
            rest, precision = param[len(spec.name) + 1 :], "fp32"
            for tier in {tier for other in state.specs for tier in other.precisions}:
                if rest.startswith(tier + "-"):
                    rest, precision = rest[len(tier) + 1 :], tier
            for task in sorted(zoo.AUTO_CLASSES, key=len, reverse=True):
                if rest.startswith(task + "-"):
                    return {
                        "check": check,
                        "level": catalogue.level(check),
                        "backend": spec.name,
                        "task": task,
                        "arch": rest[len(task) + 1 :],
                        "precision": precision,
                        "stage": None,
                        "metrics": {},
                        "repro": repro(state.selectors.get(spec.name, spec.name), f"{match[1]}[{param}]"),
                        "expectation": _expectation_props(_expectation_for(node_id, state)),
                    }
    return None


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


STALE = pytest.StashKey[list]()


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
    from collections import Counter

    from reports.model import SCORED, pass_rate
    from reports.render import pct

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
