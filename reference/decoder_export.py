"""PyTorch side of exporting a causal LM: one decoder graph with its KV cache as plain tensors.

The exported graph is `(input_ids, attention_mask, [position_ids], *past) -> (logits, *present)`,
with `past_key_values.{i}.key|value` in and `present.{i}.key|value` out (upstream's names), the
past length axis dynamic so that the first step runs with a zero-length past. Without a cache
(`use_cache=False`) it is `(input_ids, attention_mask, [position_ids]) -> (logits,)`.

Two things stand between transformers' decoders and a traced graph, on transformers 4.55-5.x:
- the attention mask is built with `torch.vmap` (transformers >= 4.53 on torch >= 2.6), which the
  tracer cannot follow (`unordered_map::at`). `traceable_decoder` swaps in a mask evaluated by
  broadcasting index tensors, and makes it additive with float16's minimum instead of boolean: a
  fully masked row (a left pad attending to nothing) then softmaxes to finite values everywhere,
  where a boolean mask gives NaN on OpenVINO CPU (openvino#35959).
- `DynamicCache` has no stable construction API across versions (`from_legacy_cache` is gone in
  5.x): `as_cache` fills one layer by layer with `update`, which every version has. Its first
  `update` concatenates onto an empty 1-D tensor, which OpenVINO's PyTorch frontend rejects
  (`is_axis_valid`); within `traceable_decoder` the empty start has the rank and head sizes of the
  tensors it grows by.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from reference.exporting import ExportPlan

MASK_MIN = torch.finfo(torch.float16).min  # finite in every float dtype: no -inf + -inf = NaN
# Example shapes for tracing: a real past and several new tokens, so neither axis is specialised
# to 0 or 1; sizes unlike any model dimension, so the past axis is found by its size.
EXAMPLE_BATCH, EXAMPLE_PAST, EXAMPLE_NEW = 2, 5, 3


def past_names(num_layers: int) -> list[str]:
    return [f"past_key_values.{i}.{part}" for i in range(num_layers) for part in ("key", "value")]


def present_names(num_layers: int) -> list[str]:
    return [f"present.{i}.{part}" for i in range(num_layers) for part in ("key", "value")]


def takes_position_ids(model: torch.nn.Module) -> bool:
    """Whether the decoder's forward accepts position_ids (bloom does not: ALiBi follows the mask)."""
    return "position_ids" in inspect.signature(model.forward).parameters


def as_cache(flat: tuple[torch.Tensor, ...]) -> Any:
    """A `DynamicCache` holding the (key, value) pairs of `flat` (key0, value0, key1, ...)."""
    from transformers import DynamicCache

    cache = DynamicCache()
    for layer in range(len(flat) // 2):
        cache.update(flat[2 * layer], flat[2 * layer + 1], layer)
    return cache


def cache_tensors(cache: Any) -> tuple[torch.Tensor, ...]:
    """The flat (key0, value0, key1, ...) of a `Cache` or a legacy tuple of pairs."""
    if hasattr(cache, "layers"):
        return tuple(t for layer in cache.layers for t in (layer.keys, layer.values))
    if hasattr(cache, "key_cache"):  # transformers < 4.56
        return tuple(t for pair in zip(cache.key_cache, cache.value_cache) for t in pair)
    return tuple(t for pair in cache for t in pair)


class DecoderModule(torch.nn.Module):
    """A causal LM with positional tensor inputs and the cache flattened into tensors."""

    def __init__(self, model: torch.nn.Module, with_positions: bool, use_cache: bool) -> None:
        super().__init__()
        self.model = model
        self.with_positions = with_positions
        self.use_cache = use_cache

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, *rest: torch.Tensor):
        kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self.with_positions:
            kwargs["position_ids"], rest = rest[0], rest[1:]
        if self.use_cache:
            kwargs["past_key_values"] = as_cache(rest)
        outputs = self.model(**kwargs, use_cache=self.use_cache, return_dict=True)
        if not self.use_cache:
            return (outputs.logits,)
        return (outputs.logits, *cache_tensors(outputs.past_key_values))


@dataclass
class DecoderLayout:
    """What the runtime side needs to feed a decoder graph: read from the model once, at export."""

    num_layers: int
    past_axis: int  # the sequence axis of every past/present tensor (2 for (batch, heads, seq, dim))
    with_positions: bool


def plan_decoder_export(model: torch.nn.Module, use_cache: bool = True) -> tuple[ExportPlan, DecoderLayout]:
    """Module, names, example inputs and dynamic axes of the decoder graph of `model`."""
    model.eval()
    config = model.config
    vocab = int(config.vocab_size)
    with_positions = takes_position_ids(model)
    generator = torch.Generator().manual_seed(0)
    batch, past, new = EXAMPLE_BATCH, EXAMPLE_PAST if use_cache else 0, EXAMPLE_NEW
    ids = torch.randint(3, vocab, (batch, past + new), generator=generator)
    mask = torch.ones(batch, past + new, dtype=torch.int64)
    mask[-1, :2] = 0  # a left-padded row, so masking is traced for real
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    names = ["input_ids", "attention_mask", *(["position_ids"] if with_positions else [])]
    example: list[torch.Tensor] = [ids[:, past:], mask, *([positions[:, past:]] if with_positions else [])]
    axes: dict[str, dict[int, str]] = {
        "input_ids": {0: "batch_size", 1: "sequence_length"},
        "attention_mask": {0: "batch_size", 1: "past_sequence_length + sequence_length"},
        "position_ids": {0: "batch_size", 1: "sequence_length"},
    }
    layout = DecoderLayout(int(getattr(config, "num_hidden_layers", 0)), 2, with_positions)
    outputs = ["logits"]
    axes["logits"] = {0: "batch_size", 1: "sequence_length"}
    if use_cache:
        with torch.no_grad(), traceable_decoder():
            prefix = model(
                input_ids=ids[:, :past],
                attention_mask=mask[:, :past],
                **({"position_ids": positions[:, :past]} if with_positions else {}),
                use_cache=True,
                return_dict=True,
            )
        flat_past = cache_tensors(prefix.past_key_values)
        layout.num_layers = len(flat_past) // 2
        layout.past_axis = _sequence_axis(flat_past[0], past)
        example += list(flat_past)
        names += past_names(layout.num_layers)
        outputs += present_names(layout.num_layers)
        for name in past_names(layout.num_layers):
            axes[name] = {0: "batch_size", layout.past_axis: "past_sequence_length"}
        for name in present_names(layout.num_layers):
            axes[name] = {0: "batch_size", layout.past_axis: "past_sequence_length + sequence_length"}
    module = DecoderModule(model, with_positions, use_cache).eval()
    return ExportPlan(module, names, outputs, tuple(example), axes), layout


def _sequence_axis(tensor: torch.Tensor, length: int) -> int:
    matches = [axis for axis, size in enumerate(tensor.shape) if size == length and axis != 0]
    if len(matches) != 1:
        raise ValueError(f"cannot tell the sequence axis of a cache tensor of shape {list(tensor.shape)}")
    return matches[0]


def _broadcast_mask(
    batch_size: int,
    q_index: torch.Tensor,
    kv_length: int,
    kv_offset: int,
    mask_function: Any,
    attention_mask: torch.Tensor | None,
    dtype: torch.dtype,
) -> torch.Tensor:
    """The additive 4D mask (batch, 1, q, kv): 0 where attending, MASK_MIN elsewhere."""
    kv_index = torch.arange(kv_length, device=q_index.device) + kv_offset
    batch_index = torch.arange(batch_size, device=q_index.device)
    allowed = mask_function(
        batch_index[:, None, None, None],
        torch.zeros(1, 1, 1, 1, dtype=torch.long),
        q_index[None, None, :, None],
        kv_index[None, None, None, :],
    )
    if attention_mask is not None:
        allowed = allowed & attention_mask[:, kv_index].bool()[:, None, None, :]
    allowed = allowed.expand(batch_size, 1, q_index.shape[0], kv_length)
    zero = torch.zeros((), dtype=dtype)
    return torch.where(allowed, zero, torch.tensor(MASK_MIN, dtype=dtype))


def _traceable_mask(
    batch_size: int,
    cache_position: torch.Tensor | None = None,
    kv_length: int = 0,
    kv_offset: int = 0,
    mask_function: Any = None,
    attention_mask: torch.Tensor | None = None,
    *,
    q_length: int | None = None,
    q_offset: int = 0,
    dtype: torch.dtype = torch.float32,
    **_: Any,
) -> torch.Tensor:
    """The mask interface of transformers 4.5x (`cache_position`) and 5.x (`q_length`, `q_offset`)."""
    from transformers.masking_utils import causal_mask_function

    if cache_position is None:  # 5.x passes the query length and offset instead
        q_index = torch.arange(q_length) + q_offset
    else:
        q_index = cache_position
    return _broadcast_mask(
        batch_size,
        q_index,
        kv_length,
        kv_offset,
        mask_function or causal_mask_function,
        attention_mask,
        dtype,
    )


@contextlib.contextmanager
def traceable_decoder() -> Iterator[None]:
    """Within: transformers builds sdpa and eager attention masks with `_traceable_mask`, and a
    `DynamicCache` layer starts from a zero-length slice of its first tensors."""
    with _traceable_masks(), _shaped_empty_cache():
        yield


@contextlib.contextmanager
def _traceable_masks() -> Iterator[None]:
    try:
        from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS
    except ImportError:  # transformers < 4.53 builds masks without vmap
        yield
        return
    mapping = ALL_MASK_ATTENTION_FUNCTIONS._global_mapping
    saved = {name: mapping[name] for name in ("sdpa", "eager") if name in mapping}
    mapping.update(dict.fromkeys(saved, _traceable_mask))
    try:
        yield
    finally:
        mapping.update(saved)


@contextlib.contextmanager
def _shaped_empty_cache() -> Iterator[None]:
    from transformers import cache_utils

    layer = getattr(cache_utils, "DynamicLayer", None)  # transformers >= 4.56; 4.55 appends, no empty cat
    if layer is None or "lazy_initialization" not in vars(layer):
        yield
        return
    original = layer.lazy_initialization

    def lazy_initialization(self: Any, key_states: torch.Tensor, *args: Any, **kwargs: Any) -> None:
        original(self, key_states, *args, **kwargs)
        value_states = args[0] if args else kwargs.get("value_states", key_states)  # 5.x passes both
        self.keys, self.values = key_states[..., :0, :], value_states[..., :0, :]

    layer.lazy_initialization = lazy_initialization
    try:
        yield
    finally:
        layer.lazy_initialization = original
