"""Command-line options, and the session `State` they build when --backend is given.

Without --backend the plugin stays inactive (a plain pytest run of other tests is unaffected).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from conformance import catalogue
from conformance.engine.state import STATE, State

EMBEDDED_HUB_TIMEOUT_S = 4
"""huggingface_hub's etag/download timeouts against the embedded Hub: it answers on loopback, so
a silent answer is a fault; give up on it sooner than the client's default of 10 s
(input.hub_faults goes shorter still)."""


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
        help="folder caching exported models by content key, and torch inductor's compiled kernels in its "
        "torchinductor/ subfolder (default: the zoo cache; 'none' disables both)",
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
    selectors = config.getoption("backend")
    if selectors:
        config.stash[STATE] = _session_state(config, selectors)


def _session_state(config: pytest.Config, selectors: list[str]) -> State:
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
        keep_compiled_kernels(export_root)
    scratch = getattr(config, "workerinput", {}).get("conformance_scratch")  # the controller removes it
    cache = SessionCache(export_root, **({"scratch": Path(scratch)} if scratch else {}))
    cache.hub = HubAccess(prefix="conformance" if not endpoint else f"conformance-{os.getpid()}")
    state = State(
        specs,
        by_name,
        (config.getoption("arch"), config.getoption("task")),
        export_root,
        cache,
        shard=parse_shard(config.getoption("shard")),
        cleanup_hub=bool(endpoint),
    )
    for spec in specs:
        if spec.expectations:
            try:
                state.expectations += expectations.load(spec.expectations)
            except expectations.ExpectationError as error:
                raise pytest.UsageError(str(error)) from None
    results = config.getoption("results")
    if results and not hasattr(config, "workerinput"):  # one writer: the xdist controller
        from conformance import catalogue, families
        from conformance.record import RecordWriter

        state.writer = RecordWriter(results)
        state.writer.run(
            [{"name": s.name, "version": s.version(), "runtime": s.runtime_versions()} for s in specs],
            state.shard,
            sys.argv,
            tasks=list(families.tasks()),
            clauses=[{"id": c.id, "level": c.level, "doc": c.doc} for c in catalogue.clauses().values()],
        )
        from conformance.engine.recorder import Recorder

        config.pluginmanager.register(Recorder(state), "conformance-recorder")
    return state


INDUCTOR_CACHE = "torchinductor"


def keep_compiled_kernels(export_root: Path) -> None:
    """Keep torch inductor's compile cache under the export cache instead of the temp folder.

    A backend that torch.compiles its model (optimum-ipex) spends most of a cold run compiling one
    graph per case and input shape; inductor caches the result by the graph's content (torch's
    version included), so a later run, a CI env or another shard on the machine reuses it
    (optimum-ipex's bert text-classification checks: 89.7 s cold, 55.1 s warm; README). A folder
    the user set with TORCHINDUCTOR_CACHE_DIR wins; workers inherit the variable, and inductor reads
    it at each compile, so setting it before the first one is enough.
    """
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(export_root / INDUCTOR_CACHE))


def parse_shard(value: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)/(\d+)", value or "0/1")
    if not match or int(match[1]) >= int(match[2]):
        raise pytest.UsageError(f"--shard {value!r}: use I/N with 0 <= I < N, e.g. 0/2")
    return int(match[1]), int(match[2])


def backend_marker(name: str) -> str:
    return "backend_" + re.sub(r"\W", "_", name)
