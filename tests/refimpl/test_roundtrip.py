"""save_pretrained / reload, for every reference backend."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conformance import zoo
from tests.refimpl.backends import load, model_class, zoo_folder

ARTIFACTS = {"ort": {"model.onnx"}, "ov": {"openvino_model.xml", "openvino_model.bin"}, "ipex": {"model.pt"}}


def outputs(model: object, folder: Path, task: str) -> dict[str, np.ndarray]:
    result = model(**zoo.sample_inputs(folder, task))
    return {k: v for k, v in result.items() if v is not None}


def preprocessor_files(model: object, tmp_path: Path) -> set[str]:
    """What the model's preprocessors write on their own: the only extra files a save may hold."""
    target = tmp_path / "preprocessors-only"
    target.mkdir()
    for preprocessor in model.preprocessors:
        preprocessor.save_pretrained(target)
    return {p.name for p in target.iterdir()}


def assert_same_outputs(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(a[name], b[name], atol=1e-7, rtol=0, err_msg=name)


def test_save_reload_equal_and_manifest(
    backend: str, zoo_export: tuple[zoo.ZooModel, Path, Any], tmp_path: Path
) -> None:
    model, source, exported = zoo_export
    before = outputs(exported, source, model.task)
    exported.save_pretrained(tmp_path / "saved")

    saved = {p.name for p in (tmp_path / "saved").iterdir()}
    assert saved == {"config.json"} | ARTIFACTS[backend] | preprocessor_files(exported, tmp_path)
    assert exported.preprocessors, "the zoo ships a tokenizer or image processor; it must be loaded"

    reloaded = load(backend, model.task, tmp_path / "saved")
    assert_same_outputs(before, outputs(reloaded, source, model.task))


def test_artifacts_are_copied_bitwise(backend: str, exported_copy, tmp_path: Path) -> None:
    folder = exported_copy()
    load(backend, "text-classification", folder).save_pretrained(tmp_path / "again")
    for name in ARTIFACTS[backend]:
        assert (folder / name).read_bytes() == (tmp_path / "again" / name).read_bytes()


def test_save_into_source_folder(backend: str, exported_copy) -> None:
    folder = exported_copy()
    model = load(backend, "text-classification", folder)
    before = outputs(model, folder, "text-classification")
    model.save_pretrained(folder)
    assert_same_outputs(
        before, outputs(load(backend, "text-classification", folder), folder, "text-classification")
    )
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}.saving-")]


def test_subfolder_with_root_config_loads_and_saves_flat(backend: str, exported_copy, tmp_path: Path) -> None:
    folder = exported_copy()
    (folder / "backend").mkdir()
    for name in ARTIFACTS[backend]:
        shutil.move(folder / name, folder / "backend" / name)
    model = load(backend, "text-classification", folder, subfolder="backend")
    before = outputs(model, folder, "text-classification")

    model.save_pretrained(tmp_path / "flat")
    assert ARTIFACTS[backend] <= {p.name for p in (tmp_path / "flat").iterdir()}
    assert not (tmp_path / "flat" / "backend").exists()
    assert_same_outputs(
        before,
        outputs(load(backend, "text-classification", tmp_path / "flat"), folder, "text-classification"),
    )


def test_config_in_subfolder_is_preferred(backend: str, exported_copy) -> None:
    folder = exported_copy()
    (folder / "backend").mkdir()
    for name in [*ARTIFACTS[backend], "config.json"]:
        shutil.copy(folder / name, folder / "backend" / name)
    config = json.loads((folder / "config.json").read_text())
    config["id2label"] = {"0": "root-a", "1": "root-b", "2": "root-c"}
    (folder / "config.json").write_text(json.dumps(config))
    model = load(backend, "text-classification", folder, subfolder="backend")
    assert model.config.id2label[0] == "neg"


def test_save_to_existing_file_raises(backend: str, exported_copy, tmp_path: Path) -> None:
    model = load(backend, "text-classification", exported_copy())
    target = tmp_path / "a-file"
    target.write_text("keep me")
    with pytest.raises(FileExistsError, match="a-file"):
        model.save_pretrained(target)
    assert target.read_text() == "keep me"


def test_overwrite_keeps_unrelated_files(backend: str, exported_copy, tmp_path: Path) -> None:
    model = load(backend, "text-classification", exported_copy())
    target = tmp_path / "out"
    model.save_pretrained(target)
    (target / "README.md").write_text("user notes")
    model.save_pretrained(target)
    assert (target / "README.md").read_text() == "user notes"
    load(backend, "text-classification", target)


def test_failed_save_changes_nothing(backend: str, exported_copy, tmp_path: Path) -> None:
    cls = model_class(backend, "text-classification")

    class FailingSave(cls):
        def _save_pretrained(self, save_directory: Path) -> None:
            super()._save_pretrained(save_directory)
            raise OSError("disk full (simulated)")

    folder = exported_copy()
    model = FailingSave.from_pretrained(folder)
    target = tmp_path / "existing"
    shutil.copytree(folder, target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    with pytest.raises(OSError, match="disk full"):
        model.save_pretrained(target)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".existing.saving-")]


def test_save_after_export_survives_gc(backend: str, tmp_path: Path) -> None:
    import gc

    source = zoo_folder(zoo.ZooModel("bert", "text-classification"))
    model = load(backend, "text-classification", source, export=True)
    gc.collect()
    model.save_pretrained(tmp_path / "saved")
    load(backend, "text-classification", tmp_path / "saved")
