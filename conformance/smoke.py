"""`optimum-conformance smoke`: export every zoo model with each reference backend, compare with
PyTorch, save and reload, and print a one-screen summary. The full suite (`run`) supersedes it."""

from __future__ import annotations

import json
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from conformance import zoo
from conformance.backends import builtin

TOLERANCE = 1e-4


def check(backend_name: str, model: zoo.ZooModel) -> dict[str, Any]:
    """One row: export, parity against PyTorch, save and reload equality."""
    row: dict[str, Any] = {"backend": backend_name, "model": model.id, "task": model.task, "arch": model.arch}
    reason = model.missing_requirement()
    if reason:
        return {**row, "outcome": "not_run", "message": reason}
    backend = builtin()[backend_name]
    stage = "import"
    try:
        cls = backend.model_class(model.task)
        stage = "build"
        folder = zoo.build(model.arch, model.task)
        stage = "export"
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = cls.from_pretrained(folder, export=True, **backend.load_kwargs)
        row["export_s"] = round(time.perf_counter() - start, 3)
        stage = "parity"
        inputs = zoo.sample_inputs(folder, model.task)
        oracle = zoo.pytorch_outputs(zoo.load_pytorch(folder, model.task), inputs)
        result = ours(**inputs)
        row["max_abs_err"] = max(float(np.max(np.abs(result[k] - v))) for k, v in oracle.items())
        stage = "save"
        with tempfile.TemporaryDirectory() as saved:
            ours.save_pretrained(saved)
            stage = "reload"
            again = cls.from_pretrained(saved, **backend.load_kwargs)(**inputs)
        row["reload_max_abs_err"] = max(float(np.max(np.abs(again[k] - result[k]))) for k in oracle)
        ok = row["max_abs_err"] <= TOLERANCE and row["reload_max_abs_err"] <= 1e-7
        return {**row, "outcome": "passed" if ok else "failed", "stage": None if ok else "parity"}
    except ImportError as error:
        if stage == "import":
            return {**row, "outcome": "not_run", "message": f"backend not installed: {error}"}
        return {**row, "outcome": "failed", "stage": stage, "message": repr(error)}
    except Exception as error:
        return {
            **row,
            "outcome": "failed",
            "stage": stage,
            "message": repr(error),
            "trace": traceback.format_exc(),
        }


def main(backends: list[str], output: Path | None) -> int:
    rows = []
    for name in backends:
        for model in zoo.models():
            row = check(name, model)
            rows.append(row)
            err = f"{row['max_abs_err']:.1e}" if "max_abs_err" in row else "-"
            print(
                f"{row['outcome']:8} {name:15} {model.id:36} err {err:8} {row.get('message', '')[:90]}",
                flush=True,
            )
    print()
    for name in backends:
        mine = [r for r in rows if r["backend"] == name]
        counts = {o: sum(r["outcome"] == o for r in mine) for o in ("passed", "failed", "not_run")}
        scored = counts["passed"] + counts["failed"]
        rate = f"{100 * counts['passed'] / scored:.0f}%" if scored else "no data"
        print(
            f"{name}: {counts['passed']} passed, {counts['failed']} failed, {counts['not_run']} not run ({rate})"
        )
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(rows, indent=1))
        print(f"results: {output}")
    return 1 if any(r["outcome"] == "failed" for r in rows) else 0
