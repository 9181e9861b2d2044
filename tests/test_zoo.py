"""The tiny model zoo: deterministic, offline, with working preprocessors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from conformance import zoo


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


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
    assert len([m for m in models if m.spec.modality == "text"]) == 8 * 6
    assert {m.task for m in models if m.arch == "vit"} == {"feature-extraction", "image-classification"}


def test_tokenizer_round_trip(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(zoo.build("roberta", "fill-mask"))
    ids = tokenizer("hello world")["input_ids"]
    assert tokenizer.decode(ids, skip_special_tokens=True) == "hello world"
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    assert "token_type_ids" not in tokenizer("hello")  # RoBERTa takes none


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
