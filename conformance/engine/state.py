"""The session state the engine modules share, kept in `config.stash` (no module globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conformance.cases import SessionCache
    from conformance.expectations import Expectation
    from conformance.record import RecordWriter
    from conformance.spec import BackendSpec


@dataclass
class State:
    """Everything the plugin keeps for one session."""

    specs: list[BackendSpec]
    selectors: dict[str, str]
    """spec name -> the --backend value that selected it (repro commands use it)."""
    filters: tuple[list[str] | None, list[str] | None]
    """--arch, --task"""
    export_root: Path | None
    cache: SessionCache
    shard: tuple[int, int] = (0, 1)
    expectations: list[Expectation] = field(default_factory=list)
    matched: set[int] = field(default_factory=set)
    """Indexes of the expectations some collected test matched (stale ones fail the run)."""
    writer: RecordWriter | None = None
    cleanup_hub: bool = False
    written: set[str] = field(default_factory=set)
    props: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Controller side: node id -> case properties, from the first report or the workers' case
    files, so a crashed test is recorded without parsing its node id."""
    workers_dir: Path | None = None
    """The controller's temp folder for its xdist workers: the node id -> case properties table each
    writes after collection, and each one's scratch folder (`SessionCache.scratch`). The controller
    removes it, so a worker killed by a signal, which runs no cleanup of its own, leaves nothing."""


STATE = pytest.StashKey[State]()
CONTEXT = pytest.StashKey["CheckContext"]()
EXPECTATION = pytest.StashKey["Expectation"]()
PROPS = pytest.StashKey[dict[str, Any]]()
"""The case properties of a check item (what every result line of it says)."""
STALE = pytest.StashKey[list["Expectation"]]()
