"""Parity tolerances, keyed by (backend, task, arch, dtype) patterns, each with its reason.

The first matching entry wins; the default is fp32 atol = rtol = 1e-4. The tolerance used goes
into every parity result, so a looser one is visible in the report, never hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float
    reason: str


DEFAULT = Tolerance(1e-4, 1e-4, "default for fp32")

# (backend, task, arch, dtype) fnmatch patterns -> tolerance. Keep a reason on every entry.
REGISTRY: list[tuple[tuple[str, str, str, str], Tolerance]] = [
    (
        ("*", "*", "*", "bf16"),
        Tolerance(5e-2, 5e-2, "bf16 has an 8-bit mantissa: ~3 significant digits on random tiny models"),
    ),
]


def lookup(backend: str, task: str, arch: str, dtype: str = "fp32") -> Tolerance:
    for pattern, tolerance in REGISTRY:
        if all(fnmatchcase(value, p) for value, p in zip((backend, task, arch, dtype), pattern)):
            return tolerance
    return DEFAULT
