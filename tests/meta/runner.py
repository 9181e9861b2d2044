"""Runs of the real suite in a subprocess, as the meta-tests make them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Clauses no backend can pass offline, with the words their not_run reason must hold: transformers
# 4.56+ runs these decoding modes only from Hub code with trust_remote_code, which the suite never
# switches on, and a conforming backend refuses them as transformers does; before 4.56 two of them read
# hidden states no export returns.
OFFLINE_NOT_RUN = {"gen.hub_code_modes": "cannot be compared here"}


def honest_offline_not_run(result: dict) -> bool:
    """Whether `result` is the not_run an offline run owes a clause of `OFFLINE_NOT_RUN`."""
    reason = OFFLINE_NOT_RUN.get(result["check"])
    return result["outcome"] == "not_run" and reason is not None and reason in result["message"]


def undeclared_tier(result: dict) -> bool:
    """Whether `result` is the unsupported verdict of a precision tier its backend does not declare
    (every run collects the tiers the suite knows, for every backend)."""
    tier = result["precision"]
    return (
        result["outcome"] == "unsupported"
        and tier != "fp32"
        and f"declares no {tier} precision tier" in result["message"]
    )


def run_suite(
    tmp_path: Path, backends: list[str], *args: str, workers: int = 2, env: dict[str, str] | None = None
) -> list[dict]:
    """Run the suite (`pytest --pyargs conformance`, no export cache) on `backends`, with `env` added
    to the environment; its result lines."""
    record = tmp_path / "record.jsonl"
    command = [sys.executable, "-m", "pytest", "--pyargs", "conformance", "-p", "no:cacheprovider", "-q",
               "--results", str(record), "--export-cache", "none", "-n", str(workers), "--dist", "loadgroup",
               *args]  # fmt: skip
    for backend in backends:
        command += ["--backend", backend]
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **(env or {})}
    done = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=1800)
    if not record.is_file():
        raise AssertionError(f"the suite wrote no record:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    return [line for line in lines if line["type"] == "result"]


def by_backend(results: list[dict]) -> dict[str, dict[str, dict]]:
    """Results by backend, then by check."""
    grouped: dict[str, dict[str, dict]] = {}
    for entry in results:
        grouped.setdefault(entry["backend"], {})[entry["check"]] = entry
    return grouped
