"""The Runtime protocol: every backend's runtime class satisfies it, and a model is made of components."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conformance import zoo
from conformance.backends import CLASS_SUFFIX
from reference import tasks
from reference.runtime import Runtime
from tests.refimpl.backends import PARITY_KWARGS, backend_module, load, model_class

TASK = "text-classification"


def test_each_backend_runtime_is_a_runtime_and_the_model_component(backend: str, exported_copy) -> None:
    folder = exported_copy()
    model = load(backend, TASK, folder)
    runtime = model.components["model"]
    assert list(model.components) == ["model"]
    assert isinstance(runtime, Runtime) and type(runtime) is model.runtime_class
    assert model.model is runtime.native and model.model_path == runtime.path
    inputs, outputs = runtime.io()
    assert inputs == model.input_dtypes and outputs == model.output_names


def test_runtime_loads_runs_and_saves_on_its_own(backend: str, exported_copy, tmp_path: Path) -> None:
    folder = exported_copy()
    cls = model_class(backend, TASK)
    options = PARITY_KWARGS.get(backend, {})
    path = folder / cls.default_file_name
    assert all((folder / name).is_file() for name in cls.runtime_class.companions(path))
    runtime = cls.runtime_class.load(path, **options)
    model = load(backend, TASK, folder)
    inputs = zoo.sample_inputs(folder, TASK)
    first = runtime.run(model._feed(dict(inputs)))
    np.testing.assert_allclose(first["logits"], model(**inputs).logits, atol=1e-6, rtol=0)

    runtime.save(tmp_path / cls.default_file_name)
    again = cls.runtime_class.load(tmp_path / cls.default_file_name, **options).run(model._feed(dict(inputs)))
    assert first.keys() == again.keys()
    for name in first:
        np.testing.assert_allclose(first[name], again[name], atol=1e-6, rtol=0, err_msg=name)


def test_constructor_takes_runtimes_only(backend: str) -> None:
    cls = model_class(backend, TASK)
    with pytest.raises(TypeError, match="made by from_pretrained, not from object"):
        cls(object(), None)


def test_can_generate_follows_the_task(backend: str) -> None:
    for task, suffix in CLASS_SUFFIX.items():
        cls = model_class(backend, task)
        assert cls.can_generate() is tasks.TASKS[task].generative
        if not tasks.TASKS[task].generative:
            assert type(f"Generative{suffix}", (cls,), {"generative": True}).can_generate() is True


def test_openvino_does_not_import_the_onnxruntime_backend() -> None:
    backend_module("ov")
    code = (
        "import sys, reference.openvino, reference.openvino.export;"
        "print(sorted(m for m in sys.modules if m.split('.')[:2] == ['reference', 'onnxruntime']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
    )
    assert result.stdout.strip() == "[]"
