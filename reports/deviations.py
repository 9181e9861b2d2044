"""Deviations grouped: one row per (clause, outcome, reason), listing the cases it happened on.

A backend that fails `parity.default_inputs` the same way on nine architectures has one deviation
with nine cases, not nine rows. The reason is the first line of the message (what a reader scans),
so failures that differ only further down still share a row; each case keeps its own drill-down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .model import Result, family_sort_key, first_line

# Outcomes a backend page lists as deviations: everything but a pass and a policy skip (not_run).
DEVIATING = ("failed", "crashed", "timeout", "xfailed", "xpassed", "error", "unsupported")


@dataclass(frozen=True)
class Case:
    """One affected test: its id (what the reader sees) and the link to its details."""

    test_id: str
    href: str


@dataclass
class Deviation:
    check: str
    level: str
    outcome: str
    reason: str
    cases: list[Case] = field(default_factory=list)
    passing: list[str] = field(default_factory=list)  # rows the same tests pass on (interop page)

    @property
    def family(self) -> str:
        return self.check.split(".", 1)[0]


def group(
    results: Iterable[Result],
    href: Callable[[Result], str],
    passing: Callable[[Result], Iterable[str]] = lambda _: (),
) -> list[Deviation]:
    """The deviating `results` grouped by clause, outcome and reason, by family then clause; `href`
    links a case to its details, `passing` names the rows where that case passes (kept in order)."""
    groups: dict[tuple[str, str, str], Deviation] = {}
    for result in sorted(results, key=lambda r: r.test_id):
        if result.outcome not in DEVIATING:
            continue
        reason = first_line(result.message)
        key = (result.check, result.outcome, reason)
        deviation = groups.get(key)
        if deviation is None:
            deviation = groups[key] = Deviation(result.check, result.level, result.outcome, reason)
        deviation.cases.append(Case(result.test_id, href(result)))
        deviation.passing.extend(row for row in passing(result) if row not in deviation.passing)
    return sorted(
        groups.values(),
        key=lambda d: (family_sort_key(d.family), d.check, DEVIATING.index(d.outcome), d.reason),
    )
