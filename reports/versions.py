"""Changed between versions: what each release of a backend regressed and fixed, clause by clause.

The rows of one backend are its releases, ordered by version number (by the start of each row's
latest run where a version is not a release number). A release may have to run in another environment
than the one before it: optimum-intel 2.x needs transformers 5, so its row is in the transformers-5 set
while 1.27 is in main, and upgrading means both changes, which is what a user upgrading meets. Each
row is compared with the previous release's row in its own environment when that release ran there,
else with the previous release's first row, by `reports.diff.compare` with the gate's strict
rules: a regression is passing -> failed/crashed/timeout, or -> xfailed/unsupported (a deviation
the new release brought, known or not), a fix is failed/xfailed -> passing. A test that only one of
the two ran (another zoo or slice) is neither. The changes are counted per clause. Rows of one
release in several environments are not compared with each other.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from packaging.version import InvalidVersion, Version

from .diff import Change, compare
from .model import Record, Row, family_sort_key, timestamp_key


@dataclass
class Step:
    """One release to the next: the clauses that changed, each with its regressions and fixes."""

    old: Row
    new: Row
    regressed: dict[str, list[Change]] = field(default_factory=dict)
    fixed: dict[str, list[Change]] = field(default_factory=dict)

    @property
    def clauses(self) -> set[str]:
        return set(self.regressed) | set(self.fixed)


@dataclass
class Lineage:
    """The releases of one backend, oldest first (each release's rows by environment), and the steps
    between them."""

    backend: str
    releases: list[Row]
    steps: list[Step]

    @property
    def envs(self) -> list[str | None]:
        return list(dict.fromkeys(row.key.env for row in self.releases))

    @property
    def clauses(self) -> list[str]:
        changed = set().union(*(step.clauses for step in self.steps))
        return sorted(changed, key=lambda c: (family_sort_key(c.split(".", 1)[0]), c))


def _by_clause(changes: list[Change]) -> dict[str, list[Change]]:
    grouped: dict[str, list[Change]] = defaultdict(list)
    for change in changes:
        grouped[(change.new or change.base).check].append(change)  # type: ignore[union-attr]
    return dict(grouped)


def release_order(rows: list[Row]) -> list[list[Row]]:
    """The rows grouped by release, oldest release first: by version number when every version is
    one, else by when each release last ran. Within a release, rows are ordered by environment."""
    by_version: dict[str | None, list[Row]] = defaultdict(list)
    for row in rows:
        by_version[row.key.version].append(row)

    def ran(version: str | None) -> datetime:
        return max(timestamp_key(row.latest_run.started_at) for row in by_version[version])

    try:
        order = sorted(by_version, key=lambda version: Version(version or ""))
    except InvalidVersion:
        order = sorted(by_version, key=ran)
    return [sorted(by_version[version], key=lambda row: row.key.env or "") for version in order]


def lineages(record: Record, rows: list[Row]) -> list[Lineage]:
    """Every backend with two releases or more, by backend name."""
    grouped: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if row.results:
            grouped[row.key.backend].append(row)
    found = []
    for backend, backend_rows in sorted(grouped.items()):
        releases = release_order(backend_rows)
        if len(releases) < 2:
            continue
        steps = []
        for older, newer in itertools.pairwise(releases):
            for new in newer:
                old = next((row for row in older if row.key.env == new.key.env), older[0])
                comparison = compare(record, record, [old], [new])
                regressed = [c for c in comparison.regressions("strict") if c.new is not None]
                steps.append(Step(old, new, _by_clause(regressed), _by_clause(comparison.fixes)))
        found.append(Lineage(backend, [row for release in releases for row in release], steps))
    return found
