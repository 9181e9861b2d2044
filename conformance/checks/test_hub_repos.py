"""load.* on Hub repos of a special kind: external data, custom code, PyTorch-only, other libraries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance import families, zoo
from conformance.cases import CheckContext
from conformance.catalogue import clause
from conformance.checks.helpers import (
    RELOAD_ATOL,
    as_torch,
    assert_parity,
    edit_config,
    max_difference,
    parity_of,
    raises,
)
from conformance.engine.outcomes import not_run, unsupported

pytestmark = pytest.mark.hub

# Where exporters put ONNX external data: optimum (`model.onnx_data`), torch.onnx's dynamo exporter
# (`model.onnx.data`), a name of the author's choosing, and onnx's one-file-per-tensor layout (None).
EXTERNAL_DATA_NAMINGS = {
    "optimum": "model.onnx_data",
    "torch-dynamo": "model.onnx.data",
    "custom-name": "weights.bin",
    "per-tensor": None,
}


def _with_external_data(onnx_file: Path, location: str | None) -> list[str]:
    """Rewrite `onnx_file` with every initializer in external data; returns the new files' names."""
    import onnx

    before = set(onnx_file.parent.iterdir())
    proto = onnx.load(str(onnx_file))
    onnx.save_model(
        proto,
        str(onnx_file),
        save_as_external_data=True,
        all_tensors_to_one_file=location is not None,
        location=location,
        size_threshold=0,
    )
    return sorted(p.name for p in set(onnx_file.parent.iterdir()) - before)


@clause(
    "load.external_data",
    "strict",
    "ONNX external data under every naming convention loads, locally and from the Hub, and re-saves",
    requires=("forward",),
)
def test_load_external_data(check: CheckContext) -> None:
    """ONNX weights in external data, under every naming convention: local, from the Hub, re-saved."""
    main = check.spec.artifacts[0] if check.spec.artifacts else ""
    if not main.endswith(".onnx"):
        unsupported(f"external data is an ONNX feature; {check.spec.name} saves {main or '?'}")
    try:
        import onnx  # noqa: F401
    except ImportError as error:
        not_run(f"onnx is needed to write external data: {error}")
    failures = []
    for label, location in EXTERNAL_DATA_NAMINGS.items():
        folder = check.saved_copy()
        written = _with_external_data(folder / main, location)
        check.metrics[f"files_{label}"] = len(written)
        try:
            local = check.load(folder)
            parity_of(check, local)
            parity_of(
                check,
                check.load(check.published(f"external-{label}", folder), cache_dir=check.tmp_path / label),
            )
            resaved = check.tmp_path / f"resaved-{label}"
            with check.at("save"):
                local.save_pretrained(resaved)
            inputs = as_torch(check.inputs())
            error = max_difference(
                check.run(check.load(resaved), inputs),
                check.run(local, inputs),
                list(check.oracle(check.inputs())),
            )
            with check.at("reload"):
                assert error <= RELOAD_ATOL, f"the re-saved model differs by {error:.3g}"
        except Exception as error:
            failures.append(f"{label} ({', '.join(written[:3])}): {type(error).__name__}: {str(error)[:200]}")
    with check.at(check.stage or "load"):
        assert not failures, "; ".join(failures)


CUSTOM_CONFIG_CODE = """\
from pathlib import Path

from transformers import {base}

Path({marker!r}).write_text("the custom code ran")


class ConformanceCustomConfig({base}):
    model_type = "conformance-custom"
"""
# The model class too, so that a backend that builds the PyTorch model at load time (IPEX) can.
CUSTOM_MODEL_CODE = """\
from transformers import {base}

from .configuration_conformance import ConformanceCustomConfig


class ConformanceCustomModel({base}):
    config_class = ConformanceCustomConfig
"""


@clause(
    "load.trust_remote_code",
    "core",
    "custom code is refused (and not run) without trust_remote_code=True, and loads with it",
    requires=("forward",),
)
def test_load_trust_remote_code(check: CheckContext) -> None:
    """A repo with custom code: refused without trust_remote_code (and the code does not run),
    loaded with it."""
    folder = check.saved_copy()
    marker = check.tmp_path / "remote-code-ran"
    oracle = check.oracle_model()
    config_base, model_base = type(oracle.config).__name__, type(oracle).__name__
    (folder / "configuration_conformance.py").write_text(
        CUSTOM_CONFIG_CODE.format(base=config_base, marker=str(marker))
    )
    (folder / "modeling_conformance.py").write_text(CUSTOM_MODEL_CODE.format(base=model_base))
    auto_map = {
        "AutoConfig": "configuration_conformance.ConformanceCustomConfig",
        families.auto_classes()[check.case.task]: "modeling_conformance.ConformanceCustomModel",
    }
    edit_config(folder, model_type="conformance-custom", auto_map=auto_map)
    repo_id = check.published("remote-code", folder)
    cache = check.tmp_path / "cache"
    raises(check, (ValueError, OSError), "trust_remote_code", lambda: check.load(repo_id, cache_dir=cache))
    with check.at("load"):
        assert not marker.exists(), "the repo's custom code ran without trust_remote_code=True"
    model = check.load(repo_id, cache_dir=cache, trust_remote_code=True)
    with check.at("load"):
        assert marker.exists(), "trust_remote_code=True did not run the repo's config code"
        assert type(model.config).__name__ == "ConformanceCustomConfig", type(model.config).__name__
    parity_of(check, model)


@clause(
    "load.export_task_from_class",
    "core",
    "the export task comes from the class, not the config or card",
    requires=("forward",),
)
def test_load_export_task_from_class(check: CheckContext) -> None:
    """The export task comes from the class: not from config.architectures nor the Hub card."""
    repo_id, folder = check.zoo_repo("decoy-task")
    check.metrics.update(decoy=json.loads((folder / "config.json").read_text())["architectures"][0])
    parity_of(check, check.export(repo_id, cache_dir=check.tmp_path / "cache"))


@clause(
    "load.library_timm",
    "core",
    "a timm checkpoint on the Hub is exported and matches timm",
    requires=("forward", "library:timm"),
)
def test_load_library_timm(check: CheckContext) -> None:
    """A timm checkpoint on the Hub (config with `architecture`) is exported and matches timm."""
    repo_id, _ = check.zoo_repo("pytorch")
    parity_of(check, check.load(repo_id, cache_dir=check.tmp_path / "cache"))


@clause(
    "load.library_sentence_transformers",
    "core",
    "a sentence-transformers repo loads as feature extraction and matches sentence-transformers",
    requires=("forward",),
)
def test_load_library_sentence_transformers(check: CheckContext) -> None:
    """A sentence-transformers repo loads in the feature-extraction class: token embeddings (and the
    sentence embedding, when the backend returns one) match sentence-transformers."""
    if "feature-extraction" not in check.spec.classes:
        unsupported(f"{check.spec.name} declares no feature-extraction class")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        not_run(f"sentence-transformers cannot be imported here: {error}")
    repo_id, folder = check.zoo_repo("sentence-transformers", arch="bert", task="feature-extraction")
    model = check.load(
        repo_id, cls=check.spec.model_class("feature-extraction"), cache_dir=check.tmp_path / "c"
    )
    inputs = zoo.sample_inputs(folder, "feature-extraction")
    import torch

    with torch.no_grad(), check.in_oracle("bert", library="sentence-transformers"):
        oracle = SentenceTransformer(str(folder), device="cpu").eval()(as_torch(inputs))
    result = check.run(model, as_torch(inputs))
    expected = {"last_hidden_state": oracle["token_embeddings"].numpy()}
    if getattr(result, "sentence_embedding", None) is not None:
        expected["sentence_embedding"] = oracle["sentence_embedding"].numpy()
    check.metrics.update(outputs=sorted(expected))
    assert_parity(check, result, expected, inputs)
