"""load.*: the local parts of the from_pretrained contract (Hub parts live with the Hub checks)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from conformance.cases import NOT_RUN, CheckContext
from conformance.checks.helpers import (
    add_other_artifacts,
    artifact_files,
    as_torch,
    assert_parity,
    max_difference,
    move_artifacts,
)


def test_load_local_dir(check: CheckContext) -> None:
    model = check.load(check.saved_copy())
    inputs = check.inputs()
    assert_parity(check, check.run(model, as_torch(inputs)), check.oracle(inputs), inputs)


@pytest.mark.models("pair")
def test_load_export(check: CheckContext) -> None:
    model = check.export()
    inputs = check.inputs()
    assert_parity(check, check.run(model, as_torch(inputs)), check.oracle(inputs), inputs)


def test_load_export_legacy_hook(check: CheckContext) -> None:
    calls = []
    base = check.model_class()

    class Legacy(base):  # type: ignore[misc, valid-type]
        @classmethod
        def _from_transformers(cls, *args, **kwargs):
            calls.append(kwargs)
            parent = super()
            hook = getattr(parent, "_from_transformers", None) or parent._export
            return hook(*args, **kwargs)

    model = check.export(cls=Legacy)
    with check.at("export"):
        assert len(calls) == 1, f"_from_transformers called {len(calls)} times with export=True"
    inputs = check.inputs()
    assert_parity(check, check.run(model, as_torch(inputs)), check.oracle(inputs), inputs)


def test_load_auto_export(check: CheckContext) -> None:
    model = check.load(check.source_dir())
    inputs = check.inputs()
    assert_parity(check, check.run(model, as_torch(inputs)), check.oracle(inputs), inputs)


def test_load_reexport(check: CheckContext) -> None:
    """export=True re-exports from the PyTorch weights even when (here: broken) artifacts exist."""
    folder = check.saved_copy()
    for name in artifact_files(check, folder, check.exported()):
        (folder / name).write_bytes(b"not an artifact")
    for weights in check.source_dir().glob("model*.safetensors"):
        shutil.copy(weights, folder)
    model = check.load(folder, export=True)
    inputs = check.inputs()
    assert_parity(check, check.run(model, as_torch(inputs)), check.oracle(inputs), inputs)


def test_load_config_root_fallback(check: CheckContext) -> None:
    folder = check.saved_copy()
    move_artifacts(check, folder, check.exported(), "backend")
    model = check.load(folder, subfolder="backend")
    inputs = check.inputs()
    assert_parity(check, check.run(model, as_torch(inputs)), check.oracle(inputs), inputs)


def test_load_file_name(check: CheckContext) -> None:
    """With two artifacts side by side, file_name= picks the other one (here: DistilBERT's graph)."""
    folder = check.saved_copy()
    model = check.load(folder, file_name=add_other_artifacts(check, folder, "other"))
    inputs = check.inputs(arch="distilbert")
    assert_parity(check, check.run(model, as_torch(inputs)), check.oracle(inputs, arch="distilbert"), inputs)


def test_load_config_object(check: CheckContext) -> None:
    from transformers import AutoConfig

    folder = check.saved_copy()
    config = AutoConfig.from_pretrained(folder)
    config.id2label = {i: f"given-{i}" for i in config.id2label}
    model = check.load(folder, config=config)
    with check.at("load"):
        assert model.config.id2label[0] == "given-0", "the config= object was not used"


def test_load_config_path(check: CheckContext) -> None:
    from transformers import AutoConfig

    folder = check.saved_copy()
    config = AutoConfig.from_pretrained(folder)
    config.id2label = {i: f"from-path-{i}" for i in config.id2label}
    config.save_pretrained(check.tmp_path / "config-elsewhere")
    model = check.load(folder, config=str(check.tmp_path / "config-elsewhere"))
    with check.at("load"):
        assert model.config.id2label[0] == "from-path-0", "the config= path was not used"


def test_load_instance_attributes(check: CheckContext) -> None:
    model = check.load(check.saved_copy())
    with check.at("load"):
        assert model.config.model_type == check.oracle_model().config.model_type
        assert isinstance(model.device, torch.device), f"device is {type(model.device).__name__}"
        assert model.can_generate() is False
        check.metrics.update(
            has_dtype=int(hasattr(model, "dtype")),
            preprocessors=len(getattr(model, "preprocessors", None) or []),
        )


@pytest.mark.models("pair")
def test_load_pipeline(check: CheckContext) -> None:
    from transformers import AutoImageProcessor, AutoTokenizer, pipeline

    source = check.source_dir()
    model = check.load(check.saved_copy())
    text = check.case.model.spec.modality == "text"
    if text:
        kwargs, sample = {"tokenizer": AutoTokenizer.from_pretrained(source)}, "paris is a good city"
    else:
        from PIL import Image

        kwargs = {"image_processor": AutoImageProcessor.from_pretrained(source)}
        sample = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8))
    with check.at("infer"):
        ours = pipeline(check.case.task, model=model, **kwargs)(sample)
    theirs = pipeline(check.case.task, model=check.oracle_model(), **kwargs)(sample)
    with check.at("parity"):
        assert ours[0]["label"] == theirs[0]["label"]
        assert abs(ours[0]["score"] - theirs[0]["score"]) <= 1e-3


def test_load_call_is_forward(check: CheckContext) -> None:
    model = check.exported()
    inputs = as_torch(check.inputs())
    called, forwarded = check.run(model, inputs), model.forward(**inputs)
    with check.at("infer"):
        assert max_difference(called, forwarded, list(check.oracle(check.inputs()))) == 0.0


def test_load_backend_kwargs_reach_runtime(check: CheckContext) -> None:
    if check.spec.runtime_probe is None:
        pytest.skip(NOT_RUN + "the spec declares no runtime probe")
    kwargs, probe = check.spec.runtime_probe()
    model = check.load(check.saved_copy(), **kwargs)
    with check.at("load"):
        assert probe(model), f"backend options {sorted(kwargs)} did not reach the runtime object"
    check.run(model, as_torch(check.inputs()))
