"""The zoo on the Hub: backend-independent repo layouts, published once and shared.

These layouts hold PyTorch checkpoints only (the export paths, other libraries, a misleading
config), so every backend and every xdist worker of a session can share them. A repo id ends
with a digest of its content: the same content is published once per Hub (once per session for
the embedded one), and a changed zoo never reuses a stale repo. Layouts that hold a backend's own
artifacts (subfolders, branches, external data, custom code) are published per check from that
backend's export, in `conformance/checks/`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

from conformance.backends import CLASS_SUFFIX


def _pytorch(source: Path, folder: Path) -> None:
    """The checkpoint as transformers (or timm) saves it."""
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns(".complete"))


def _decoy_task(source: Path, folder: Path) -> None:
    """config.architectures and the card's pipeline_tag name another task than the checkpoint's:
    a backend must take the export task from its class."""
    _pytorch(source, folder)
    config = json.loads((folder / "config.json").read_text())
    own = config["architectures"][0]
    prefix = next((own[: -len(s) - 3] for s in CLASS_SUFFIX.values() if own.endswith("For" + s)), None)
    if prefix is None:  # a bare `<Arch>Model` (feature extraction): pretend it is a masked LM
        decoy_task, decoy = "fill-mask", own.removesuffix("Model") + "ForMaskedLM"
    else:
        decoy_task, decoy = "feature-extraction", f"{prefix}Model"
    config["architectures"] = [decoy]
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "README.md").write_text(f"---\nlibrary_name: transformers\npipeline_tag: {decoy_task}\n---\n")


def _sentence_transformers(source: Path, folder: Path) -> None:
    """The checkpoint as sentence-transformers saves it: a Transformer module and mean pooling."""
    _pytorch(source, folder)
    hidden = json.loads((source / "config.json").read_text())["hidden_size"]
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 64, "do_lower_case": False})
    )
    (folder / "config_sentence_transformers.json").write_text(json.dumps({"similarity_fn_name": "cosine"}))
    (folder / "1_Pooling").mkdir()
    pooling = {"word_embedding_dimension": hidden, "pooling_mode_mean_tokens": True}
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))


LAYOUTS: dict[str, Callable[[Path, Path], None]] = {
    "pytorch": _pytorch,
    "decoy-task": _decoy_task,
    "sentence-transformers": _sentence_transformers,
}


def build_layout(layout: str, source: Path, scratch: Path) -> tuple[Path, str]:
    """(folder, content digest) of the zoo folder `source` laid out as `layout`; built once."""
    folder = scratch / "zoo-layouts" / f"{layout}-{source.name}"
    if not folder.is_dir():
        staging = folder.with_name(folder.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.parent.mkdir(parents=True, exist_ok=True)
        LAYOUTS[layout](source, staging)
        staging.rename(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return folder, digest.hexdigest()[:10]
