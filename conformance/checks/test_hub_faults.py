"""input.hub_faults: a failing, cut or slow Hub during push and pull.

Each scenario injects one fault into the embedded Hub (scoped to a fresh repo), runs the call in a
thread with a time bound, and then checks the aftermath on both sides: the repo on the server is
exactly as before a failed push, and the cache holds no partial file after a failed pull (the
`.incomplete` resume buffers of huggingface_hub are allowed: they are never served as files), so
the same call succeeds once the fault is gone.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from packaging.specifiers import SpecifierSet

from conformance.cases import CheckContext
from conformance.catalogue import clause
from conformance.checks.helpers import parity_of, snapshot
from conformance.engine.outcomes import not_run

pytestmark = pytest.mark.hub

# While faults are injected the client gives up on a silent answer after CLIENT_TIMEOUT_S and
# retries a 5xx answer or a cut connection five times, RETRY_WAITS_S apart (huggingface_hub's own
# defaults: 10 s, and waits of 1+2+4+8+8 s). A call still running after BOUND_SECONDS hangs.
BOUND_SECONDS = 60.0
CLIENT_TIMEOUT_S = 2
RETRY_WAITS_S = (0.05, 0.2)  # first wait, longest wait
# A stalled answer outlasts the client's timeout: it must be given up on, then retried or reported.
STALL_SECONDS = CLIENT_TIMEOUT_S + 2.0

# The huggingface_hub releases that report, instead of retrying, one /resolve/ answer stalled past the
# client's timeout before its headers, by method (every other release retries it once, and loads):
# - HEAD, a file's metadata: 0.x retries any timeout in http_backoff [1]; 1.0 and 1.1 ask once with
#   retries off [2]; from 1.2 a timed-out first ask is asked again, retries on, when the cache has no
#   copy [3].
# - GET, a file's body: 0.x goes through http_backoff too [4]; 1.0 to 1.30 open the stream with
#   retries off [5] and resume only a body already under way [6], so the ReadTimeout reaches the
#   caller (reference-ort on 1.21 fails with it); from 1.31 the resume covers opening the stream [7].
# [1] https://github.com/huggingface/huggingface_hub/blob/v0.36.2/src/huggingface_hub/utils/_http.py#L221
# [2] https://github.com/huggingface/huggingface_hub/blob/v1.1.7/src/huggingface_hub/file_download.py#L289
# [3] https://github.com/huggingface/huggingface_hub/blob/v1.21.0/src/huggingface_hub/file_download.py#L1143-L1157
# [4] https://github.com/huggingface/huggingface_hub/blob/v0.36.2/src/huggingface_hub/file_download.py#L423-L424
# [5] https://github.com/huggingface/huggingface_hub/blob/v1.21.0/src/huggingface_hub/file_download.py#L372-L378
# [6] https://github.com/huggingface/huggingface_hub/blob/v1.21.0/src/huggingface_hub/file_download.py#L440
# [7] https://github.com/huggingface/huggingface_hub/blob/v1.31.0/src/huggingface_hub/file_download.py#L383-L386 (its except: L459)
STALL_REPORTED_BY = {"HEAD": SpecifierSet(">=1.0,<1.2"), "GET": SpecifierSet(">=1.0,<1.31")}


class Expected(Enum):
    """What a pull under a fault must end in."""

    LOADS = "loads"  # a slow server, or a stall the client retries
    FAILS = "fails cleanly"  # a fault that lasts
    # A stall the client reports: the backend retries it itself, or lets the report through cleanly.
    LOADS_OR_FAILS = "loads, or fails cleanly"


def after_one_stall(method: str) -> Expected:
    """What one stalled `method` answer on /resolve/ must end in with the installed client."""
    client = importlib.metadata.version("huggingface_hub")
    reported = STALL_REPORTED_BY[method].contains(client, prereleases=True)
    return Expected.LOADS_OR_FAILS if reported else Expected.LOADS


@contextmanager
def fast_failing_client() -> Iterator[None]:
    """Short timeouts and retry waits for huggingface_hub while faults are injected, so the check
    waits on no default. Every retry still reaches the server and the backend still sees the client
    give up; only the idle time shrinks. The timeouts are module constants read at each call; the
    back-off waits are keyword defaults of http_backoff, which no caller passes."""
    from huggingface_hub import constants
    from huggingface_hub.utils import _http

    functions = [_http.http_backoff]
    streaming = getattr(_http, "http_stream_backoff", None)  # huggingface_hub >= 1.0 downloads
    if streaming is not None:
        functions.append(getattr(streaming, "__wrapped__", streaming))  # under @contextmanager
    saved = [(f, f.__kwdefaults__) for f in functions if "base_wait_time" in (f.__kwdefaults__ or {})]
    timeouts = {n: getattr(constants, n) for n in ("HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT")}
    pin_progress_lock()
    waits = {"base_wait_time": RETRY_WAITS_S[0], "max_wait_time": RETRY_WAITS_S[1]}
    for function, defaults in saved:
        function.__kwdefaults__ = {**defaults, **waits}
    for name in timeouts:
        setattr(constants, name, CLIENT_TIMEOUT_S)
    try:
        yield
    finally:
        for function, defaults in saved:
            function.__kwdefaults__ = defaults
        for name, value in timeouts.items():
            setattr(constants, name, value)


# Errors that say the backend broke on the fault instead of reporting it.
NOT_CLEAN = (AttributeError, TypeError, KeyError, IndexError, NameError, AssertionError, UnboundLocalError)


def bounded(call: Callable[[], Any], seconds: float = BOUND_SECONDS) -> tuple[BaseException | None, float]:
    """Run `call` in a daemon thread; (its exception or None, seconds). TimeoutError if it hangs."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as error:  # handed back to the check
            outcome.append(error)

    start = time.monotonic()
    thread = threading.Thread(target=target, daemon=True, name="hub-fault-call")
    thread.start()
    thread.join(seconds)
    if not outcome:
        raise TimeoutError(f"still running after {seconds:.0f} s")
    return outcome[0], time.monotonic() - start


def clean_failure(error: BaseException | None) -> str | None:
    """Why the outcome of a faulted call is not a clean failure, or None."""
    if error is None:
        return "no error: the call reported success"
    if isinstance(error, NOT_CLEAN) or not isinstance(error, Exception) or not str(error).strip():
        return f"not a clean error: {type(error).__name__}: {str(error)[:200]}"
    return None


def _faults(check: CheckContext) -> Any:
    faults = check.hub.faults
    if faults is None:
        not_run("fault injection needs the embedded Hub (not --hub-endpoint)")
    return faults


# ---------------------------------------------------------------------- push

PUSH_FAULTS = {
    "5xx on preupload": ("status", "POST", r"/preupload/", {"status": 503}),
    "5xx on commit": ("status", "POST", r"/commit/", {"status": 500}),
    "cut mid-upload": ("cut", "PUT", r"/_lfs/", {"cut_after": 512}),
}


def _new_content(folder: Path) -> None:
    """A binary file no repo holds yet, so the push must upload an LFS object (never deduplicated)."""
    (folder / "nonce.bin").write_bytes(b"\0" + os.urandom(64 * 1024))


def _repo_state(check: CheckContext, repo_id: str) -> tuple[list[str], set[str], list[str]]:
    from huggingface_hub import HfApi

    refs = HfApi().list_repo_refs(repo_id, include_pull_requests=True)
    names = sorted([b.name for b in refs.branches] + [p.ref for p in refs.pull_requests or []])
    return [c.commit_id for c in check.hub.commits(repo_id)], check.hub.files(repo_id), names


def _push_scenario(
    check: CheckContext,
    label: str,
    model: Any,
    folder: Path,
    action: str,
    method: str,
    path: str,
    extra: dict,
) -> str:
    repo_id = check.hub.new_repo_id(f"{check.case.id}-fault")
    previous = check.tmp_path / f"previous-{len(label)}-{repo_id[-8:]}"
    previous.mkdir()
    (previous / "README.md").write_text("the version before the faulted push\n")
    with check.at("push"):
        check.hub.publish(previous, repo_id)
        before = _repo_state(check, repo_id)
    fault = _faults(check).fault(action, method, path, times=None, repo_id=repo_id, **extra)
    with fault, check.at("push"):
        error, elapsed = bounded(lambda: model.push_to_hub(folder, repo_id))
    check.metrics.update({f"{label} seconds": round(elapsed, 2), f"{label} error": type(error).__name__})
    problem = clean_failure(error)
    if problem:
        return problem
    with check.at("push"):
        after = _repo_state(check, repo_id)
    if after != before:
        return f"the repo changed: commits {len(before[0])} -> {len(after[0])}, files {sorted(after[1] - before[1])}"
    return ""


def _slow_push(check: CheckContext, model: Any, folder: Path) -> str:
    """A slow (not failing) server: the push still completes, as one commit."""
    repo_id = check.hub.new_repo_id(f"{check.case.id}-slow")
    fault = _faults(check).fault("delay", "POST", r"/commit/", delay=2.0, times=None, repo_id=repo_id)
    with fault, check.at("push"):
        error, elapsed = bounded(lambda: model.push_to_hub(folder, repo_id))
    check.metrics["slow push seconds"] = round(elapsed, 2)
    if error is not None:
        return f"failed on a slow but working server: {type(error).__name__}: {str(error)[:200]}"
    if not set(snapshot(folder)) <= check.hub.files(repo_id):
        return "the repo lacks files after the slow push"
    return ""


# ---------------------------------------------------------------------- pull


def _pull_faults(check: CheckContext) -> dict[str, tuple]:
    """label -> (action, methods, path, fields, expected). A slow server must still work; one
    stalled answer must time out and be retried or reported (which one: see STALL_REPORTED_BY);
    persistent faults must fail cleanly."""
    artifact = r"/resolve/[^/]+/" + re.escape(
        check.spec.artifacts[0] if check.spec.artifacts else "config.json"
    )
    stall = {"delay": STALL_SECONDS, "times": 1}
    return {
        "5xx on resolve": ("status", "GET|HEAD", r"/resolve/", {"status": 502}, Expected.FAILS),
        "cut mid-download": ("cut", "GET", artifact, {"cut_after": 64}, Expected.FAILS),
        "slow server": ("delay", "GET|HEAD", artifact, {"delay": 0.5}, Expected.LOADS),
        "stalled metadata": ("delay", "HEAD", r"/resolve/", stall, after_one_stall("HEAD")),
        "stalled download": ("delay", "GET", r"/resolve/", stall, after_one_stall("GET")),
    }


def _partial_files(cache: Path, published: dict[str, bytes]) -> list[str]:
    """Cache entries that are not a complete copy: a snapshot file that differs from the published
    file, or a blob whose content does not hash to its name (sha256 for LFS, git's sha1 otherwise)."""
    found = []
    for path in sorted(cache.rglob("*")):
        if not path.is_file() or path.name.endswith((".incomplete", ".lock")):
            continue
        parts = path.relative_to(cache).parts
        if "snapshots" in parts:
            relative = "/".join(parts[parts.index("snapshots") + 2 :])
            broken = relative in published and path.read_bytes() != published[relative]
        elif "blobs" in parts:
            data = path.read_bytes()
            git_sha1 = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            broken = path.name not in (hashlib.sha256(data).hexdigest(), git_sha1)
        else:
            continue
        if broken:
            found.append(path.relative_to(cache).as_posix())
    return found


def _pull_scenario(
    check: CheckContext,
    label: str,
    folder: Path,
    published: dict[str, bytes],
    fault: tuple,
    loading: threading.Lock,
) -> str:
    action, methods, path, extra, expected = fault
    repo_id = check.published(f"pull-{label.replace(' ', '-')}", folder)  # a fault is scoped to its repo
    cache = check.tmp_path / f"cache-{label.replace(' ', '-')}"
    faults = _faults(check)
    with loading:  # the load builds a model: in turn (see test_input_hub_faults)
        injected = [
            faults.inject_fault(action, m, path, repo_id=repo_id, **{"times": None, **extra})
            for m in methods.split("|")
        ]
        try:
            with check.at("load"):
                error, elapsed = bounded(lambda: check.load(repo_id, cache_dir=cache))
        finally:
            for fault_id in (f["id"] for f in injected):
                faults.remove_fault(fault_id)
        check.metrics.update({f"{label} seconds": round(elapsed, 2), f"{label} error": type(error).__name__})
        if expected is Expected.FAILS and (problem := clean_failure(error)):
            return problem
        if expected is Expected.LOADS_OR_FAILS and error is not None and (problem := clean_failure(error)):
            return f"{problem} (huggingface_hub reports this stall: a clean error or a load was due)"
        if expected is Expected.LOADS and error is not None:
            why = "a stall huggingface_hub retries" if "stalled" in label else "a slow but working server"
            return f"failed on {why}: {type(error).__name__}: {str(error)[:200]}"
        leftovers = _partial_files(cache, published) if cache.exists() else []
        if leftovers:
            return f"partial files left in the cache: {leftovers[:3]}"
        try:
            parity_of(check, check.load(repo_id, cache_dir=cache))
        except Exception as again:  # reported as this scenario's failure
            return f"with the fault gone, loading from the same cache fails: {type(again).__name__}: {str(again)[:200]}"
    return ""


@clause(
    "input.hub_faults",
    "core",
    "5xx, cut connections and a slow Hub during push and pull: a clean error in bounded time, the repo unchanged, no partial file in the cache",
    requires=("forward",),
)
def test_input_hub_faults(check: CheckContext) -> None:
    _faults(check)
    # Each scenario has its own repo, fault and cache, and spends most of its time waiting on the
    # client's timeouts and retries, so they run side by side. Building a model must not overlap
    # another one, though: transformers' from_pretrained swaps nn.Module.register_parameter for a
    # meta-device version while it builds, process-wide, and two overlapping loads can leave it
    # swapped for good (every later model of the worker on `meta`). So the push scenarios load their
    # models here, one after another, and the pull scenarios (whose load builds one) take turns.
    scenarios: dict[str, Callable[[], str]] = {}
    for label, fault in PUSH_FAULTS.items():
        folder = check.saved_copy()
        _new_content(folder)
        scenarios[f"push, {label}"] = partial(
            _push_scenario, check, label, check.load(folder), folder, *fault
        )
    folder = check.saved_copy()
    scenarios["push, slow server"] = partial(_slow_push, check, check.load(folder), folder)
    published = snapshot(folder)
    loading = threading.Lock()
    for label, fault in _pull_faults(check).items():
        scenarios[f"pull, {label}"] = partial(_pull_scenario, check, label, folder, published, fault, loading)
    with fast_failing_client(), ThreadPoolExecutor(len(scenarios), thread_name_prefix="hub-fault") as pool:
        running = {name: pool.submit(_run, scenario) for name, scenario in scenarios.items()}
        failures = {name: future.result() for name, future in running.items()}
    failures = {k: v for k, v in failures.items() if v}
    with check.at("push" if any(k.startswith("push") for k in failures) else "load"):
        assert not failures, "; ".join(f"{k}: {v}" for k, v in failures.items())


def pin_progress_lock() -> None:
    """Give tqdm's base class its write lock before scenarios run side by side. huggingface_hub
    uploads and downloads through tqdm's thread_map, whose ensure_lock deletes the class lock on
    exit when it found none on entry: with two transfers in flight, the first to finish deletes the
    lock the other's bars still use (AttributeError: 'tqdm' object has no attribute '_lock'). Once
    the base class holds one, every subclass inherits it and no exit deletes it. One process never
    runs two transfers at once in normal use, so this is the harness's doing, not the backend's."""
    from tqdm import tqdm

    tqdm.get_lock()


def _run(scenario: Callable[[], str]) -> str:
    try:
        return scenario()
    except TimeoutError as error:
        return f"no answer: {error}"
