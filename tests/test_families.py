"""The task-family registry: one home per family, and what derives from it."""

from __future__ import annotations

import numpy as np
import pytest

from conformance import families, zoo
from conformance.backends import CLASS_SUFFIX
from conformance.compare import differences, within


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


def test_family_of_a_checkpoint_config() -> None:
    assert families.family_of_config({"model_type": "roberta"}).name == "encoder"
    assert families.family_of_config({"model_type": "vit"}).name == "image"
    assert families.family_of_config({"architecture": "resnet18"}).name == "image"
    with pytest.raises(KeyError, match="no task family knows model_type 'nothing'"):
        families.family_of_config({"model_type": "nothing"})


def test_the_oracle_keeps_nested_outputs() -> None:
    torch = pytest.importorskip("torch")
    from conformance.families.forward import as_numpy_tree

    cache = ((torch.ones(1, 2), torch.zeros(1, 2)),)
    assert isinstance(as_numpy_tree(cache)[0][1], np.ndarray)


def test_nested_outputs_are_compared_leaf_by_leaf() -> None:
    expected = {"logits": np.zeros((1, 2)), "past_key_values": ((np.zeros((1, 2)), np.ones((1, 2))),)}
    same = {"logits": np.zeros((1, 2)), "past_key_values": ((np.zeros((1, 2)), np.ones((1, 2))),)}
    assert differences(same, expected)["max_abs_err"] == 0.0
    off = {"logits": np.zeros((1, 2)), "past_key_values": ((np.zeros((1, 2)), np.ones((1, 2)) + 0.5),)}
    assert differences(off, expected)["worst_output"] == "past_key_values.0.1"
    assert within(off, expected, 1e-4, 1e-4) == ["past_key_values.0.1"]
    with pytest.raises(AssertionError, match=r"past_key_values\.0' should hold 2 items"):
        differences({"logits": np.zeros((1, 2)), "past_key_values": ((np.zeros((1, 2)),),)}, expected)
