"""Changed between versions: what each release of a backend regressed and fixed, clause by clause.

The rows of one backend in one environment are its releases, in the order they ran (the start of
each row's latest run). Each release is compared with the one before it by `reports.diff.compare`
(the gate's rules: a regression is passing -> failed/crashed/timeout, a fix the way back), and the
changes are counted per clause.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field

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
    """The releases of one backend in one environment, oldest first, and the steps between them."""

    backend: str
    env: str | None
    releases: list[Row]
    steps: list[Step]

    @property
    def clauses(self) -> list[str]:
        changed = set().union(*(step.clauses for step in self.steps))
        return sorted(changed, key=lambda c: (family_sort_key(c.split(".", 1)[0]), c))


def _by_clause(changes: list[Change]) -> dict[str, list[Change]]:
    grouped: dict[str, list[Change]] = defaultdict(list)
    for change in changes:
        grouped[(change.new or change.base).check].append(change)  # type: ignore[union-attr]
    return dict(grouped)


def lineages(record: Record, rows: list[Row]) -> list[Lineage]:
    """Every backend and environment with two releases or more, by backend then environment."""
    grouped: dict[tuple[str, str | None], list[Row]] = defaultdict(list)
    for row in rows:
        if row.results:
            grouped[row.key.backend, row.key.env].append(row)
    found = []
    for (backend, env), releases in sorted(grouped.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        if len(releases) < 2:
            continue
        releases.sort(key=lambda row: timestamp_key(row.latest_run.started_at))
        steps = []
        for old, new in itertools.pairwise(releases):
            comparison = compare(record, record, [old], [new])
            steps.append(Step(old, new, _by_clause(comparison.regressions()), _by_clause(comparison.fixes)))
        found.append(Lineage(backend, env, releases, steps))
    return found
