"""The causal-LM family: decoders that generate text, with a KV cache.

Zoo models are tiny random decoders (hidden 32, 2 layers) of nine architectures, each with an
offline word-level tokenizer whose bos/eos/pad ids sit inside the vocabulary: with the default
ids (gpt2's eos is 50256) of a tiny vocabulary, an eos could never be generated and eos handling
would go untested. Tokenizers pad on the left, as generation needs.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conformance.compare import Comparison
from conformance.families import Alternate, Arch, Family, Task
from conformance.families.encoder import INIT, WORDS, padded, position_limit, random_words
from conformance.families.forward import as_numpy_tree, pytorch_forward

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]  # ids 0..3
SPECIAL_IDS = {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
MAX_POSITIONS = 128
PROMPTS = ["hello world , this is a good movie", "paris is a city", "the cat and the dog are great"]
_TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 37}
_ROPE = {**_TINY, "num_key_value_heads": 2, "max_position_embeddings": MAX_POSITIONS}

# Optimum's causal LMs return CausalLMOutputWithPast for every architecture, where transformers'
# gpt2, bloom and falcon return CausalLMOutputWithCrossAttentions (same fields, plus cross-attentions).
TASKS = (Task("text-generation", "AutoModelForCausalLM", "CausalLM", output_class="CausalLMOutputWithPast"),)
NEW_TOKENS = 8
GENERATE_SEED = 7
# What generate() returns besides the token ids: the processed scores and the raw logits per step.
GENERATE_OUTPUTS = {"return_dict_in_generate": True, "output_scores": True, "output_logits": True}
GENERATED = ("sequences", "scores", "logits")


def _arch(name: str, config_class: str, config_kwargs: dict[str, Any]) -> Arch:
    return Arch(name, config_class, {**config_kwargs, **INIT, **SPECIAL_IDS}, ("text-generation",))


class CausalLMFamily(Family):
    name = "causal_lm"
    modality = "text"
    tasks = TASKS
    archs = (
        _arch("gpt2", "GPT2Config", {"n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": MAX_POSITIONS}),
        _arch("llama", "LlamaConfig", _ROPE),
        _arch("mistral", "MistralConfig", {**_ROPE, "sliding_window": None}),
        _arch("qwen2", "Qwen2Config", _ROPE),
        _arch("phi", "PhiConfig", {**_TINY, "max_position_embeddings": MAX_POSITIONS}),
        _arch("gemma", "GemmaConfig", {**_ROPE, "head_dim": 8}),
        _arch(
            "opt",
            "OPTConfig",
            {**_TINY, "ffn_dim": 37, "word_embed_proj_dim": 32, "max_position_embeddings": MAX_POSITIONS},
        ),
        _arch("bloom", "BloomConfig", {"hidden_size": 32, "n_layer": 2, "n_head": 4}),
        _arch("falcon", "FalconConfig", {**_TINY, "new_decoder_architecture": False, "multi_query": True}),
    )
    representative = ("llama", "text-generation")
    # qwen2: another graph (attention biases) with llama's cache geometry, which upstream classes
    # read from the folder's config.json (the representative's) to feed step 0. vit cannot generate.
    alternate = Alternate("qwen2", misfit=("vit", "image-classification"), misfit_task="text-generation")
    capabilities = frozenset({"forward", "generate"})
    # Where a cache is compared, it is (batch, heads, sequence, head dim); its pad positions are never attended.
    comparison = Comparison(exact=frozenset({"sequences"}), sequence_axes={"past_key_values": 2})

    def config_kwargs(self, arch: Arch, task: str, overrides: Any) -> dict[str, Any]:
        kwargs = super().config_kwargs(arch, task, overrides)
        kwargs.setdefault("vocab_size", len(vocabulary()))
        return kwargs

    def build(self, arch: Arch, task: str, config_kwargs: dict[str, Any], folder: Path) -> None:
        import torch
        import transformers

        from conformance.zoo import SEED

        config = getattr(transformers, arch.config_class)(**config_kwargs)
        torch.manual_seed(SEED)
        net = transformers.AutoModelForCausalLM.from_config(config).eval()
        net.generation_config = transformers.GenerationConfig(**SPECIAL_IDS)
        net.save_pretrained(folder, safe_serialization=True)
        tokenizer().save_pretrained(folder)

    def sample_inputs(
        self, folder: Path, task: str, batch_size: int, sequence_length: int | None, rng: Any
    ) -> dict[str, Any]:
        """`batch_size` prompts of different lengths, left-padded to the longest.

        The folder's tokenizer.json is read as it is: transformers 5's AutoTokenizer swaps in the
        model type's own class for some types (qwen2: Qwen2Tokenizer, which rebuilds a byte-level BPE
        and turns the zoo's words into nothing), and the harness's inputs must be the words."""
        import numpy as np
        from transformers import PreTrainedTokenizerFast

        encode = PreTrainedTokenizerFast.from_pretrained(folder)
        texts = []
        for row in range(batch_size):
            length = max(1, (sequence_length or 8) - row * 2)
            texts.append(" ".join(WORDS[int(i)] for i in rng.integers(0, len(WORDS), size=length)))
        encoded = encode(texts, padding=True, return_tensors="np")
        return {k: v.astype(np.int64) for k, v in encoded.items()}

    def sized_inputs(self, folder: Path, task: str, lengths: Sequence[int], rng: Any) -> dict[str, Any]:
        """Prompts of random words, one token each (no special tokens added), left-padded."""
        from transformers import PreTrainedTokenizerFast

        encode = PreTrainedTokenizerFast.from_pretrained(folder)  # as is: see sample_inputs
        return padded(encode, [(encode(random_words(rng, length)), length) for length in lengths])

    def max_positions(self, folder: Path, task: str) -> int | None:
        return position_limit(folder)

    def load_oracle(self, folder: Path, task: str) -> Any:
        import transformers

        return transformers.AutoModelForCausalLM.from_pretrained(folder).eval()

    def oracle(self, net: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        """The logits of the forward as the contract defines it: missing position_ids are
        `cumsum(mask) - 1`, pads at 0, so a left-padded row gives what it gives alone (transformers'
        own default counts the pads). Models without the input (bloom: ALiBi follows the mask) get none.

        The cache is left out: a stateful backend (upstream OpenVINO's default) keeps it inside its
        runtime and returns none, so it is judged through generation, not as a forward output."""
        import numpy as np

        feed = dict(inputs)
        if "position_ids" not in feed and takes_positions(net.forward):
            feed["position_ids"] = positions(feed.get("attention_mask", np.ones_like(feed["input_ids"])))
        return {"logits": pytorch_forward(net, feed)["logits"]}

    def generation_config(self, **options: Any) -> Any:
        """An explicit GenerationConfig: exactly `NEW_TOKENS` new tokens, the zoo's special ids,
        greedy unless `options` say otherwise. Both sides of a comparison get the same object, so
        nothing comes from either model's own defaults."""
        import transformers

        defaults = {"max_new_tokens": NEW_TOKENS, "min_new_tokens": NEW_TOKENS, "do_sample": False}
        return transformers.GenerationConfig(**{**defaults, **SPECIAL_IDS, **options})

    def generate_oracle(self, net: Any, inputs: dict[str, Any], config: Any) -> dict[str, Any]:
        """`sequences` (token ids), `scores` and `logits` (one array per step) of `generate()`."""
        import torch

        outputs = generate(net, {k: torch.from_numpy(v) for k, v in inputs.items()}, config)
        return {name: as_numpy_tree(value) for name, value in outputs.items() if name in GENERATED}

    def pipeline_sample(self, arch: Arch, task: str, source: Path) -> tuple[dict[str, Any], Any] | None:
        from transformers import AutoTokenizer

        # Explicit greedy options: the text-generation pipeline's own default samples, unseeded.
        options = {"max_new_tokens": NEW_TOKENS, "do_sample": False}
        return {"tokenizer": AutoTokenizer.from_pretrained(source), **options}, PROMPTS[1]


def generate(model: Any, inputs: dict[str, Any], config: Any) -> Any:
    """`model.generate()` as the suite runs it on either side: seeded (sampling draws the same
    numbers), with `GENERATE_OUTPUTS`, without gradients."""
    import torch

    torch.manual_seed(GENERATE_SEED)
    with torch.no_grad():
        return model.generate(**inputs, generation_config=config, **GENERATE_OUTPUTS)


def takes_positions(forward: Any, through_kwargs: bool = False) -> bool:
    """Whether `forward` takes position_ids: by name, or (`through_kwargs`) through `**kwargs`, as
    backends that hand their keywords to a transformers model do (optimum-intel's IPEX classes)."""
    parameters = inspect.signature(forward).parameters
    if "position_ids" in parameters:
        return True
    return through_kwargs and any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def positions(mask: Any) -> Any:
    """`cumsum(mask) - 1` with pads at 0, the position_ids a missing input means."""
    import numpy as np

    return np.clip(np.cumsum(mask, axis=-1) - 1, 0, None).astype(np.int64)


def vocabulary() -> list[str]:
    return list(dict.fromkeys([*SPECIALS, *",.!?'-", *WORDS]))


def tokenizer() -> Any:
    """A word-level fast tokenizer over `vocabulary()`, left padding, no specials added."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(vocabulary())}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        padding_side="left",
        model_input_names=["input_ids", "attention_mask"],
        model_max_length=MAX_POSITIONS,
    )


CAUSAL_LM = CausalLMFamily()
