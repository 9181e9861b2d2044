"""Causal LMs: one decoder graph with a KV cache, driven by transformers' own `GenerationMixin`.

`CausalLM` is mixed in before a backend's model class (`class ORTModelForCausalLM(CausalLM,
ORTModel)`). The graph comes from `reference.decoder_export`: past and present KV as
`past_key_values.{i}.key|value` / `present.{i}.key|value`, and a zero-length past at the first
step. The model returns the cache as `PairCache`, a list of (key, value) pairs: the legacy form every
transformers version from 4.55 to 5.x carries through `generate()` and reorders with `_reorder_cache`,
plus the two methods assisted generation calls on it (`get_seq_length`, and `crop` in place).

A backend that keeps the cache inside the runtime (OpenVINO stateful) overrides `_cache_feed`,
`_cache_result` and `_reorder_cache`; everything else (inputs, masks, positions, errors, the
generation config) is here once.

transformers 5 passes the cache as `cache=` and asks its host for `is_remote_code()` and
`get_experts_implementation()`; 4.x passes `past_key_values=`. Both are accepted.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import transformers
from transformers import GenerationConfig, GenerationMixin

from reference import hub
from reference.decoder_export import cache_tensors, plan_decoder_export, traceable_decoder
from reference.modeling_base import MAIN, _is_torch, _to_numpy

GENERATION_CONFIG = "generation_config.json"
# transformers 5 hands the model its cache as `cache=`; 4.x as `past_key_values=`.
GENERATE_TAKES_CACHE = int(transformers.__version__.split(".")[0]) >= 5
# Keyword arguments transformers' generate() passes that change nothing for a decoder graph.
GENERATE_EXTRAS = frozenset(
    {"cache_position", "output_attentions", "output_hidden_states", "logits_to_keep", "token_type_ids"}
)


class CausalLM(GenerationMixin):
    """Text generation on a decoder graph: `forward` with a KV cache, and `generate()`."""

    export_feature: ClassVar[str] = "text-generation"
    main_input_name = "input_ids"
    _supports_cache_class = False
    _is_stateful = False
    _auto_class = None
    cache_kwargs: ClassVar[tuple[str, ...]] = ("use_cache",)  # chosen at export, checked at load
    # torch threads while generate() runs (None: leave torch alone, for a graph that is torch itself).
    # The graph runs in its runtime's own threads, and transformers' torch work per step (a few small
    # ops on the last logits) is faster alone than the OpenMP pool, whose threads spin after each op
    # and take the cores the runtime's next step needs: SmolLM2-135M on 2 cores, 128 + 128 tokens,
    # ONNX Runtime 4.9 s with torch's 2 threads, 4.1 s with 1 (its raw loop: 4.1 s).
    torch_threads_in_generate: ClassVar[int | None] = 1
    decoder_exporter: ClassVar[Any]  # decoder_exporter(plan, path, **export_kwargs)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.past_names = [n for n in self.input_names if n.startswith("past_key_values.")]
        self.present_names = [n for n in self.output_names if n.startswith("present.")]
        self.past_axis = 2  # (batch, heads, sequence, head dim): the layout decoder_export checks
        self.use_cache = bool(self.past_names) or self._holds_cache()
        self.config.use_cache = self.use_cache
        self.generation_config = self._generation_config(GenerationConfig.from_model_config(self.config))

    # ------------------------------------------------------------------ loading and export

    @classmethod
    def _from_pretrained(cls, model_id: str, config: Any, **kwargs: Any) -> CausalLM:
        asked = {name: kwargs.pop(name) for name in cls.cache_kwargs if kwargs.get(name) is not None}
        model = super()._from_pretrained(model_id, config, **kwargs)
        for name, value in asked.items():
            held = model._cache_option(name)
            if bool(value) != held:
                raise ValueError(
                    f"{name}={value} was asked, but {model.model_path.name} was exported with {name}={held}. "
                    f"Load it with {name}={held}, or export again (export=True, {name}={value})."
                )
        return model

    @classmethod
    def _export_artifacts(
        cls, model: Any, spec: Any, config: Any, library: str, out_dir: Path, **export_kwargs: Any
    ) -> str:
        use_cache = export_kwargs.pop("use_cache", None)
        plan, _ = plan_decoder_export(model, use_cache=True if use_cache is None else bool(use_cache))
        path = out_dir / cls.default_file_name
        with traceable_decoder():
            cls.decoder_exporter(plan, path, **export_kwargs)
        return path.name

    def _load_extras(self, files: hub.ModelFiles, subfolder: str, fetch: dict[str, bool]) -> None:
        """A shipped generation_config.json wins over the one made from the config."""
        folder = next(
            (f for f in (subfolder.strip("/"), "") if files.has(hub._join(f, GENERATION_CONFIG))), None
        )
        if folder is None:
            return
        path = files.fetch(hub._join(folder, GENERATION_CONFIG), **fetch)
        self.generation_config = self._generation_config(GenerationConfig.from_pretrained(path.parent))

    def _generation_config(self, config: GenerationConfig) -> GenerationConfig:
        config.use_cache = self.use_cache
        if not self.use_cache:
            config.cache_implementation = None  # a cache implementation without a cache fails validation
        return config

    def _cache_option(self, name: str) -> bool:
        """The value of a cache option (`cache_kwargs`) the artifact was exported with."""
        return self.use_cache

    def _holds_cache(self) -> bool:
        """Whether the runtime keeps the cache itself (no past inputs, yet a cache): stateful models."""
        return False

    # ------------------------------------------------------------------ inference

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        """transformers' `GenerationMixin.generate`, with torch on `torch_threads_in_generate` threads."""
        if self.torch_threads_in_generate is None:
            return super().generate(*args, **kwargs)
        with _TORCH_THREADS.limited(self.torch_threads_in_generate):
            return super().generate(*args, **kwargs)

    def forward(
        self,
        input_ids: Any = None,
        attention_mask: Any = None,
        position_ids: Any = None,
        past_key_values: Any = None,
        use_cache: bool | None = None,
        return_dict: bool | None = None,
        cache: Any = None,
        inputs_embeds: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Logits for `input_ids` after `past_key_values`, and the cache (when `use_cache`).

        A missing mask is all ones; missing position_ids are `cumsum(mask) - 1` (pads at 0), so a
        left-padded row gives what it gives alone. Torch in, torch out; numpy in, numpy out.
        """
        unknown = set(kwargs) - GENERATE_EXTRAS
        if unknown:
            raise TypeError(f"{type(self).__name__}.forward got unknown arguments {sorted(unknown)}.")
        if inputs_embeds is not None:
            raise ValueError(
                f"{type(self).__name__} takes input_ids, not inputs_embeds: the graph embeds tokens."
            )
        if input_ids is None:
            raise ValueError("Missing required input 'input_ids'.")
        past = cache if cache is not None else past_key_values
        use_torch = _is_torch(input_ids)
        ids = _to_numpy(input_ids).astype(np.int64, copy=False)
        if ids.ndim != 2:
            raise ValueError(f"input_ids must be (batch, sequence); got shape {list(ids.shape)}.")
        want_cache = self.use_cache if use_cache is None else bool(use_cache)
        if (want_cache or past is not None) and not self.use_cache:
            raise ValueError(
                f"{self.model_path.name} was exported without a KV cache (use_cache=False), so it takes no "
                "past_key_values and returns none. Call it with use_cache=False, or export with use_cache=True."
            )
        pairs = _as_pairs(past)
        past_length = 0 if not pairs else int(pairs[0][0].shape[self.past_axis])
        batch, new = ids.shape
        if attention_mask is None:
            mask = np.ones((batch, past_length + new), dtype=np.int64)
        else:
            mask = _to_numpy(attention_mask).astype(np.int64, copy=False)
        if mask.shape != (batch, past_length + new):
            raise ValueError(
                f"attention_mask has shape {list(mask.shape)}; with {past_length} past tokens and input_ids of "
                f"shape {list(ids.shape)} it must be [{batch}, {past_length + new}] (past + new tokens). "
                "Pass the past returned by the previous call, with the mask grown by the new tokens."
            )
        feed = {"input_ids": ids, "attention_mask": mask}
        if "position_ids" in self.input_dtypes:
            if position_ids is None:
                positions = np.clip(np.cumsum(mask, axis=-1) - 1, 0, None)[:, -new:]
            else:
                positions = _to_numpy(position_ids).astype(np.int64, copy=False)
            feed["position_ids"] = positions
        feed.update(self._cache_feed(pairs, batch))
        outputs = self._run(feed)
        result_cache = self._cache_result(outputs, batch, past_length + new) if want_cache else None
        return self._causal_output(outputs["logits"], result_cache, use_torch, return_dict)

    def _cache_feed(self, pairs: list[tuple[Any, Any]] | None, batch: int) -> dict[str, np.ndarray]:
        """The past inputs: zeros of length 0 at the first step, else the pairs given."""
        if not self.past_names:
            return {}
        if pairs is None:
            shapes = self.components[MAIN].shapes()
            feed = {}
            for name in self.past_names:
                dims = [0 if d is None else d for d in shapes[name]]
                dims[0] = batch
                feed[name] = np.zeros(dims, dtype=self.input_dtypes[name])
            return feed
        if len(pairs) * 2 != len(self.past_names):
            raise ValueError(
                f"past_key_values has {len(pairs)} layers; this model has {len(self.past_names) // 2}."
            )
        flat = [_to_numpy(t) for pair in pairs for t in pair]
        return {
            name: np.ascontiguousarray(value, dtype=self.input_dtypes[name])
            for name, value in zip(self.past_names, flat)
        }

    def _cache_result(self, outputs: dict[str, np.ndarray], batch: int, length: int) -> list[tuple]:
        """The cache to return: (key, value) per layer, from the present outputs."""
        flat = [outputs[name] for name in self.present_names]
        return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]

    def _causal_output(
        self, logits: np.ndarray, cache: list[tuple] | None, use_torch: bool, return_dict: bool | None
    ) -> Any:
        from transformers.modeling_outputs import CausalLMOutputWithPast

        if use_torch:
            import torch

            logits = torch.from_numpy(np.ascontiguousarray(logits))
            if cache is not None:
                cache = [tuple(torch.from_numpy(np.ascontiguousarray(t)) for t in pair) for pair in cache]
        if cache is not None:
            cache = PairCache(cache, past_axis=self.past_axis)
        result = CausalLMOutputWithPast(logits=logits, past_key_values=cache)
        return result.to_tuple() if return_dict is False else result

    # ------------------------------------------------------------------ what GenerationMixin asks of its host

    def _reorder_cache(self, past: PairCache, beam_idx: Any) -> PairCache:
        """Beam search: the cache rows of the beams kept, in order."""
        rows = [tuple(t.index_select(0, beam_idx.to(t.device)) for t in pair) for pair in past]
        return PairCache(rows, past_axis=self.past_axis)

    def _prepare_cache_for_generation(
        self, generation_config: GenerationConfig, model_kwargs: dict[str, Any], *args: Any, **kwargs: Any
    ) -> None:
        """The cache is the graph's, never a transformers Cache. transformers 5 wants one in
        `model_kwargs["cache"]` before the first step (assisted decoding refuses to start without):
        an empty `PairCache`, which the first call reads as no past. 4.x starts from None."""
        if (
            GENERATE_TAKES_CACHE
            and generation_config.use_cache is not False
            and self.use_cache
            and not self._is_stateful
            and model_kwargs.get("cache") is None
        ):
            model_kwargs["cache"] = PairCache(past_axis=self.past_axis)

    @classmethod
    def is_remote_code(cls) -> bool:
        return False  # transformers 5 asks; this class is never code from the Hub

    def get_experts_implementation(self) -> dict[str, Any]:
        return {"": None}  # transformers 5 asks; a graph has no mixture-of-experts kernel choice

    def _supports_default_dynamic_cache(self) -> bool:
        return False


class PairCache(list):
    """The KV cache a `CausalLM` returns: one (key, value) pair per layer, sequence on `past_axis`.

    A list, not a tuple, because assisted generation rolls rejected draft tokens back in place:
    transformers 4.5x calls `crop(kept_length)`, 5.x checks `is_croppable` and calls
    `crop(-tokens_to_drop)`. Cropping slices the arrays; it never writes into them.
    """

    is_croppable = True
    is_compileable = False

    @property
    def is_linear(self) -> list[bool]:
        return [False] * len(self)  # transformers 5 asks per layer: attention layers, none recurrent

    def activate_past_recording(self) -> None:
        """Nothing to switch on: the arrays always hold the whole past, so any crop can be undone."""

    def __init__(self, pairs: Any = (), past_axis: int = 2) -> None:
        super().__init__(pairs)
        self.past_axis = past_axis

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return int(self[layer_idx][0].shape[self.past_axis]) if self else 0

    def crop(self, max_length: int) -> None:
        """Keep the first `max_length` tokens; a negative value drops that many from the end."""
        keep = max_length if max_length >= 0 else max(self.get_seq_length() + max_length, 0)
        window = (slice(None),) * self.past_axis + (slice(0, keep),)
        self[:] = [tuple(t[window] for t in pair) for pair in self]


class _TorchThreads:
    """Lowers torch's process-wide thread count while any generate() runs, and puts back the user's
    count when the last one ends (generates in several threads overlap)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._saved = 0

    @contextlib.contextmanager
    def limited(self, count: int) -> Iterator[None]:
        with self._lock:
            if self._running == 0:
                self._saved = torch.get_num_threads()
                torch.set_num_threads(min(count, self._saved))
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                if self._running == 0:
                    torch.set_num_threads(self._saved)


_TORCH_THREADS = _TorchThreads()


def _as_pairs(past: Any) -> list[tuple[Any, Any]] | None:
    """A legacy tuple of (key, value) pairs or a transformers Cache, as a list of pairs; None if empty."""
    if past is None:
        return None
    if hasattr(past, "layers") or hasattr(past, "key_cache"):  # a transformers Cache
        flat = cache_tensors(past)
        past = [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
    pairs = [tuple(pair) for pair in past]
    if all(len(pair) == 0 for pair in pairs):  # empty: no past yet
        return None
    if any(len(pair) != 2 or not hasattr(pair[0], "shape") for pair in pairs):
        raise ValueError(
            "past_key_values must be a tuple of (key, value) pairs per layer, as this model returns; "
            f"got {type(past).__name__}."
        )
    return pairs
