"""The from_pretrained contract: export decision, hooks, kwargs, config, library, offline, attributes."""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub.errors import LocalEntryNotFoundError

from conformance import zoo
from tests.refimpl.backends import load, model_class, zoo_folder

TASK = "text-classification"


@pytest.fixture
def source() -> Path:
    return zoo_folder(zoo.ZooModel("bert", TASK))


def test_pytorch_only_folder_is_exported_with_a_warning(backend: str, source: Path) -> None:
    with pytest.warns(UserWarning, match="exporting the PyTorch checkpoint"):
        model = load(backend, TASK, source)
    assert model(**zoo.sample_inputs(source, TASK)).logits.shape == (2, 3)


def test_export_true_with_artifacts_reexports_with_a_warning(
    backend: str, exported_copy, source: Path
) -> None:
    folder = exported_copy()
    shutil.copy(source / "model.safetensors", folder)
    with pytest.warns(UserWarning, match="re-exporting"):
        model = load(backend, TASK, folder, export=True)
    assert model.model_path.parent != folder


def test_legacy_from_transformers_hook_wins(backend: str, source: Path) -> None:
    calls = []

    class Legacy(model_class(backend, TASK)):
        @classmethod
        def _from_transformers(cls, model_id, config, **kwargs):
            calls.append(kwargs)
            return cls._export(model_id=model_id, config=config, **kwargs)

    Legacy.from_pretrained(source, export=True)
    assert len(calls) == 1
    assert {"revision", "subfolder", "token", "cache_dir", "local_files_only", "trust_remote_code"} <= set(
        calls[0]
    )


def test_unknown_kwarg_is_a_type_error_naming_it(backend: str, source: Path) -> None:
    with pytest.raises(TypeError, match="not_an_option"):
        model_class(backend, TASK).from_pretrained(source, export=True, not_an_option=1)


def test_config_object_and_config_path(backend: str, exported_copy, tmp_path: Path) -> None:
    from transformers import AutoConfig

    folder = exported_copy()
    config = AutoConfig.from_pretrained(folder)
    config.id2label = {0: "x", 1: "y", 2: "z"}
    assert load(backend, TASK, folder, config=config).config.id2label[2] == "z"
    config.save_pretrained(tmp_path / "other-config")
    assert load(backend, TASK, folder, config=tmp_path / "other-config").config.id2label[2] == "z"


def test_path_objects_and_at_sign_in_local_paths(backend: str, exported_copy, tmp_path: Path) -> None:
    folder = exported_copy()
    odd = tmp_path / "user@host"
    shutil.copytree(folder, odd)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # a local path is never split at '@'
        load(backend, TASK, odd)
        load(backend, TASK, str(odd))


def test_legacy_at_revision_for_hub_ids(
    backend: str, no_network: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with (
        pytest.warns(FutureWarning, match="deprecated"),
        pytest.raises(LocalEntryNotFoundError, match="'v2'"),
    ):
        model_class(backend, TASK).from_pretrained("someone/tiny@v2")
    with pytest.raises(ValueError, match="Two revisions"):
        model_class(backend, TASK).from_pretrained("someone/tiny@v2", revision="v3")
    assert no_network == []


@pytest.mark.parametrize("how", ["local_files_only", "HF_HUB_OFFLINE"])
def test_uncached_offline_load_fails_fast_without_network(
    backend: str, how: str, no_network: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kwargs = {"local_files_only": True} if how == "local_files_only" else {}
    if how == "HF_HUB_OFFLINE":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(LocalEntryNotFoundError, match="not in the local cache"):
        model_class(backend, TASK).from_pretrained("nobody/never-downloaded", cache_dir=tmp_path, **kwargs)
    assert time.monotonic() - start < 2
    assert no_network == []


def test_offline_load_from_a_cache_snapshot(
    backend: str, exported_copy, tmp_path: Path, no_network: list
) -> None:
    """The Hub cache layout (refs/main -> snapshots/<sha>) is read with no network at all."""
    folder = exported_copy()
    sha = "a" * 40
    repo = tmp_path / "cache" / "models--org--tiny"
    shutil.copytree(folder, repo / "snapshots" / sha)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(sha)
    model = load(backend, TASK, "org/tiny", cache_dir=tmp_path / "cache", local_files_only=True)
    assert model(**zoo.sample_inputs(folder, TASK)).logits.shape == (2, 3)
    assert load(backend, TASK, "org/tiny", cache_dir=tmp_path / "cache", local_files_only=True, revision=sha)
    assert no_network == []


def test_instance_attributes(backend: str, exported_copy) -> None:
    model = load(backend, TASK, exported_copy())
    assert model.config.model_type == "bert"
    assert model.device == torch.device("cpu")
    assert model.dtype == torch.float32
    assert model.can_generate() is False
    assert model.preprocessors
    assert model.auto_model_class.__name__ == "AutoModelForSequenceClassification"
    assert model.export_feature == TASK


def test_call_is_forward_and_return_dict_false(backend: str, exported_copy) -> None:
    folder = exported_copy()
    model = load(backend, TASK, folder)
    inputs = zoo.sample_inputs(folder, TASK)
    np.testing.assert_array_equal(model(**inputs).logits, model.forward(**inputs).logits)
    as_tuple = model(**inputs, return_dict=False)
    assert isinstance(as_tuple, tuple)
    np.testing.assert_array_equal(as_tuple[0], model(**inputs).logits)


def test_default_and_cast_inputs(backend: str, exported_copy) -> None:
    folder = exported_copy()
    model = load(backend, TASK, folder)
    inputs = zoo.sample_inputs(folder, TASK)
    expected = model(**inputs).logits
    without = {k: v for k, v in inputs.items() if k != "token_type_ids"}
    np.testing.assert_allclose(model(**without).logits, expected, atol=1e-7)
    as_int32 = {k: v.astype(np.int32) for k, v in inputs.items()}
    np.testing.assert_allclose(model(**as_int32).logits, expected, atol=1e-7)
    positional = model(inputs["input_ids"], inputs["attention_mask"])
    np.testing.assert_allclose(positional.logits, expected, atol=1e-7)


def test_image_float64_inputs_are_cast(backend: str, exported_copy) -> None:
    folder = exported_copy("vit", "image-classification")
    model = load(backend, "image-classification", folder)
    pixels = zoo.sample_inputs(folder, "image-classification")["pixel_values"]
    np.testing.assert_allclose(
        model(pixel_values=pixels.astype(np.float64)).logits, model(pixel_values=pixels).logits, atol=1e-6
    )


def test_pipeline(backend: str, exported_copy, source: Path) -> None:
    from transformers import pipeline

    folder = exported_copy()
    model = load(backend, TASK, folder)
    ours = pipeline("text-classification", model=model, tokenizer=model.preprocessors[0])
    theirs = pipeline(
        "text-classification", model=zoo.load_pytorch(source, TASK), tokenizer=model.preprocessors[0]
    )
    text = zoo.sample_texts()[0]
    assert ours(text)[0]["label"] == theirs(text)[0]["label"]
    assert ours(text)[0]["score"] == pytest.approx(theirs(text)[0]["score"], abs=1e-4)


def test_file_name_and_deterministic_default(backend: str, exported_copy) -> None:
    folder = exported_copy()
    cls = model_class(backend, TASK)
    artifact = cls.default_file_name
    stem, suffix = os.path.splitext(artifact)
    for companion in [p for p in folder.iterdir() if p.stem == stem and p.name != artifact]:
        shutil.copy(companion, folder / f"other{companion.suffix}")
    shutil.copy(folder / artifact, folder / f"other{suffix}")
    assert load(backend, TASK, folder, file_name=f"other{suffix}").model_path.name == f"other{suffix}"
    assert load(backend, TASK, folder).model_path.name == artifact  # the standard name wins
    for path in folder.glob(f"{stem}.*"):
        path.rename(folder / f"zz{path.suffix}")
    with pytest.warns(UserWarning, match="Several artifacts"):
        assert load(backend, TASK, folder).model_path.name == f"other{suffix}"  # sorted: other < zz
    with pytest.raises(FileNotFoundError, match=r"missing\.onnx"):
        load(backend, TASK, folder, file_name="missing.onnx")


def test_sentence_transformers_folder(backend: str, exported_copy) -> None:
    folder = exported_copy("bert", "feature-extraction")
    (folder / "modules.json").write_text(
        json.dumps([{"idx": 0, "name": "0", "path": "", "type": "x.Transformer"}])
    )
    model = load(backend, "feature-extraction", folder)
    assert model.library == "sentence_transformers"
    assert model(**zoo.sample_inputs(folder, "feature-extraction")).last_hidden_state.shape[0] == 2


def test_timm_folder_is_recognised(backend: str, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"architecture": "resnet18", "num_classes": 3}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    try:
        import timm  # noqa: F401
    except Exception:
        with pytest.raises(ImportError, match="timm model"):
            load(backend, "image-classification", tmp_path)
    else:
        with pytest.raises(Exception):  # noqa: B017 (empty weights: any loading error, not a library error)
            load(backend, "image-classification", tmp_path)
