"""`optimum-conformance floor`: the zoo models it times are the ones the suite runs for the
backend, every step gets a time, and `--record` divides a real run's suite time by the floor."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from conformance import cli
from conformance.backends.reference import REFERENCE_ORT
from conformance.floor import STEPS, floor_models, suite_time
from tests.reports import factory

ROOT = Path(__file__).resolve().parent.parent
ONE_MODEL = ("--arch", "bert", "--task", "text-classification")
FILL_MASK_ONLY = dataclasses.replace(
    REFERENCE_ORT, name="fill-mask-only", classes={"fill-mask": REFERENCE_ORT.classes["fill-mask"]}
)


def test_floor_times_the_models_the_suite_runs() -> None:
    every_bert = [(m.arch, m.task) for m in floor_models(REFERENCE_ORT, ["bert"], None)]
    assert every_bert == [
        ("bert", task)
        for task in (
            "feature-extraction", "text-classification", "token-classification",
            "question-answering", "fill-mask", "multiple-choice",
        )
    ]  # fmt: skip
    # A task the spec lacks is unsupported in the suite: no work, so no floor either.
    assert [(m.arch, m.task) for m in floor_models(FILL_MASK_ONLY, ["bert", "vit"], None)] == [
        ("bert", "fill-mask")
    ]


def test_suite_time_is_the_run_wall_time_or_else_the_summed_durations(tmp_path: Path) -> None:
    alone = factory.run(started_at="2026-11-28T10:00:00+00:00")
    alone.result(duration_s=2.0).result("load.local_dir", duration_s=3.0, arch="roberta")
    alone.end(ended_at="2026-11-28T10:01:30+00:00")
    timed = suite_time(factory.write(tmp_path / "alone.jsonl", alone), "reference-ort")
    assert (timed.seconds, timed.source) == (90.0, "wall time of the run, started_at to ended_at")
    assert timed.models == {("bert", "text-classification"), ("roberta", "text-classification")}

    # Two backends in one run: its wall time is not one backend's, so their results' durations count.
    shared = factory.run(backends=(("reference-ort", "0.1.0"), ("reference-ov", "0.1.0")))
    shared.result(duration_s=2.0).result(duration_s=5.0, backend="reference-ov").end()
    timed = suite_time(factory.write(tmp_path / "shared.jsonl", shared), "reference-ort")
    assert (timed.seconds, timed.source) == (2.0, "sum of its result durations")


@pytest.fixture(scope="module")
def suite_record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real one-check record of reference-ort on the same model, in-process workers only."""
    tmp = tmp_path_factory.mktemp("floor-record")
    record = tmp / "run.jsonl"
    command = [sys.executable, "-m", "conformance.cli", "run", "reference-ort", "-n", "0", "--results",
               str(record), "--", *ONE_MODEL, "-k", "test_parity_pytorch", "--export-cache", str(tmp / "cache")]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return record


@pytest.mark.slow  # ~25 s: a real suite run and a real export
def test_floor_of_one_model_and_its_ratio_to_a_real_run(
    tmp_path: Path, suite_record: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "floor.json"
    argv = ["floor", "reference-ort", *ONE_MODEL, "--json", str(output), "--record", str(suite_record)]
    assert cli.main(argv) == 0
    floor = json.loads(output.read_text())
    [model] = floor["models"]
    assert (model["arch"], model["task"], model["error"], model["not_run"]) == (
        "bert", "text-classification", None, None,
    )  # fmt: skip
    assert list(model["seconds"]) == list(STEPS)
    assert all(seconds > 0 for seconds in model["seconds"].values()), model["seconds"]
    assert floor["steps_s"] == model["seconds"]
    assert floor["wall_s"] >= model["total_s"] > 0

    lines = [json.loads(line) for line in suite_record.read_text().splitlines()]
    started = datetime.fromisoformat(lines[0]["started_at"])
    ended = datetime.fromisoformat(lines[-1]["ended_at"])
    assert floor["suite"]["seconds"] == (ended - started).total_seconds() > 0
    assert floor["ratio"] == pytest.approx(floor["suite"]["seconds"] / floor["wall_s"])

    table = capsys.readouterr().out
    assert all(step in table for step in STEPS)
    assert "text-classification-bert" in table and "all models" in table
    assert f"= {floor['ratio']:.2f}x" in table
    assert "note:" not in table  # the record and the floor cover the same model
