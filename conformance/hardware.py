"""What this CPU can compute natively, read from the flags the kernel reports (`/proc/cpuinfo`,
the same list `lscpu` prints as "Flags").

A precision tier is judged only where the CPU computes in it: elsewhere runtimes emulate it or
ignore the request (OpenVINO drops a bf16 hint on CPUs without bf16, IPEX falls back to slow
conversion kernels), and a result there says nothing about the backend. Such results are an honest
`not_run` whose reason names the missing flag.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

# Precision tier -> CPU flags of which any one means the CPU computes in that precision.
NATIVE_FLAGS: dict[str, tuple[str, ...]] = {
    "fp32": (),
    "bf16": ("avx512_bf16", "amx_bf16"),  # Intel Cooper Lake / Sapphire Rapids and AMD Zen 4 and newer
}


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU flags of the first processor, or an empty set where the kernel does not list them."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86 / arm64
            return frozenset(value.split())
    return frozenset()


def missing_native_support(precision: str, flags: frozenset[str] | None = None) -> str | None:
    """None when this CPU computes `precision` natively, else why not (naming the flags it lacks)."""
    if precision not in NATIVE_FLAGS:
        return f"precision {precision!r} is unknown to the suite (known: {', '.join(NATIVE_FLAGS)})"
    needed = NATIVE_FLAGS[precision]
    if not needed:
        return None
    flags = cpu_flags() if flags is None else flags
    if flags & set(needed):
        return None
    return (
        f"this CPU ({platform.machine()}) computes no {precision}: its flags have none of "
        f"{', '.join(needed)} (see `lscpu`), so the runtime would emulate or ignore {precision}"
    )
