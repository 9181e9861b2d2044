"""Parity with PyTorch for every zoo architecture x task, for every reference backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from conformance import zoo

ATOL = RTOL = 1e-4


def assert_close(ours: object, oracle: dict[str, np.ndarray], label: str) -> None:
    for name, expected in oracle.items():
        actual = ours[name]
        assert actual is not None, f"{label}: output {name} missing"
        actual = actual.numpy() if isinstance(actual, torch.Tensor) else actual
        np.testing.assert_allclose(actual, expected, atol=ATOL, rtol=RTOL, err_msg=f"{label}: {name}")


def test_parity_with_pytorch(backend: str, zoo_export: tuple[zoo.ZooModel, Path, Any]) -> None:
    model, folder, ours = zoo_export
    oracle_model = zoo.load_pytorch(folder, model.task)
    # Batch 2 with padding, then other batch and sequence sizes on the same compiled model.
    for shape in ({}, {"batch_size": 3, "sequence_length": 13}, {"batch_size": 1, "sequence_length": 5}):
        inputs = zoo.sample_inputs(folder, model.task, **shape)
        oracle = zoo.pytorch_outputs(oracle_model, inputs)

        torch_out = ours(**{k: torch.from_numpy(v) for k, v in inputs.items()})
        assert all(isinstance(torch_out[k], torch.Tensor) for k in oracle), "torch in must give torch out"
        assert_close(torch_out, oracle, f"torch inputs {shape}")

        numpy_out = ours(**inputs)
        assert all(isinstance(numpy_out[k], np.ndarray) for k in oracle), "numpy in must give numpy out"
        assert_close(numpy_out, oracle, f"numpy inputs {shape}")

    if hasattr(oracle_model, "config"):  # transformers: the same ModelOutput subclass
        with torch.no_grad():
            expected_type = type(oracle_model(**{k: torch.from_numpy(v) for k, v in inputs.items()}))
        assert type(torch_out) is expected_type
