"""The reference backends pass every clause of the suite on every architecture (its classification
task; the main job, `tox -e matrix`, runs every task), and a second run re-exports nothing (the
on-disk export cache, keyed by content)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import hardware
from tests.meta.runner import honest_offline_not_run

ROOT = Path(__file__).resolve().parent.parent


def run(
    tmp_path: Path, record: str, *args: str, backends: tuple[str, ...] = ("reference-ort", "reference-ov")
) -> list[dict]:
    command = [sys.executable, "-m", "conformance.cli", "run", *backends,
               "--results", str(tmp_path / record), "--", "--export-cache", str(tmp_path / "cache"), *args]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=3000)
    return [json.loads(line) for line in (tmp_path / record).read_text().splitlines()]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    tmp = tmp_path_factory.mktemp("suite")
    return tmp, run(tmp, "first.jsonl", "--task", "text-classification", "--task", "image-classification")


@pytest.mark.slow  # ~2 min: the quick run keeps test_every_clause_passes_on_one_model_per_family
def test_every_clause_passes_on_every_architecture(first_run: tuple[Path, list[dict]]) -> None:
    _, lines = first_run
    results = [line for line in lines if line["type"] == "result"]
    backends = {r["backend"] for r in results if r["outcome"] == "passed"}
    assert backends == {"reference-ort", "reference-ov"}
    bad = [
        (r["test_id"], r["outcome"], r["message"][:200])
        for r in results
        if r["outcome"] not in ("passed", "not_run", "unsupported")
    ]
    assert not bad
    unsupported = {(r["backend"], r["check"]) for r in results if r["outcome"] == "unsupported"}
    assert unsupported == {
        ("reference-ov", "load.external_data"),  # an ONNX feature: OpenVINO IR has none
        ("reference-ort", "precision.applied"),  # only reference-ov declares a bf16 tier of these two
    }
    tiers = {(r["backend"], r["precision"]) for r in results if r["check"].startswith("precision.")}
    assert tiers == {("reference-ort", "bf16"), ("reference-ov", "bf16")}
    assert {r["precision"] for r in results if not r["check"].startswith("precision.")} == {"fp32"}
    not_run = {r["message"] for r in results if r["outcome"] == "not_run"}
    # Only the timm model, and bf16 where this CPU computes none, honestly.
    assert all("timm" in message or "avx512_bf16" in message for message in not_run), not_run
    bf16_native = hardware.missing_native_support("bf16") is None
    bf16 = [r["outcome"] for r in results if r["backend"] == "reference-ov" and r["precision"] == "bf16"]
    assert bf16 and set(bf16) == {"passed" if bf16_native else "not_run"}
    assert lines[-1]["type"] == "end" and lines[-1]["exit_status"] == 0


@pytest.mark.slow
def test_second_run_exports_nothing(first_run: tuple[Path, list[dict]]) -> None:
    tmp, _ = first_run
    lines = run(tmp, "second.jsonl", "--task", "text-classification", "-k", "test_parity_pytorch")
    hits = [
        r["metrics"].get("export_cache_hit")
        for r in lines
        if r["type"] == "result" and r["outcome"] == "passed"
    ]
    assert hits and all(hit == 1 for hit in hits)


def test_every_clause_passes_on_one_model_per_family(tmp_path: Path) -> None:
    """The quick run's sweep of the suite (the slow tests above and tests/test_suite_generation.py
    cover every arch): reference-ort on each family's representative, every clause."""
    from conformance.families import FAMILIES

    filters = [
        f"--{axis}={value}"
        for family in FAMILIES
        for axis, value in zip(("arch", "task"), family.representative)
    ]
    lines = run(tmp_path, "quick.jsonl", *filters, backends=("reference-ort",))
    results = [line for line in lines if line["type"] == "result"]
    ran = {(r["arch"], r["task"]) for r in results if r["outcome"] == "passed"}
    assert ran == {family.representative for family in FAMILIES}
    bad = [
        (r["test_id"], r["outcome"], r["message"][:200])
        for r in results
        if r["outcome"] not in ("passed", "unsupported")
        and not honest_offline_not_run(r)
        and not (r["check"] == "gen.stateful_equals_stateless" and "no stateful option" in r["message"])
    ]
    assert not bad
    assert any(r["check"].startswith("gen.") for r in results)
