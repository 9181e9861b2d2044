"""The task-family registry: one home per family, and what derives from it."""

from __future__ import annotations

import numpy as np
import pytest

from conformance import families, zoo
from conformance.backends import CLASS_SUFFIX
from conformance.compare import Comparison, cache_pairs, differences, within


@pytest.mark.parametrize("family", families.FAMILIES, ids=lambda f: f.name)
def test_each_family_is_a_complete_contract(family: families.Family) -> None:
    names = {task.name for task in family.tasks}
    arch, task = family.representative
    assert task in names and arch in {a.name for a in family.archs}
    for spec in family.archs:
        assert set(spec.tasks) <= names, f"{spec.name} has tasks its family does not define"
        assert spec.preprocessor in (None, *families.PREPROCESSORS)
    assert {"forward"} <= family.capabilities
    assert family.trained <= {(a.name, t) for a in family.archs for t in a.tasks}
    other = family.alternate
    assert other.arch != arch and set(family.arch(other.arch).tasks) == names, (
        "the other model does every task"
    )
    assert other.misfit_task in names and families.family_of(other.misfit[0]) is not family
    assert other.misfit[1] in zoo.ARCHS[other.misfit[0]].tasks


def test_task_tables_derive_from_the_families() -> None:
    assert families.class_suffixes() == CLASS_SUFFIX
    assert (
        CLASS_SUFFIX["fill-mask"] == "MaskedLM"
        and CLASS_SUFFIX["image-classification"] == "ImageClassification"
    )
    assert families.auto_classes()["feature-extraction"] == "AutoModel"  # text and image agree
    assert list(families.tasks())[:2] == ["feature-extraction", "text-classification"]
    assert {m.arch for m in zoo.models()} == {a.name for f in families.FAMILIES for a in f.archs}


def test_case_capabilities_say_what_a_check_may_require() -> None:
    assert zoo.ZooModel("bert", "fill-mask").capabilities == {"forward", "tokenizer", "library:transformers"}
    assert "trained_weights" in zoo.ZooModel("bert", "feature-extraction").capabilities
    assert "image_processor" in zoo.ZooModel("vit", "image-classification").capabilities
    assert zoo.ZooModel("timm-resnet", "image-classification").capabilities == {"forward", "library:timm"}
    assert zoo.ZooModel("llama", "text-generation").capabilities == {
        "forward",
        "generate",
        "tokenizer",
        "library:transformers",
    }


def test_family_of_a_checkpoint_config() -> None:
    assert families.family_of_config({"model_type": "roberta"}).name == "encoder"
    assert families.family_of_config({"model_type": "vit"}).name == "image"
    assert families.family_of_config({"architecture": "resnet18"}).name == "image"
    assert families.family_of_config({"model_type": "llama"}).name == "causal_lm"
    with pytest.raises(KeyError, match="no task family knows model_type 'nothing'"):
        families.family_of_config({"model_type": "nothing"})


def _tiny_decoder(arch: str = "llama"):
    transformers = pytest.importorskip("transformers")
    from conformance.families.causal_lm import CAUSAL_LM

    spec = CAUSAL_LM.arch(arch)
    config = getattr(transformers, spec.config_class)(**CAUSAL_LM.config_kwargs(spec, "text-generation", {}))
    return transformers.AutoModelForCausalLM.from_config(config).eval()


def test_a_real_dynamic_cache_becomes_key_value_pairs() -> None:
    """The cache a tiny decoder's forward returns (a DynamicCache, with `.layers` from transformers
    4.56 on and no `to_legacy_cache` on 5.x) is read as (key, value) per layer, as numpy by the oracle."""
    torch = pytest.importorskip("torch")
    from transformers import DynamicCache

    from conformance.families.forward import as_numpy_tree

    net = _tiny_decoder()
    with torch.no_grad():
        cache = net(input_ids=torch.tensor([[5, 6, 7]]), use_cache=True).past_key_values
    assert isinstance(cache, DynamicCache)
    pairs = cache_pairs(cache)
    assert len(pairs) == net.config.num_hidden_layers and all(len(pair) == 2 for pair in pairs)
    kv_heads, head_dim = (
        net.config.num_key_value_heads,
        net.config.hidden_size // net.config.num_attention_heads,
    )
    assert all(t.shape == (1, kv_heads, 3, head_dim) for pair in pairs for t in pair)
    assert torch.equal(pairs[1][1], cache.layers[1].values)  # the cache's own tensors, in order
    tree = as_numpy_tree(cache)
    assert isinstance(tree[1][0], np.ndarray) and np.array_equal(tree[1][0], pairs[1][0].numpy())


def test_an_old_style_cache_and_a_legacy_tuple_become_pairs() -> None:
    """transformers < 4.56 kept `key_cache`/`value_cache` lists; a legacy tuple stays as it is."""
    from types import SimpleNamespace

    keys, values = [np.zeros((1, 2)), np.ones((1, 2))], [np.full((1, 2), 2.0), np.full((1, 2), 3.0)]
    old = cache_pairs(SimpleNamespace(key_cache=keys, value_cache=values))
    assert [(k[0, 0], v[0, 0]) for k, v in old] == [(0.0, 2.0), (1.0, 3.0)]
    legacy = ((keys[0], values[0]),)
    assert cache_pairs(legacy) is legacy


def test_the_causal_oracle_feeds_the_contract_positions_and_generates() -> None:
    """Forward: a left-padded row's logits on its real tokens equal the row alone (position_ids
    `cumsum(mask) - 1`). generate(): token ids, and one score and logit array per new token."""
    pytest.importorskip("torch")
    from conformance.families.causal_lm import CAUSAL_LM, NEW_TOKENS

    net = _tiny_decoder()
    padded = {"input_ids": np.array([[0, 0, 5, 6, 7]]), "attention_mask": np.array([[0, 0, 1, 1, 1]])}
    alone = {"input_ids": np.array([[5, 6, 7]]), "attention_mask": np.array([[1, 1, 1]])}
    assert set(CAUSAL_LM.oracle(net, padded)) == {"logits"}
    np.testing.assert_allclose(
        CAUSAL_LM.oracle(net, padded)["logits"][0, 2:], CAUSAL_LM.oracle(net, alone)["logits"][0], atol=1e-5
    )
    generated = CAUSAL_LM.generate_oracle(net, padded, CAUSAL_LM.generation_config())
    assert generated["sequences"].shape == (1, 5 + NEW_TOKENS)
    assert len(generated["scores"]) == len(generated["logits"]) == NEW_TOKENS
    greedy = [int(step[0].argmax()) for step in generated["scores"]]
    assert generated["sequences"][0, 5:].tolist() == greedy


def test_a_family_comparison_wants_token_ids_equal_and_the_rest_close() -> None:
    comparison = Comparison(exact=frozenset({"sequences"}), sequence_axes={"past_key_values": 2})
    expected = {"sequences": np.array([[1, 2, 3]]), "scores": (np.zeros((1, 4)),)}
    close = {"sequences": np.array([[1, 2, 3]]), "scores": (np.full((1, 4), 1e-6),)}
    assert comparison.judge(close, expected, 1e-4, 1e-4)[1] == []
    metrics, bad = comparison.judge({**close, "sequences": np.array([[1, 2, 4]])}, expected, 1e-4, 1e-4)
    assert bad == ["sequences"] and metrics == {"unequal_outputs": "sequences"}
    # A cache's pad positions (its sequence axis is 2) carry no meaning and are left out.
    mask = np.array([[0, 1]])
    cache = {"past_key_values": ((np.zeros((1, 3, 2, 3)), np.zeros((1, 3, 2, 3))),)}
    padded = np.zeros((1, 3, 2, 3))
    padded[:, :, 0] = 9.0
    off = {"past_key_values": ((padded, padded),)}
    assert comparison.judge(off, cache, 1e-4, 1e-4, mask)[1] == []
    assert Comparison().judge(off, cache, 1e-4, 1e-4, mask)[1] == [
        "past_key_values.0.0",
        "past_key_values.0.1",
    ]


def test_nested_outputs_are_compared_leaf_by_leaf() -> None:
    expected = {"logits": np.zeros((1, 2)), "past_key_values": ((np.zeros((1, 2)), np.ones((1, 2))),)}
    same = {"logits": np.zeros((1, 2)), "past_key_values": ((np.zeros((1, 2)), np.ones((1, 2))),)}
    assert differences(same, expected)["max_abs_err"] == 0.0
    off = {"logits": np.zeros((1, 2)), "past_key_values": ((np.zeros((1, 2)), np.ones((1, 2)) + 0.5),)}
    assert differences(off, expected)["worst_output"] == "past_key_values.0.1"
    assert within(off, expected, 1e-4, 1e-4) == ["past_key_values.0.1"]
    with pytest.raises(AssertionError, match=r"past_key_values\.0' should hold 2 items"):
        differences({"logits": np.zeros((1, 2)), "past_key_values": ((np.zeros((1, 2)),),)}, expected)
