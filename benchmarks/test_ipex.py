"""BERT-base, sequence 128: PyTorch eager vs the reference IPEXModel in fp32 and in bf16.

Run in the ipex environment: `python -m pytest benchmarks/test_ipex.py -p no:cacheprovider --benchmark-only`.
Elsewhere the file is skipped with the reason `reference.ipex` gives. bf16 needs a CPU with oneDNN
bf16 kernels (AVX-512 BW/VL/DQ or AVX-NE-CONVERT; AMX is what makes it fast) and is skipped without.
"""

from __future__ import annotations

import importlib.metadata
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from conformance import zoo

# reference.ipex raises ImportError, not ModuleNotFoundError (the only kind pytest 9 skips by default).
pytest.importorskip("reference.ipex", exc_type=ImportError)

from reference.ipex import IPEXModelForSequenceClassification
from reference.ipex.export import bf16_supported

TASK = "text-classification"
ROUNDS = {1: 20, 8: 5}  # fixed rounds keep the whole file to a few minutes on 2 cores


def _exported(bert_base: Path, dtype: str) -> Path:
    """The reference export of BERT-base in `dtype`, saved once per zoo model and IPEX version."""
    version = importlib.metadata.version("intel-extension-for-pytorch")
    target = zoo.cache_root() / "benchmarks" / f"ipex-{version}" / f"{bert_base.name}-{dtype}"
    if not (target / ".complete").is_file():
        model = IPEXModelForSequenceClassification.from_pretrained(bert_base, export=True, dtype=dtype)
        model.save_pretrained(target)
        (target / ".complete").write_text("")
    return target


@pytest.fixture(scope="session")
def ipex_fp32(bert_base: Path) -> IPEXModelForSequenceClassification:
    return IPEXModelForSequenceClassification.from_pretrained(_exported(bert_base, "fp32"))


@pytest.fixture(scope="session")
def ipex_bf16(bert_base: Path) -> IPEXModelForSequenceClassification:
    if not bf16_supported():
        pytest.skip("this CPU has no bf16 support usable by IPEX (needs AVX-512 BW/VL/DQ or AVX-NE-CONVERT)")
    return IPEXModelForSequenceClassification.from_pretrained(_exported(bert_base, "bf16"))


def run(benchmark: Any, inputs: dict[str, np.ndarray], target: Any, *args: Any, **kwargs: Any) -> Any:
    batch = len(inputs["input_ids"])
    benchmark.group = f"bert-base seq128 batch{batch}"
    return benchmark.pedantic(target, args, kwargs, rounds=ROUNDS[batch], warmup_rounds=1)


def test_pytorch_eager(benchmark: Any, bert_base: Path, bert_inputs: dict[str, np.ndarray]) -> None:
    model = zoo.load_pytorch(bert_base, TASK)
    feed = {k: torch.from_numpy(v) for k, v in bert_inputs.items()}
    with torch.inference_mode():
        run(benchmark, bert_inputs, model, **feed)


def test_reference_ipex_fp32(
    benchmark: Any, ipex_fp32: IPEXModelForSequenceClassification, bert_inputs: dict[str, np.ndarray]
) -> None:
    outputs = run(benchmark, bert_inputs, ipex_fp32, **bert_inputs)
    assert outputs.logits.shape == (len(bert_inputs["input_ids"]), 3)


def test_reference_ipex_bf16(
    benchmark: Any, ipex_bf16: IPEXModelForSequenceClassification, bert_inputs: dict[str, np.ndarray]
) -> None:
    outputs = run(benchmark, bert_inputs, ipex_bf16, **bert_inputs)
    assert outputs.logits.dtype == np.float32


def test_ipex_fp32_over_eager_ratio(
    benchmark: Any, bert_base: Path, ipex_fp32: IPEXModelForSequenceClassification, make_text_inputs: Any
) -> None:
    """Alternate eager and IPEX calls, so machine noise hits both alike; record the median time ratio."""
    inputs = make_text_inputs(1)
    eager = zoo.load_pytorch(bert_base, TASK)
    feed = {k: torch.from_numpy(v) for k, v in inputs.items()}
    ratios: list[float] = []

    def pair() -> None:
        start = time.perf_counter()
        ipex_fp32(**inputs)
        middle = time.perf_counter()
        with torch.inference_mode():
            eager(**feed)
        ratios.append((middle - start) / (time.perf_counter() - middle))

    benchmark.group = "ipex fp32 / eager, batch1"
    benchmark.pedantic(pair, rounds=ROUNDS[1], warmup_rounds=1)
    benchmark.extra_info["median_ratio"] = statistics.median(ratios[1:])  # the warm-up round is recorded too
