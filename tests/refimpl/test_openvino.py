"""What is specific to the OpenVINO backend: devices, ov_config, compilation, reshape, IR and ONNX files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("openvino")

from conformance import zoo
from reference.modeling_base import CorruptArtifactError
from reference.openvino import OVModelForSequenceClassification as OVModel
from tests.refimpl.backends import backend_module, load, model_class, zoo_folder

TASK = "text-classification"


@pytest.fixture(scope="module")
def backend() -> str:
    """The shared fixtures (`exported_copy`) for this backend only."""
    backend_module("ov")
    return "ov"


@pytest.fixture
def folder(exported_copy) -> Path:
    return exported_copy()


def logits(model: OVModel, folder: Path, **shape: int) -> np.ndarray:
    return model(**zoo.sample_inputs(folder, TASK, **shape)).logits


def test_bf16_hint_reaches_the_compiled_model_or_is_ignored(folder: Path) -> None:
    """Where OpenVINO computes bf16 on this CPU the hint reaches the compiled model and visibly
    rounds; elsewhere OpenVINO ignores it and the outputs stay fp32's (test_precision.py judges
    bf16 accuracy, on trained weights)."""
    import openvino as ov

    bf16 = OVModel.from_pretrained(folder, ov_config={"INFERENCE_PRECISION_HINT": "bf16"})
    assert bf16.ov_config["INFERENCE_PRECISION_HINT"] == "bf16"  # the caller's precision wins over f32
    moved = float(np.abs(logits(bf16, folder) - logits(OVModel.from_pretrained(folder), folder)).max())
    if "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        assert bf16.compile().compiled_model.get_property("INFERENCE_PRECISION_HINT") == ov.Type.bf16
        assert moved > 1e-5, "OpenVINO reports bf16 here, yet the outputs equal fp32's"
    else:
        assert moved < 1e-5, f"no bf16 on this CPU, yet the outputs moved by {moved:.2g}"


def test_default_config_is_f32_latency_and_reaches_the_compiled_model(folder: Path) -> None:
    import openvino as ov

    model = OVModel.from_pretrained(folder)
    assert model.ov_config == {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    compiled = model.compile().compiled_model
    assert compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32
    assert str(compiled.get_property("PERFORMANCE_HINT")).endswith("LATENCY")
    chosen = OVModel.from_pretrained(
        folder, ov_config={"EXECUTION_MODE_HINT": "ACCURACY", "NUM_STREAMS": "1"}
    )
    assert chosen.ov_config == {
        "PERFORMANCE_HINT": "LATENCY",
        "EXECUTION_MODE_HINT": "ACCURACY",
        "NUM_STREAMS": "1",
    }
    np.testing.assert_allclose(logits(chosen, folder), logits(model, folder), atol=1e-6)


def test_device_names_and_unknown_device(folder: Path) -> None:
    model = OVModel.from_pretrained(folder, device="cpu")
    assert model._device == "CPU"
    assert model.device == torch.device("cpu")
    with pytest.raises(ValueError, match=r"'NO_SUCH_DEVICE'.*Available devices: \[.*'CPU'"):
        OVModel.from_pretrained(folder, device="no_such_device")
    with pytest.raises(ValueError, match=r"'CUDA'.*Available devices"):
        model.to("cuda")
    assert model.to("cpu") is model
    assert model.to(torch.device("cpu")) is model
    assert model.device == torch.device("cpu")


def test_compiles_lazily_once_and_reuses_one_request(folder: Path) -> None:
    model = OVModel.from_pretrained(folder)
    assert model._compile_count == 0 and model.request is None  # lazy: nothing compiled at load
    logits(model, folder)
    request = model.request
    for shape in ({"batch_size": 3, "sequence_length": 13}, {"batch_size": 1, "sequence_length": 5}, {}):
        logits(model, folder, **shape)
    assert model._compile_count == 1
    assert model.request is request
    model.to("CPU")  # same device: nothing to redo
    logits(model, folder)
    assert model._compile_count == 1
    explicit = OVModel.from_pretrained(folder).compile()
    assert explicit._compile_count == 1
    logits(explicit, folder)
    assert explicit._compile_count == 1


def test_outputs_are_copied_out_of_the_request(folder: Path) -> None:
    model = OVModel.from_pretrained(folder)
    first = logits(model, folder)
    kept = first.copy()
    model(**zoo.sample_inputs(folder, TASK, seed=1))  # other inputs, same request and output buffers
    np.testing.assert_array_equal(first, kept)


def test_compile_only(folder: Path, tmp_path: Path) -> None:
    import openvino as ov

    regular = OVModel.from_pretrained(folder)
    model = OVModel.from_pretrained(folder, compile_only=True)
    assert isinstance(model.model, ov.CompiledModel) and model._compile_count == 1
    for shape in ({}, {"batch_size": 3, "sequence_length": 13}):
        np.testing.assert_array_equal(logits(model, folder, **shape), logits(regular, folder, **shape))
    assert model._compile_count == 1
    misuses = (
        lambda: model.reshape(1, 8),
        model.half,
        lambda: model.to("GPU"),
        lambda: model.save_pretrained(tmp_path / "out"),
    )
    for misuse in misuses:
        with pytest.raises(ValueError, match=r"compile_only=True.*Load it without compile_only"):
            misuse()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage", ["truncated", "empty"])
@pytest.mark.parametrize("compile_only", [False, True])
def test_corrupt_bin_names_the_bin(folder: Path, damage: str, compile_only: bool) -> None:
    weights = folder / "openvino_model.bin"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2] if damage == "truncated" else b"")
    with pytest.raises(CorruptArtifactError, match=r"openvino_model\.bin"):
        OVModel.from_pretrained(folder, compile_only=compile_only)


def test_garbled_xml_with_compile_only(folder: Path) -> None:
    (folder / "openvino_model.xml").write_bytes(b"<net><layers><layer id='x'")
    with pytest.raises(CorruptArtifactError, match=r"openvino_model\.xml"):
        OVModel.from_pretrained(folder, compile_only=True)


def test_missing_bin_is_file_not_found(folder: Path) -> None:
    (folder / "openvino_model.bin").unlink()
    with pytest.raises(FileNotFoundError, match=r"openvino_model\.bin"):
        OVModel.from_pretrained(folder)


def test_reshape_to_static_shapes(folder: Path, tmp_path: Path) -> None:
    model = OVModel.from_pretrained(folder)
    dynamic = logits(model, folder, batch_size=2, sequence_length=16)
    assert model.reshape(2, 16) is model
    assert [str(p.get_partial_shape()) for p in model.model.inputs] == ["[2,16]"] * 3
    np.testing.assert_allclose(logits(model, folder, batch_size=2, sequence_length=16), dynamic, atol=1e-6)
    assert model._compile_count == 2  # once before, once after the reshape
    with pytest.raises(ValueError, match=r"'input_ids' has shape \[3, 9\].*\[2,16\].*reshape"):
        logits(model, folder, batch_size=3, sequence_length=9)
    model.save_pretrained(tmp_path / "static")  # a reshaped model saves what it runs
    saved = OVModel.from_pretrained(tmp_path / "static")
    assert str(saved.model.inputs[0].get_partial_shape()) == "[2,16]"
    model.reshape(-1, -1)
    logits(model, folder, batch_size=3, sequence_length=9)


def test_images_have_dynamic_height_and_width_where_the_model_allows(exported_copy) -> None:
    task = "image-classification"
    vit = model_class("ov", task).from_pretrained(exported_copy("vit", task))
    assert str(vit.model.inputs[0].get_partial_shape()) == "[?,3,32,32]"  # position embeddings fix the size
    folder = exported_copy("convnext", task)
    convnext = model_class("ov", task).from_pretrained(folder)
    assert str(convnext.model.inputs[0].get_partial_shape()) == "[?,3,?,?]"
    pixels = np.random.default_rng(0).standard_normal((2, 3, 64, 48), dtype=np.float32)
    oracle = zoo.pytorch_outputs(
        zoo.load_pytorch(zoo_folder(zoo.ZooModel("convnext", task)), task), {"pixel_values": pixels}
    )
    np.testing.assert_allclose(convnext(pixel_values=pixels).logits, oracle["logits"], atol=1e-4, rtol=1e-4)
    convnext.reshape(1, -1, 40, 40)
    assert str(convnext.model.inputs[0].get_partial_shape()) == "[1,3,40,40]"


def test_half_stores_fp16_weights(folder: Path, tmp_path: Path) -> None:
    model = OVModel.from_pretrained(folder)
    full = logits(model, folder)
    assert model.half() is model
    np.testing.assert_allclose(logits(model, folder), full, atol=1e-2)
    model.save_pretrained(tmp_path / "half")
    assert (tmp_path / "half" / "openvino_model.bin").stat().st_size < 0.6 * (
        folder / "openvino_model.bin"
    ).stat().st_size
    np.testing.assert_allclose(logits(OVModel.from_pretrained(tmp_path / "half"), folder), full, atol=1e-2)


def test_folder_with_only_model_onnx(tmp_path: Path) -> None:
    onnx_model = load("ort", TASK, zoo_folder(zoo.ZooModel("bert", TASK)), export=True)
    onnx_model.save_pretrained(tmp_path / "onnx")
    model = load("ov", TASK, tmp_path / "onnx")
    assert model.model_path.name == "model.onnx"
    source = zoo_folder(zoo.ZooModel("bert", TASK))
    expected = zoo.pytorch_outputs(zoo.load_pytorch(source, TASK), zoo.sample_inputs(source, TASK))["logits"]
    np.testing.assert_allclose(logits(model, source), expected, atol=1e-4, rtol=1e-4)
    model.save_pretrained(tmp_path / "ir")
    saved = {p.name for p in (tmp_path / "ir").iterdir()}
    assert {"openvino_model.xml", "openvino_model.bin"} <= saved and "model.onnx" not in saved
    np.testing.assert_array_equal(logits(load("ov", TASK, tmp_path / "ir"), source), logits(model, source))


def test_onnx_fallback_when_the_module_cannot_be_converted(monkeypatch: pytest.MonkeyPatch) -> None:
    from reference.openvino import export

    def cannot_trace(plan: object) -> None:
        raise RuntimeError("Couldn't get TorchScript module by tracing (simulated)")

    monkeypatch.setattr(export, "_convert_module", cannot_trace)
    source = zoo_folder(zoo.ZooModel("bert", TASK))
    model = OVModel.from_pretrained(source, export=True)
    assert [p.get_any_name() for p in model.model.inputs] == ["input_ids", "attention_mask", "token_type_ids"]
    assert model.output_names == ["logits"]
    expected = zoo.pytorch_outputs(
        zoo.load_pytorch(source, TASK), zoo.sample_inputs(source, TASK, batch_size=3)
    )
    np.testing.assert_allclose(logits(model, source, batch_size=3), expected["logits"], atol=1e-4, rtol=1e-4)


def test_tokenizer_graphs_are_not_model_artifacts(folder: Path, recwarn: pytest.WarningsRecorder) -> None:
    shutil.copy(folder / "openvino_model.xml", folder / "openvino_tokenizer.xml")
    shutil.copy(folder / "openvino_model.xml", folder / "openvino_detokenizer.xml")
    (folder / "openvino_model.xml").rename(folder / "model_renamed.xml")
    (folder / "openvino_model.bin").rename(folder / "model_renamed.bin")
    assert OVModel.from_pretrained(folder).model_path.name == "model_renamed.xml"
    assert not [w for w in recwarn if "Several artifacts" in str(w.message)]
