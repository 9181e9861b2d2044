"""Defects of generation (`gen.*`): the gen meta run, on the zoo's llama.

Each is a bug of the kind users report against optimum-onnx / optimum-intel causal LMs, put into
the reference ONNX Runtime `ORTModelForCausalLM`. Most sit in the decoder forward (`_run` sees the
feed the graph gets: input_ids, attention_mask, position_ids and the past), the rest in the
`GenerationMixin` hooks, loading or saving.

llama has rotary positions: a position bug that shifts a whole row (pads counted) changes only the
cache there, not the tokens; the position defects below change relative positions where tokens
must catch them.
"""

from __future__ import annotations

import copy
import logging
import threading

import numpy as np

from tests.meta.defects import defect

RUN = "gen"

# Clauses that compare the tokens (or step logits) of a left-padded batch with transformers': all
# of them break when the padded rows compute something else.
PADDED_BATCH = frozenset({
    "gen.greedy", "gen.beam", "gen.beam_sampling", "gen.sampling", "gen.step_logits", "gen.returned_cache",
    "gen.cache_equals_no_cache", "gen.use_cache_false", "gen.left_padding", "gen.max_new_tokens",
    "gen.beyond_export_shapes", "gen.eos", "gen.saved_tokenizer", "gen.past_shape_dynamic",
})  # fmt: skip
# Clauses that call generate() more than once on one model (and compare each call with transformers or
# with a fresh model): a state one call leaves breaks the next.
GENERATES_TWICE = frozenset({
    "gen.cache_equals_no_cache", "gen.left_padding", "gen.default_attention_mask", "gen.max_new_tokens",
    "gen.eos", "gen.threads",
})  # fmt: skip
# The cache length a fixed-size KV buffer holds: past it, the oldest tokens are dropped.
EXPORT_CACHE_LENGTH = 32

log = logging.getLogger(__name__)


def _past_length(feed: dict[str, np.ndarray]) -> int:
    return feed["attention_mask"].shape[1] - feed["input_ids"].shape[1]


def _with_config(model, kwargs: dict, change) -> dict:
    """generate() kwargs with the effective GenerationConfig (the one given, or the model's, updated by
    the generation options among `kwargs`) passed through `change`; `kwargs` as given if it changes
    nothing."""
    config = copy.deepcopy(kwargs.get("generation_config") or model.generation_config)
    options = {k: v for k, v in kwargs.items() if k != "generation_config" and hasattr(config, k)}
    config.update(**options)
    before = config.to_dict()
    change(config)
    if config.to_dict() == before:
        return kwargs
    rest = {k: v for k, v in kwargs.items() if k not in options}
    return {**rest, "generation_config": config}


# ---------------------------------------------------------------------- capability and tokens


@defect(
    "gen.can_generate",
    collateral={"gen.pipeline", "gen.generation_config_saved", "gen.generation_config_loaded"},
)
class CannotGenerate:
    """`can_generate()` copied from transformers' `PreTrainedModel` heuristic (4.50+): True only for a
    class with `GenerationMixin` among its direct bases, so every subclass of the backend's class says
    False (the case transformers warns about for Optimum classes). generate() still runs; the pipeline
    and save_pretrained ask can_generate() and leave the generation config out."""

    @classmethod
    def can_generate(cls) -> bool:
        return "GenerationMixin" in str(cls.__bases__)


@defect(
    "gen.greedy",
    collateral={
        "gen.beam", "gen.beam_sampling", "gen.sampling", "gen.step_logits", "gen.cache_equals_no_cache",
        "gen.max_new_tokens", "gen.beyond_export_shapes", "gen.eos", "gen.pipeline", "gen.saved_tokenizer",
        "gen.past_shape_dynamic",
    },
)  # fmt: skip
class DecodePositionsOffByOne:
    """At a decoding step the graph numbers the new token `attention_mask.sum()`, the count of the
    tokens it attends, one past `cumsum(mask) - 1`, and ignores the position_ids it is given: the
    prompt is right, every generated token drifts (a classic of hand-written position handling)."""

    def _run(self, feed):
        if "position_ids" in feed and _past_length(feed) > 0:
            new = feed["input_ids"].shape[1]
            feed = {**feed, "position_ids": np.cumsum(feed["attention_mask"], axis=-1)[:, -new:]}
        return super()._run(feed)


@defect("gen.past_shape_dynamic")
class DecodePositionsOfLastToken:
    """At a decoding step every new token is numbered `attention_mask.sum() - 1`, the position of the
    last one: right for the one token a step generate() feeds, wrong for each but the last of several
    (assisted or prompt-lookup decoding, chunked prefill), which then attend at the wrong distance."""

    def _run(self, feed):
        if "position_ids" in feed and _past_length(feed) > 0:
            last = feed["attention_mask"].sum(axis=-1, keepdims=True) - 1
            feed = {**feed, "position_ids": np.broadcast_to(last, feed["input_ids"].shape).astype(np.int64)}
        return super()._run(feed)


@defect("gen.hub_code_modes")
class IgnoresUnknownModes:
    """generate() drops the options of the decoding modes its own loop lacks (num_beam_groups,
    penalty_alpha, dola_layers, constraints) and runs beam or greedy search in their place, as
    backends with a patched decoding loop have: the user asked for one mode and silently got another."""

    def generate(self, *args, generation_config=None, **kwargs):
        if generation_config is not None:
            generation_config = copy.deepcopy(generation_config)
            generation_config.update(
                num_beam_groups=1,
                diversity_penalty=0.0,
                penalty_alpha=None,
                dola_layers=None,
                force_words_ids=None,
            )
        return super().generate(*args, generation_config=generation_config, **kwargs)


@defect("gen.beam", collateral={"gen.beam_sampling"})
class BeamsNotReordered:
    """`_reorder_cache` returns the cache as it was, ignoring `beam_idx`: each beam continues with
    another beam's past (the classic beam-search bug of hand-written cache classes)."""

    def _reorder_cache(self, past, beam_idx):
        return past


@defect("gen.beam_sampling")
class BeamSamplingIsBeamSearch:
    """num_beams > 1 with do_sample=True is silently run as plain beam search, as backends whose
    generate() supports beam search and sampling but not both at once have done."""

    def generate(self, *args, **kwargs):
        def no_sampling_with_beams(config):
            if config.num_beams > 1 and config.do_sample:
                config.do_sample = False

        return super().generate(*args, **_with_config(self, kwargs, no_sampling_with_beams))


@defect("gen.sampling", collateral={"gen.beam_sampling"})
class ReseedsEveryStep:
    """forward seeds torch's global generator (for a deterministic runtime): every sampling step
    draws the same numbers, not the ones transformers' sampling would draw next."""

    def _run(self, feed):
        import torch

        torch.manual_seed(0)
        return super()._run(feed)


@defect("gen.step_logits", collateral={"gen.past_shape_dynamic"})
class ReturnsLogProbabilities:
    """The logits output is log-softmax normalised (a fused sampling head): argmax, beam scores and
    sampling are unchanged, but every logit is off by the row's log-sum-exp."""

    def _run(self, feed):
        outputs = dict(super()._run(feed))
        logits = outputs["logits"].astype(np.float64)
        peak = logits.max(axis=-1, keepdims=True)
        normaliser = peak + np.log(np.exp(logits - peak).sum(axis=-1, keepdims=True))
        outputs["logits"] = (logits - normaliser).astype(outputs["logits"].dtype)
        return outputs


# ---------------------------------------------------------------------- cache


@defect("gen.returned_cache")
class BiasedCacheLayout:
    """The cache is returned in the runtime's own biased layout (a zero point of 1e-3, as a quantized
    KV cache keeps it) and taken back as such: generate() is right, but anyone reading the cache
    (speculative decoding across backends, cache export) gets values off by 1e-3."""

    bias = 1e-3

    def _cache_result(self, outputs, batch, length):
        return [
            tuple(t + np.asarray(self.bias, t.dtype) for t in pair)
            for pair in super()._cache_result(outputs, batch, length)
        ]

    def _cache_feed(self, pairs, batch):
        feed = super()._cache_feed(pairs, batch)
        if pairs is None:
            return feed
        return {name: value - np.asarray(self.bias, value.dtype) for name, value in feed.items()}


@defect("gen.returned_cache")
class PositionsCountThePadding:
    """The graph numbers positions `arange` from the past length, whatever position_ids it is given:
    a left-padded row counts its pads. With rotary embeddings only relative positions reach the
    attention, so llama's tokens and logits stay right; the cache (keys rotated by their absolute
    positions) does not, and a model with learned positions (gpt2) generates other tokens."""

    def _run(self, feed):
        if "position_ids" in feed:
            batch, new = feed["input_ids"].shape
            start = _past_length(feed)
            feed = {
                **feed,
                "position_ids": np.tile(np.arange(start, start + new, dtype=np.int64), (batch, 1)),
            }
        return super()._run(feed)


@defect("gen.cache_equals_no_cache")
class NoCachePathDropsTheMask:
    """A model exported with a cache, asked for use_cache=False, runs its graph with an empty past and
    a mask of ones (the mask is taken for the past's): padded rows attend their pads, but only
    without the cache."""

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        position_ids=None,
        past_key_values=None,
        use_cache=None,
        **kwargs,
    ):
        if use_cache is False and self.use_cache and attention_mask is not None:
            attention_mask = np.ones(tuple(attention_mask.shape), dtype=np.int64)
        return super().forward(input_ids, attention_mask, position_ids, past_key_values, use_cache, **kwargs)


@defect(
    "gen.stateful_equals_stateless", collateral={"gen.beam", "gen.beam_sampling"}, run="gen-ov", base="ov"
)
class StatefulBeamsNotReordered:
    """A stateful OpenVINO model never feeds `beam_idx`: the KV state inside the infer request is not
    reordered with the beams (optimum-intel's stateful beam search before it passed beam_idx), while
    the stateless export, whose cache generate() reorders itself, is right. Greedy agrees; beams don't."""

    def _reorder_cache(self, past, beam_idx):
        from reference.generation import CausalLM

        if self.stateful:
            return CausalLM._reorder_cache(self, past, beam_idx)
        return super()._reorder_cache(past, beam_idx)


@defect("gen.cache_reaches_forward")
class CacheLostBetweenSteps:
    """The model returns its cache, but generate() never hands it back: the override of
    `_update_model_kwargs_for_generation` (written for another transformers' cache name) drops it,
    so every step re-runs the whole sequence. The tokens are right; decoding is quadratic."""

    def _update_model_kwargs_for_generation(self, outputs, model_kwargs, *args, **kwargs):
        model_kwargs = super()._update_model_kwargs_for_generation(outputs, model_kwargs, *args, **kwargs)
        for name in ("past_key_values", "cache"):
            if name in model_kwargs:
                model_kwargs[name] = None
        return model_kwargs


@defect("gen.use_cache_false")
class ConfigKeepsUseCache:
    """A use_cache=False export keeps the checkpoint's `config.use_cache` (True): the graph has no
    past, the config says it has."""

    def __init__(self, components, config, *args, **kwargs):
        declared = getattr(config, "use_cache", True)
        super().__init__(components, config, *args, **kwargs)
        self.config.use_cache = declared


@defect("gen.use_cache_mismatch")
class AcceptsAnyUseCache:
    """from_pretrained(use_cache=True) on a cacheless artifact drops the option without a word: the
    model the user asked for with a cache has none."""

    @classmethod
    def _from_pretrained(cls, *args, **kwargs):
        kwargs.pop("use_cache", None)
        return super()._from_pretrained(*args, **kwargs)


# ---------------------------------------------------------------------- inputs


@defect("gen.left_padding", collateral=PADDED_BATCH - {"gen.left_padding"})
class PrefillIgnoresPadding:
    """The prefill runs without the mask (a prefill kernel that assumes no padding); the decoding steps
    use it. A left-padded row's prompt attends its pads: it generates other tokens than alone."""

    def _run(self, feed):
        if _past_length(feed) == 0:
            feed = {**feed, "attention_mask": np.ones_like(feed["attention_mask"])}
        return super()._run(feed)


@defect("gen.position_ids_default")
class DefaultPositionsZeros:
    """Missing position_ids are filled with zeros, the generic default the backend gives any missing
    integer input (as token_type_ids): every token of a forward call sits at position 0. generate(),
    which passes position_ids, is right."""

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, *args, **kwargs):
        if position_ids is None and input_ids is not None:
            position_ids = np.zeros(tuple(input_ids.shape), dtype=np.int64)
        return super().forward(input_ids, attention_mask, position_ids, *args, **kwargs)


@defect("gen.default_attention_mask")
class DefaultMaskAdditive:
    """A missing attention mask is filled with zeros, "nothing masked" in the additive-mask convention
    of the runtime's attention kernel; the graph takes a 0/1 mask, where zeros mask every token."""

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, *args, **kwargs):
        if attention_mask is None and input_ids is not None:
            attention_mask = np.zeros(tuple(input_ids.shape), dtype=np.int64)
        return super().forward(input_ids, attention_mask, position_ids, *args, **kwargs)


@defect("gen.no_nan_padded")
class NanOnEmptyRows:
    """A row whose mask is all zeros gets a softmax over nothing but -inf: NaN logits (SDPA with a
    boolean mask on a fully padded row)."""

    def _run(self, feed):
        outputs = dict(super()._run(feed))
        empty = feed["attention_mask"].sum(axis=-1) == 0
        if empty.any():
            logits = outputs["logits"].copy()
            logits[empty] = np.nan
            outputs["logits"] = logits
        return outputs


# ---------------------------------------------------------------------- lengths


@defect("gen.max_new_tokens")
class MaxLengthCountsNewTokens:
    """max_length is taken as a number of new tokens (the prompt not counted), where transformers
    counts the prompt: a generate(max_length=n) call runs long."""

    def generate(self, *args, **kwargs):
        from transformers import GenerationConfig

        def new_tokens_from_max_length(config):
            if config.max_new_tokens is None and config.max_length != GenerationConfig().max_length:
                config.max_new_tokens = config.max_length

        return super().generate(*args, **_with_config(self, kwargs, new_tokens_from_max_length))


@defect("gen.beyond_export_shapes")
class FixedSizeCache:
    """The KV cache is a fixed buffer of the length chosen at export (32): past it, the oldest tokens
    are dropped and the mask cut to match, silently, so long generations forget their prompt."""

    def _cache_result(self, outputs, batch, length):
        window = (slice(None),) * self.past_axis + (slice(-EXPORT_CACHE_LENGTH, None),)
        return [tuple(t[window] for t in pair) for pair in super()._cache_result(outputs, batch, length)]

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        position_ids=None,
        past_key_values=None,
        *args,
        cache=None,
        **kwargs,
    ):
        from reference.generation import _as_pairs

        pairs = _as_pairs(cache if cache is not None else past_key_values)
        if pairs and attention_mask is not None and input_ids is not None:
            keep = int(pairs[0][0].shape[self.past_axis]) + tuple(input_ids.shape)[1]
            # position_ids, from generate(), still count every token: only the attention forgets
            attention_mask = attention_mask[:, -keep:]
        return super().forward(
            input_ids, attention_mask, position_ids, past_key_values, *args, cache=cache, **kwargs
        )


@defect("gen.eos", collateral={"gen.generation_config_loaded"})
class FirstEosOnly:
    """A list of eos ids is cut to its first (Llama 3's `[128001, 128009]` stops at neither of the
    ids it should): rows run past the other eos ids."""

    def generate(self, *args, **kwargs):
        def first_eos(config):
            if isinstance(config.eos_token_id, list) and len(config.eos_token_id) > 1:
                config.eos_token_id = config.eos_token_id[0]

        return super().generate(*args, **_with_config(self, kwargs, first_eos))


# ---------------------------------------------------------------------- round trip


@defect("gen.generation_config_saved")
class SwallowsGenerationConfigError:
    """A failure writing generation_config.json is logged as a warning and the save goes on: the
    saved model silently lacks its generation config (optimum-intel #717)."""

    def _save_config(self, save_directory):
        self.config.save_pretrained(save_directory)
        try:
            self.generation_config.save_pretrained(save_directory)
        except Exception as error:
            log.warning("could not save the generation config: %s", error)


@defect("gen.generation_config_loaded")
class IgnoresShippedGenerationConfig:
    """A shipped generation_config.json is not read: the generation config is always made from the
    model config (`GenerationConfig.from_model_config`)."""

    def _load_extras(self, files, subfolder, fetch):
        return None


@defect("gen.saved_tokenizer")
class SavesRightPadding:
    """save_pretrained writes the tokenizer with padding_side="right" (the tokenizer's class default),
    so a batch padded by the saved tokenizer puts pads after the prompt: found by a probe that no
    clause caught before this one."""

    def save_pretrained(self, *args, **kwargs):
        for preprocessor in self.preprocessors:
            if hasattr(preprocessor, "padding_side"):
                preprocessor.padding_side = "right"
        return super().save_pretrained(*args, **kwargs)


@defect("gen.reload_equal", collateral={"gen.use_cache_false"})
class LiveExportDiffersFromSaved:
    """The model that export returns runs a graph optimised in memory (dynamically quantized, say) that
    save_pretrained does not write: the saved and reloaded model generates other tokens than the
    model it was saved from."""

    @classmethod
    def _export(cls, *args, **kwargs):
        model = super()._export(*args, **kwargs)
        model._quantized = True
        return model

    def _run(self, feed):
        outputs = super()._run(feed)
        if not getattr(self, "_quantized", False):
            return outputs
        logits = outputs["logits"]
        error = np.random.default_rng(0).normal(0.0, 0.5, logits.shape[-1]).astype(logits.dtype)
        return {**outputs, "logits": logits + error}


# ---------------------------------------------------------------------- state


@defect("gen.outputs_not_aliased")
class ReusedLogitsBuffer:
    """The logits are written into one output buffer per thread, reused by the next call (IO binding
    with preallocated outputs), and returned as a view of it: a later step overwrites them."""

    def _causal_output(self, logits, cache, use_torch, return_dict):
        local = self.__dict__.setdefault("_outputs", threading.local())
        buffer = getattr(local, "logits", None)
        if buffer is None or buffer.size < logits.size or buffer.dtype != logits.dtype:
            buffer = local.logits = np.empty(logits.size, dtype=logits.dtype)
        view = buffer[: logits.size].reshape(logits.shape)
        view[...] = logits
        return super()._causal_output(view, cache, use_torch, return_dict)


@defect("gen.sequential_independent", collateral=GENERATES_TWICE)
class StateNotReset:
    """The KV state of the last generate() is not reset when the next one starts (a stateful runtime
    whose reset is skipped): the new prompt attends to the previous conversation."""

    def generate(self, *args, **kwargs):
        self._generating = True
        try:
            return super().generate(*args, **kwargs)
        finally:
            self._generating = False
            self._stale = getattr(self, "_last", None)

    def _cache_result(self, outputs, batch, length):
        result = super()._cache_result(outputs, batch, length)
        if getattr(self, "_generating", False):
            self._last = result
        return result

    def _run(self, feed):
        stale = getattr(self, "_stale", None)
        batch = feed["input_ids"].shape[0]
        if not (
            getattr(self, "_generating", False) and stale and _past_length(feed) == 0 and self.past_names
        ):
            return super()._run(feed)
        if len(stale[0][0]) < batch:
            return super()._run(feed)
        pairs = [tuple(np.asarray(t)[:batch] for t in pair) for pair in stale]
        held = pairs[0][0].shape[self.past_axis]
        inner = {**feed, **super()._cache_feed(pairs, batch)}
        inner["attention_mask"] = np.concatenate(
            [np.ones((batch, held), dtype=np.int64), feed["attention_mask"]], 1
        )
        outputs = dict(super()._run(inner))
        window = (slice(None),) * self.past_axis + (slice(held, None),)
        for name in self.present_names:
            outputs[name] = outputs[name][window]
        return outputs


@defect("gen.threads")
class OneStatePerModel:
    """One KV state per model, as a stateful runtime with a single inference request: each step reads
    the state the last step left, whatever past it is given. Right for one generate() at a time;
    threads generating at once read each other's state."""

    def _cache_feed(self, pairs, batch):
        state = getattr(self, "_state", None)
        return super()._cache_feed(state if pairs is not None and state is not None else pairs, batch)

    def _cache_result(self, outputs, batch, length):
        self._state = super()._cache_result(outputs, batch, length)
        return self._state

    def _reorder_cache(self, past, beam_idx):
        reordered = super()._reorder_cache(past, beam_idx)
        self._state = list(reordered)
        return reordered


# ---------------------------------------------------------------------- integration


@defect("gen.pipeline")
class PipelinePrefix:
    """The export records the tokenizer's bos token as `config.prefix`, for pipelines to prepend (as
    Llama tokenizers leave bos to the caller): pipeline("text-generation") prompts this model with a
    prefix the torch model's pipeline does not add."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        bos = next(
            (getattr(p, "bos_token", None) for p in self.preprocessors if getattr(p, "bos_token", None)), None
        )
        self.config.prefix = bos or "<s>"
