"""Backend table for the reference tests: every reference backend is tested by the same tests.

A backend is named by its package and class prefix; a backend whose runtime cannot be imported
here is an honest skip with the import error as reason.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance import zoo
from conformance.backends import CLASS_SUFFIX
from conformance.families import FAMILIES

BACKENDS = {
    "ort": ("reference.onnxruntime", "ORT"),
    "ov": ("reference.openvino", "OV"),
    "ipex": ("reference.ipex", "IPEX"),
}
# Options every backend needs for exact fp32 parity (OpenVINO computes in bf16 on AMX CPUs).
PARITY_KWARGS: dict[str, dict[str, Any]] = {"ov": {"ov_config": {"INFERENCE_PRECISION_HINT": "f32"}}}
# The forward-only zoo models: causal LMs have tests of their own (test_causal_lm.py), generate() first.
ZOO = [model for model in zoo.models() if "generate" not in model.capabilities]
# Each family's representative (arch, task): what the quick run (`-m "not slow"`) keeps of a zoo sweep.
REPRESENTATIVES = {family.representative for family in FAMILIES}


def sweep(values: list[Any], key: Callable[[Any], tuple[str, str]]) -> list[Any]:
    """`values` as pytest params, all but the family representatives (by `key`: arch, task) marked
    slow: the quick run checks one model per family, CI every one."""
    return [
        value if key(value) in REPRESENTATIVES else pytest.param(value, marks=pytest.mark.slow)
        for value in values
    ]


# Text and image models on which IPEX bf16 (bf16 weights) is checked against its declared tolerance.
BF16_CASES = [
    ("bert", "text-classification"),
    ("roberta", "feature-extraction"),
    ("vit", "image-classification"),
    ("convnext", "image-classification"),
]


def backend_module(backend: str) -> Any:
    module_name, _ = BACKENDS[backend]
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        pytest.skip(f"backend {backend} not importable here: {error}")


def model_class(backend: str, task: str) -> type:
    module = backend_module(backend)
    return getattr(module, f"{BACKENDS[backend][1]}ModelFor{CLASS_SUFFIX[task]}")


def zoo_folder(model: zoo.ZooModel) -> Path:
    reason = model.missing_requirement()
    if reason:
        pytest.skip(reason)
    return zoo.build(model.arch, model.task)


_EXPORTED: dict[tuple[str, str, str], Path] = {}


def exported_folder(backend: str, model: zoo.ZooModel, tmp_root: Path) -> Path:
    """A folder holding the saved export of a zoo model (config, artifacts, preprocessors); cached."""
    key = (backend, model.arch, model.task)
    if key not in _EXPORTED:
        source = zoo_folder(model)
        target = tmp_root / f"{backend}-{model.id}"
        model_class(backend, model.task).from_pretrained(
            source, export=True, **PARITY_KWARGS.get(backend, {})
        ).save_pretrained(target)
        _EXPORTED[key] = target
    return _EXPORTED[key]


def load(backend: str, task: str, source: Path | str, **kwargs: Any) -> Any:
    return model_class(backend, task).from_pretrained(source, **{**PARITY_KWARGS.get(backend, {}), **kwargs})
