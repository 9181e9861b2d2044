"""The tiny model zoo: deterministic, offline, with working preprocessors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from conformance import zoo


def digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()
    }


@pytest.mark.parametrize(("arch", "task"), [("bert", "text-classification"), ("vit", "image-classification")])
def test_same_key_gives_the_same_bytes(arch: str, task: str, tmp_path: Path, no_network: list) -> None:
    first = zoo.build(arch, task, root=tmp_path / "a")
    second = zoo.build(arch, task, root=tmp_path / "b")
    assert digest(first) == digest(second)
    assert zoo.build(arch, task, root=tmp_path / "a") == first  # cached: same folder
    assert no_network == []


def test_every_architecture_has_its_tasks() -> None:
    models = list(zoo.models())
    assert {m.arch for m in models} == set(zoo.ARCHS)
    assert len([m for m in models if m.family.name == "encoder"]) == 8 * 6
    assert {m.task for m in models if m.family.name == "causal_lm"} == {"text-generation"}
    assert {m.task for m in models if m.arch == "vit"} == {"feature-extraction", "image-classification"}


def test_tokenizer_round_trip(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(zoo.build("roberta", "fill-mask"))
    ids = tokenizer("hello world")["input_ids"]
    assert tokenizer.decode(ids, skip_special_tokens=True) == "hello world"
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    assert "token_type_ids" not in tokenizer("hello")  # RoBERTa takes none


@pytest.mark.parametrize("arch", ["gpt2", "llama", "qwen2"])
def test_causal_sample_batch_holds_the_words(arch: str, tmp_path: Path) -> None:
    """The left-padded sample batch of a zoo decoder: the longest row unpadded, every row words of the
    vocabulary (on transformers 5, AutoTokenizer turns qwen2's into nothing: Qwen2Tokenizer)."""
    from conformance.families.causal_lm import SPECIAL_IDS

    inputs = zoo.sample_inputs(
        zoo.build(arch, "text-generation", root=tmp_path), "text-generation", batch_size=3
    )
    mask, ids = inputs["attention_mask"], inputs["input_ids"]
    assert ids.shape == (3, 8) and mask[0].all()
    assert mask.sum(axis=1).tolist() == [8, 6, 4]
    assert (ids[mask == 1] > max(SPECIAL_IDS.values())).all()


def test_timm_is_an_honest_not_run_or_builds() -> None:
    model = zoo.ZooModel("timm-resnet", "image-classification")
    reason = model.missing_requirement()
    if reason is None:
        assert (zoo.build(model.arch, model.task) / "model.safetensors").is_file()
    else:
        assert "timm" in reason
        with pytest.raises(ImportError, match="timm"):
            zoo.build(model.arch, model.task)


def test_base_size_variant_has_bert_base_dimensions() -> None:
    kwargs = zoo._config_kwargs(zoo.ZooModel("bert", "text-classification", size="base"))
    assert (kwargs["hidden_size"], kwargs["num_hidden_layers"], kwargs["vocab_size"]) == (768, 12, 30522)


@pytest.mark.hub
def test_hub_layouts_are_published_once_and_shared(embedded_hub, tmp_path: Path) -> None:
    import json

    from conformance import zoo_hub
    from conformance.hubaccess import HubAccess

    source = zoo.build("bert", "text-classification")
    folder, key = zoo_hub.build_layout("decoy-task", source, tmp_path / "worker-1")
    again, same_key = zoo_hub.build_layout("decoy-task", source, tmp_path / "worker-2")
    assert key == same_key and digest(folder) == digest(again)
    assert json.loads((folder / "config.json").read_text())["architectures"] == ["BertModel"]
    assert "pipeline_tag: feature-extraction" in (folder / "README.md").read_text()
    assert not (folder / ".complete").exists()  # the zoo's build marker is not published
    name = f"zoo-decoy-task-{key}"
    repo_id = HubAccess().shared_repo(name, folder)
    assert HubAccess().shared_repo(name, again) == repo_id  # another worker: the same repo
    uploads = [c for c in embedded_hub.commits(repo_id) if c["title"] != "initial commit"]
    assert len(uploads) == 1
    assert set(embedded_hub.files(repo_id)) >= {"config.json", "model.safetensors", "README.md"}
