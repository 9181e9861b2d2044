"""Shared benchmark inputs: the realistic-size BERT of the zoo (random weights, ~440 MB), built once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conformance import zoo

SEQUENCE_LENGTH = 128
BATCH_SIZES = (1, 8)


def text_inputs(batch_size: int, sequence_length: int = SEQUENCE_LENGTH) -> dict[str, np.ndarray]:
    """Random token ids; the last quarter of the last row is padding."""
    shape = (batch_size, sequence_length)
    mask = np.ones(shape, dtype=np.int64)
    mask[-1, -sequence_length // 4 :] = 0
    return {
        "input_ids": np.random.default_rng(0).integers(5, 100, size=shape, dtype=np.int64),
        "attention_mask": mask,
        "token_type_ids": np.zeros(shape, dtype=np.int64),
    }


@pytest.fixture(scope="session")
def bert_base() -> Path:
    """The zoo folder of BERT-base for text classification (cached on disk by the zoo)."""
    return zoo.build("bert", "text-classification", size="base")


@pytest.fixture(scope="session")
def make_text_inputs() -> Callable[..., dict[str, np.ndarray]]:
    return text_inputs


@pytest.fixture(scope="session", params=BATCH_SIZES, ids=lambda b: f"batch{b}")
def bert_inputs(request: pytest.FixtureRequest) -> dict[str, np.ndarray]:
    """BERT inputs at sequence 128, for each benchmarked batch size."""
    return text_inputs(request.param)


ROUNDS = {1: 20, 8: 5}  # fixed rounds keep each file to a few minutes on 2 cores


def timed_call(benchmark: Any, inputs: dict[str, np.ndarray], target: Any, *args: Any, **kwargs: Any) -> Any:
    """Benchmark `target(*args, **kwargs)` in the group of its batch size, so backends sit side by side."""
    batch = len(inputs["input_ids"])
    benchmark.group = f"bert-base seq128 batch{batch}"
    return benchmark.pedantic(target, args, kwargs, rounds=ROUNDS[batch], warmup_rounds=1)


@pytest.fixture(scope="session")
def timed() -> Callable[..., Any]:
    return timed_call
