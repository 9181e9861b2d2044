"""transformers `push_to_hub` then `from_pretrained(repo_id)` through the embedded Hub, offline."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.hub

WORDS = ["hello", "world", "the", "a", "tiny", "model", "says", "hi", "to", "embedded", "hub", "tests"]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A tiny BERT built from a config and a tokenizer made from a small vocab.txt: no downloads."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("vocab")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    model = transformers.BertModel(config).eval()
    return model, tokenizer


def test_push_to_hub_then_from_pretrained(embedded_hub, tiny_bert, tmp_path):
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    model, tokenizer = tiny_bert
    repo_id = embedded_hub.new_repo_id("tiny-bert")
    model.push_to_hub(repo_id, commit_message="add tiny bert")
    tokenizer.push_to_hub(repo_id)

    files = embedded_hub.files(repo_id)
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= set(files)
    assert files["model.safetensors"]["lfs"] is True  # *.safetensors is an LFS pattern
    assert embedded_hub.commits(repo_id)[-2]["title"] == "add tiny bert"

    cache = tmp_path / "cache"
    loaded = AutoModel.from_pretrained(repo_id, cache_dir=cache).eval()
    loaded_tokenizer = AutoTokenizer.from_pretrained(repo_id, cache_dir=cache)

    text = "hello tiny embedded hub"
    assert loaded_tokenizer(text)["input_ids"] == tokenizer(text)["input_ids"]
    expected, actual = model.state_dict(), loaded.state_dict()
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.equal(expected[key], actual[key]), key
    inputs = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(model(**inputs).last_hidden_state, loaded(**inputs).last_hidden_state)

    # A push to a branch (transformers creates it) and a load pinned to it.
    model.config.id2label = {0: "A", 1: "B"}
    model.config.push_to_hub(repo_id, revision="dev")
    model.config.id2label = {0: "LABEL_0", 1: "LABEL_1"}
    assert AutoConfig.from_pretrained(repo_id, revision="dev", cache_dir=cache).id2label == {0: "A", 1: "B"}
    main_config = AutoConfig.from_pretrained(repo_id, cache_dir=cache)
    assert main_config.id2label != {0: "A", 1: "B"}
