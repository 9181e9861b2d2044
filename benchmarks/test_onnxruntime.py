"""BERT-base, sequence 128: raw InferenceSession vs the reference ORTModel vs optimum-onnx's ORTModel.

The PyTorch eager baseline is in test_openvino.py, in the same groups. Every ONNX Runtime case runs
the same `model.onnx` with default session options, so the differences are the wrappers' overhead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conformance import zoo

ort = pytest.importorskip("onnxruntime")

from reference.onnxruntime import ORTModelForSequenceClassification  # noqa: E402


@pytest.fixture(scope="session")
def onnx_folder(bert_base: Path) -> Path:
    target = zoo.cache_root() / "benchmarks" / f"onnxruntime-{ort.__version__}" / bert_base.name
    if not (target / ".complete").is_file():
        ORTModelForSequenceClassification.from_pretrained(bert_base, export=True).save_pretrained(target)
        (target / ".complete").write_text("")
    return target


def test_onnxruntime_raw(
    benchmark: Any, timed: Any, onnx_folder: Path, bert_inputs: dict[str, np.ndarray]
) -> None:
    session = ort.InferenceSession(str(onnx_folder / "model.onnx"), providers=["CPUExecutionProvider"])
    timed(benchmark, bert_inputs, session.run, None, bert_inputs)


def test_reference_ortmodel(
    benchmark: Any, timed: Any, onnx_folder: Path, bert_inputs: dict[str, np.ndarray]
) -> None:
    model = ORTModelForSequenceClassification.from_pretrained(onnx_folder)
    timed(benchmark, bert_inputs, model, **bert_inputs)


def test_optimum_onnx_ortmodel(
    benchmark: Any, timed: Any, onnx_folder: Path, bert_inputs: dict[str, np.ndarray]
) -> None:
    try:
        from optimum.onnxruntime import ORTModelForSequenceClassification as UpstreamORTModel
    except ImportError as error:
        pytest.skip(f"optimum-onnx is not importable: {error}")
    model = UpstreamORTModel.from_pretrained(onnx_folder)
    timed(benchmark, bert_inputs, model, **bert_inputs)
