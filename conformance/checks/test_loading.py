"""load.*: the local parts of the from_pretrained contract (Hub parts live with the Hub checks)."""

from __future__ import annotations

import shutil
from typing import Any

import torch

from conformance.cases import CheckContext
from conformance.catalogue import clause
from conformance.checks.helpers import (
    add_other_artifacts,
    artifact_files,
    as_torch,
    assert_parity,
    max_difference,
    move_artifacts,
)
from conformance.engine.outcomes import not_run


@clause("load.local_dir", "core", "loads a saved model from a local folder", requires=("forward",))
def test_load_local_dir(check: CheckContext) -> None:
    model = check.load(check.saved_copy())
    inputs = check.inputs()
    assert_parity(check, check.run(model, as_torch(inputs)), check.oracle(inputs), inputs)


@clause(
    "load.export", "core", "export=True converts a PyTorch checkpoint", sample="family", requires=("forward",)
)
def test_load_export(check: CheckContext) -> None:
    model = check.export()
    inputs = check.inputs()
    assert_parity(check, check.run(model, as_torch(inputs)), check.oracle(inputs), inputs)


@clause(
    "load.export_legacy_hook",
    "core",
    "export=True calls _from_transformers when the class defines it",
    requires=("forward",),
)
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


@clause(
    "load.auto_export", "core", "a PyTorch-only folder is exported without export=True", requires=("forward",)
)
def test_load_auto_export(check: CheckContext) -> None:
    model = check.load(check.source_dir())
    inputs = check.inputs()
    assert_parity(check, check.run(model, as_torch(inputs)), check.oracle(inputs), inputs)


@clause(
    "load.reexport", "core", "export=True re-exports even when artifacts are present", requires=("forward",)
)
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


@clause(
    "load.config_root_fallback",
    "core",
    "artifacts in a subfolder with config.json only at the root",
    requires=("forward",),
)
def test_load_config_root_fallback(check: CheckContext) -> None:
    folder = check.saved_copy()
    move_artifacts(check, folder, check.exported(), "backend")
    model = check.load(folder, subfolder="backend")
    inputs = check.inputs()
    assert_parity(check, check.run(model, as_torch(inputs)), check.oracle(inputs), inputs)


@clause("load.file_name", "core", "file_name= picks one of several artifacts", requires=("forward",))
def test_load_file_name(check: CheckContext) -> None:
    """With two artifacts side by side, file_name= picks the other one (the family's other model)."""
    folder = check.saved_copy()
    model = check.load(folder, file_name=add_other_artifacts(check, folder, "other"))
    other = check.family().alternate.arch
    inputs = check.inputs(arch=other)
    assert_parity(check, check.run(model, as_torch(inputs)), check.oracle(inputs, arch=other), inputs)


@clause("load.config_object", "core", "a config= object is used as is")
def test_load_config_object(check: CheckContext) -> None:
    from transformers import AutoConfig

    folder = check.saved_copy()
    config = AutoConfig.from_pretrained(folder)
    config.id2label = {i: f"given-{i}" for i in config.id2label}
    model = check.load(folder, config=config)
    with check.at("load"):
        assert model.config.id2label[0] == "given-0", "the config= object was not used"


@clause("load.config_path", "core", "a config= path is loaded from there")
def test_load_config_path(check: CheckContext) -> None:
    from transformers import AutoConfig

    folder = check.saved_copy()
    config = AutoConfig.from_pretrained(folder)
    config.id2label = {i: f"from-path-{i}" for i in config.id2label}
    config.save_pretrained(check.tmp_path / "config-elsewhere")
    model = check.load(folder, config=str(check.tmp_path / "config-elsewhere"))
    with check.at("load"):
        assert model.config.id2label[0] == "from-path-0", "the config= path was not used"


@clause("load.instance_attributes", "core", "config, device, dtype, can_generate(), preprocessors")
def test_load_instance_attributes(check: CheckContext) -> None:
    model = check.load(check.saved_copy())
    with check.at("load"):
        assert model.config.model_type == check.oracle_model().config.model_type
        assert isinstance(model.device, torch.device), f"device is {type(model.device).__name__}"
        generates = "generate" in check.case.model.capabilities
        assert model.can_generate() is generates, f"can_generate() is not {generates} for {check.case.task}"
        check.metrics.update(
            has_dtype=int(hasattr(model, "dtype")),
            preprocessors=len(getattr(model, "preprocessors", None) or []),
        )


@clause(
    "load.pipeline",
    "core",
    "works in transformers.pipeline with the PyTorch result",
    sample="family",
    requires=("forward",),
)
def test_load_pipeline(check: CheckContext) -> None:
    from transformers import pipeline

    source = check.source_dir()
    model = check.load(check.saved_copy())
    sample = check.case.model.family.pipeline_sample(check.case.model.spec, check.case.task, source)
    if sample is None:
        not_run(f"transformers has no pipeline for {check.case.task} on {check.case.arch}")
    kwargs, data = sample
    with check.at("infer"):
        ours = pipeline(check.case.task, model=model, **kwargs)(data)
    oracle = check.oracle_model()
    with check.in_oracle():
        theirs = pipeline(check.case.task, model=oracle, **kwargs)(data)
    with check.at("parity"):
        assert_same_pipeline_output(ours, theirs)


def assert_same_pipeline_output(ours: Any, theirs: Any, where: str = "output") -> None:
    """Equal labels, tokens and spans; scores and features within 1e-3 (the pipeline's rounding)."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and ours.keys() == theirs.keys(), f"{where}: {ours!r} vs {theirs!r}"
        for key in theirs:
            assert_same_pipeline_output(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(theirs, (list, tuple)):
        assert isinstance(ours, (list, tuple)) and len(ours) == len(theirs), (
            f"{where}: {ours!r} vs {theirs!r}"
        )
        for index, (mine, expected) in enumerate(zip(ours, theirs)):
            assert_same_pipeline_output(mine, expected, f"{where}[{index}]")
    elif isinstance(theirs, float) or hasattr(theirs, "dtype"):
        assert abs(float(ours) - float(theirs)) <= 1e-3, f"{where}: {ours} vs PyTorch {theirs}"
    else:
        assert ours == theirs, f"{where}: {ours!r} vs PyTorch {theirs!r}"


@clause("load.call_is_forward", "core", "__call__ is forward", requires=("forward",))
def test_load_call_is_forward(check: CheckContext) -> None:
    model = check.exported()
    inputs = as_torch(check.inputs())
    called, forwarded = check.run(model, inputs), model.forward(**inputs)
    with check.at("infer"):
        assert max_difference(called, forwarded, list(check.oracle(check.inputs()))) == 0.0


@clause(
    "load.backend_kwargs_reach_runtime",
    "core",
    "backend options reach the runtime object",
    requires=("forward",),
)
def test_load_backend_kwargs_reach_runtime(check: CheckContext) -> None:
    if check.spec.runtime_probe is None:
        not_run("the spec declares no runtime probe")
    kwargs, probe = check.spec.runtime_probe()
    model = check.load(check.saved_copy(), **kwargs)
    with check.at("load"):
        assert probe(model), f"backend options {sorted(kwargs)} did not reach the runtime object"
    check.run(model, as_torch(check.inputs()))
