"""Bad input gets a typed error that names what was wrong and says what to do."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conformance import zoo
from reference.modeling_base import CorruptArtifactError
from tests.refimpl.backends import load, model_class, zoo_folder

TASK = "text-classification"


def test_missing_local_path(backend: str, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="neither a local directory nor a valid Hub repo id"):
        model_class(backend, TASK).from_pretrained(tmp_path / "does" / "not" / "exist")


def test_dir_without_config(backend: str, exported_copy) -> None:
    folder = exported_copy()
    (folder / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"No config\.json"):
        load(backend, TASK, folder)


def test_dir_without_weights(backend: str, exported_copy, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_bytes((exported_copy() / "config.json").read_bytes())
    with pytest.raises(FileNotFoundError, match="no PyTorch weights"):
        load(backend, TASK, tmp_path)


def test_missing_subfolder(backend: str, exported_copy) -> None:
    with pytest.raises(FileNotFoundError, match="Subfolder 'nope'"):
        load(backend, TASK, exported_copy(), subfolder="nope")


def test_architecture_cannot_do_task(backend: str) -> None:
    folder = zoo_folder(zoo.ZooModel("vit", "image-classification"))
    with pytest.raises(ValueError, match=r"cannot do the task 'question-answering'.*image-classification"):
        model_class(backend, "question-answering").from_pretrained(folder, export=True)


def test_artifact_for_another_task(backend: str, exported_copy) -> None:
    folder = exported_copy("bert", "feature-extraction")
    with pytest.raises(ValueError, match="question-answering"):
        load(backend, "question-answering", folder)


def test_unknown_model_type(backend: str, exported_copy) -> None:
    folder = exported_copy()
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "no-such-arch"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="no-such-arch"):
        load(backend, TASK, folder)


def test_config_without_library_markers(backend: str, exported_copy) -> None:
    folder = exported_copy()
    (folder / "config.json").write_text(json.dumps({"hidden_size": 32}))
    with pytest.raises(ValueError, match="Cannot tell which library"):
        load(backend, TASK, folder)


def test_diffusers_folder(backend: str, exported_copy) -> None:
    folder = exported_copy()
    (folder / "model_index.json").write_text("{}")
    with pytest.raises(ValueError, match="diffusers"):
        load(backend, TASK, folder)


def test_custom_code_needs_trust_remote_code(backend: str, exported_copy) -> None:
    folder = exported_copy()
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "configuration_evil.EvilConfig"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="trust_remote_code=True"):
        load(backend, TASK, folder)


def test_missing_required_and_unknown_inputs(backend: str, exported_copy) -> None:
    folder = exported_copy()
    model = load(backend, TASK, folder)
    inputs = zoo.sample_inputs(folder, TASK)
    with pytest.raises(ValueError, match="input_ids"):
        model(attention_mask=inputs["attention_mask"])
    with pytest.raises(TypeError, match="bogus"):
        model(**inputs, bogus=np.zeros(2))


@pytest.mark.parametrize("damage", ["truncated", "garbled", "empty"])
def test_corrupt_artifact_names_the_file(backend: str, exported_copy, damage: str) -> None:
    folder = exported_copy()
    artifact = folder / model_class(backend, TASK).default_file_name
    data = artifact.read_bytes()
    artifact.write_bytes(
        {
            "truncated": data[: len(data) // 2],
            "garbled": bytes(reversed(data[:4096])) + data[4096:],
            "empty": b"",
        }[damage]
    )
    with pytest.raises(CorruptArtifactError, match=artifact.name):
        load(backend, TASK, folder)
