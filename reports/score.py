"""Scores: the pass rate and how a rate is shown.

    pass rate = passed / (passed + failed + xfailed + xpassed + crashed + timeout)

``not_run`` (policy) and ``error`` (the harness broke) say nothing about the backend and are left
out; ``unsupported`` is left out of the rate but always shown, never counted as a pass. No scored
result means "no data", never 0 %.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from .schema import SCORED

PASS_RATE_FORMULA = f"passed / ({' + '.join(SCORED)})"


def pass_rate(counts: Mapping[str, int]) -> float | None:
    """The documented pass rate of counts by outcome, or None when nothing was scored ("no data")."""
    denominator = sum(counts.get(o, 0) for o in SCORED)
    return counts.get("passed", 0) / denominator if denominator else None


def pct(rate: float | None) -> str:
    """A rate as text; rounds down so 99.95 % never shows as 100 %, and None is "no data"."""
    if rate is None:
        return "no data"
    if rate >= 1:
        return "100 %"
    if rate <= 0:
        return "0 %"
    tenths = math.floor(rate * 1000) / 10
    return "<0.1 %" if tenths == 0 else f"{tenths:.1f} %"
