"""What is specific to the ONNX Runtime backend: providers, external data, ONNX corruption."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from conformance import zoo
from reference.onnx_files import external_data_locations
from reference.onnxruntime import ORTModelForSequenceClassification as ORTModel
from tests.refimpl.backends import zoo_folder

TASK = "text-classification"


@pytest.fixture
def source() -> Path:
    return zoo_folder(zoo.ZooModel("bert", TASK))


def logits(model: ORTModel, folder: Path) -> np.ndarray:
    return model(**zoo.sample_inputs(folder, TASK)).logits


def test_unknown_provider_lists_available(source: Path) -> None:
    with pytest.raises(ValueError, match=r"NoSuchExecutionProvider.*CPUExecutionProvider"):
        ORTModel.from_pretrained(source, export=True, provider="NoSuchExecutionProvider")


def test_session_options_and_providers_reach_the_runtime(source: Path) -> None:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    model = ORTModel.from_pretrained(
        source, export=True, providers=["CPUExecutionProvider"], session_options=options
    )
    assert model.providers == ["CPUExecutionProvider"]
    assert model.model.get_session_options().intra_op_num_threads == 1


def test_external_data_export_save_and_reload(source: Path, tmp_path: Path) -> None:
    model = ORTModel.from_pretrained(source, export=True, external_data_threshold=0)
    assert external_data_locations(model.model_path) == ["model.onnx_data"]
    model.save_pretrained(tmp_path / "saved")
    assert {"model.onnx", "model.onnx_data"} <= {p.name for p in (tmp_path / "saved").iterdir()}
    reloaded = ORTModel.from_pretrained(tmp_path / "saved")
    np.testing.assert_allclose(logits(reloaded, source), logits(model, source), atol=1e-7)


@pytest.mark.parametrize("layout", ["one-file-other-name", "file-per-tensor"])
def test_any_external_data_naming_is_loaded_and_saved_standard(
    source: Path, tmp_path: Path, layout: str
) -> None:
    exported = ORTModel.from_pretrained(source, export=True)
    exported.save_pretrained(tmp_path / "plain")
    folder = tmp_path / layout
    shutil.copytree(tmp_path / "plain", folder)
    proto = onnx.load(str(folder / "model.onnx"))
    onnx.save_model(
        proto,
        str(folder / "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=layout == "one-file-other-name",
        location="weights.bin" if layout == "one-file-other-name" else None,
        size_threshold=0,
    )
    assert external_data_locations(folder / "model.onnx")
    loaded = ORTModel.from_pretrained(folder)
    np.testing.assert_allclose(logits(loaded, source), logits(exported, source), atol=1e-7)
    loaded.save_pretrained(tmp_path / "resaved")
    assert external_data_locations(tmp_path / "resaved" / "model.onnx") == ["model.onnx_data"]
    np.testing.assert_allclose(
        logits(ORTModel.from_pretrained(tmp_path / "resaved"), source), logits(exported, source), atol=1e-7
    )


def test_missing_external_data_file_is_named(source: Path, tmp_path: Path) -> None:
    ORTModel.from_pretrained(source, export=True, external_data_threshold=0).save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "model.onnx_data").unlink()
    with pytest.raises(FileNotFoundError, match=r"model\.onnx_data"):
        ORTModel.from_pretrained(tmp_path / "m")
