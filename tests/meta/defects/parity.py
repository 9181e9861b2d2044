"""Defects of outputs and inputs (`parity.*`): the local meta run."""

from __future__ import annotations

import time

import numpy as np

from tests.meta.defects import PARITY, RELOAD, defect, shift

RUN = "local"


@defect("parity.pytorch", collateral=PARITY)
class Perturbed:
    def _run(self, feed):
        return shift(super()._run(feed), 1e-2)


@defect("parity.output_type")
class OtherOutputType:
    def _wrap(self, outputs, use_torch, return_dict):
        result = super()._wrap(outputs, use_torch, return_dict)
        return result if return_dict is False else dict(result)


@defect("parity.output_dtypes")
class Float64Outputs:
    """Float outputs widened to float64 (a cast left in the output path): the values still match."""

    def _run(self, feed):
        return {k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in super()._run(feed).items()}


@defect("parity.tensor_type")
class AlwaysTorch:
    def _wrap(self, outputs, use_torch, return_dict):
        return super()._wrap(outputs, True, return_dict)


@defect("parity.tensor_type")
class PinsFirstTensorType:
    """Compiles for the tensor type of its first call and fails on the other afterwards, as upstream
    IPEX models did once their compiled forward had seen torch inputs: state in a live model."""

    def _wrap(self, outputs, use_torch, return_dict):
        if getattr(self, "_pinned_torch", use_torch) != use_torch:
            raise RuntimeError(f"compiled for {'torch' if self._pinned_torch else 'numpy'} inputs")
        self._pinned_torch = use_torch
        return super()._wrap(outputs, use_torch, return_dict)


@defect("parity.return_dict_false")
class IgnoresReturnDict:
    def _wrap(self, outputs, use_torch, return_dict):
        return super()._wrap(outputs, use_torch, None)


@defect("parity.batch_padding", collateral=PARITY)
class IgnoresMask:
    def _feed(self, inputs):
        feed = super()._feed(inputs)
        feed["attention_mask"] = np.ones_like(feed["attention_mask"])
        return feed


# parity.large_shapes too: its shapes are other shapes than the first call's.
@defect("parity.dynamic_shapes", collateral={"parity.batch_padding", "parity.large_shapes"})
class StaticShapes:
    def _feed(self, inputs):
        feed = super()._feed(inputs)
        shape = feed[self.main_input_name].shape
        if getattr(self, "_first_shape", shape) != shape:
            raise ValueError(f"static shape {self._first_shape}, got {shape}")
        self._first_shape = shape
        return feed


# parity.real_weights too: its trained model reads sentences longer than 32 tokens.
@defect("parity.large_shapes", collateral={"parity.real_weights"})
class WrongAboveSmallShapes:
    """Right on every shape the other checks use, wrong above a small limit, as a backend whose graph
    was traced or tuned at small sizes: rows after the 8th come out shifted, and every output once a
    sequence is longer than 32 tokens (a position table cut short)."""

    def _run(self, feed):
        outputs = super()._run(feed)
        ids = feed[self.main_input_name]
        if self.main_input_name == "input_ids" and ids.shape[-1] > 32:
            return shift(outputs, 1e-2)
        for name, value in outputs.items():
            if value.dtype.kind == "f" and value.ndim and len(value) == len(ids) > 8:
                outputs[name] = value.copy()
                outputs[name][8:] += np.asarray(1e-2, dtype=value.dtype)
        return outputs


@defect("parity.default_inputs")
class WrongDefaults:
    def _feed(self, inputs):
        if "token_type_ids" in self.input_names and inputs.get("token_type_ids") is None:
            inputs["token_type_ids"] = np.ones_like(np.asarray(inputs["input_ids"]))
        return super()._feed(inputs)


@defect("parity.input_dtypes")
class StrictDtypes:
    def _feed(self, inputs):
        for name, value in inputs.items():
            dtype = getattr(value, "dtype", None)
            if dtype is not None and str(dtype).split(".")[-1] not in ("int64", "float32"):
                raise TypeError(f"{name} must be int64/float32, got {dtype}")
        return super()._feed(inputs)


@defect("parity.determinism", collateral=RELOAD | {"load.call_is_forward", "parity.return_dict_false"})
class Nondeterministic:
    def _run(self, feed):
        self._calls = getattr(self, "_calls", 0) + 1
        return shift(super()._run(feed), 1e-6 * (self._calls % 2))


# parity.threads too: threads share the buffers, so one thread's outputs are overwritten by another's.
@defect("parity.outputs_not_aliased", collateral={"parity.threads"})
class ReusedOutputBuffers:
    """Outputs written into buffers the instance keeps per output name (IO binding with preallocated
    outputs) and returned as those buffers: the next call of the same shape overwrites them."""

    def _run(self, feed):
        buffers = self.__dict__.setdefault("_output_buffers", {})
        outputs = super()._run(feed)
        for name, value in outputs.items():
            buffer = buffers.get(name)
            if buffer is None or buffer.shape != value.shape or buffer.dtype != value.dtype:
                buffer = buffers[name] = np.empty_like(value)
            buffer[...] = value
            outputs[name] = buffer
        return outputs


@defect("parity.new_inputs_same_shapes")
class ResultCacheByShape:
    """Keeps each call's outputs by the shapes of its feed and returns them for any later feed of
    those shapes (a per-shape cache meant to skip re-binding): every first call of a shape is right."""

    def _run(self, feed):
        results = self.__dict__.setdefault("_results_by_shape", {})
        key = tuple(sorted((name, value.shape) for name, value in feed.items()))
        if key not in results:
            results[key] = super()._run(feed)
        return {name: value.copy() for name, value in results[key].items()}


@defect("parity.threads")
class StagedFeedOnInstance:
    """Stages the call's feed on the instance (`self._staged`), then runs it row by row from there, as
    a backend that binds its inputs in one step and runs them in chunks in the next: alone, every
    call is right; called from several threads, another call restages the feed while a row runs (the
    runtime lets go of the GIL), and the later rows are another caller's. Binding takes a moment
    (`STAGING_S`, a sleep, which lets go of the GIL too): without it the race was left to the
    scheduler, and parity.threads missed the defect in 1 of 3 runs on a busy machine (CI)."""

    STAGING_S = 0.001

    def _run(self, feed):
        self._staged = feed
        time.sleep(self.STAGING_S)
        rows = []
        for row in range(len(feed[self.main_input_name])):
            rows.append(super()._run({name: value[row : row + 1] for name, value in self._staged.items()}))
        return {name: np.concatenate([outputs[name] for outputs in rows]) for name in rows[0]}


@defect("parity.real_weights")
class PerturbsTrainedWeights:
    def _run(self, feed):
        outputs = super()._run(feed)
        return shift(outputs, 1e-2) if self.config.vocab_size > 10000 else outputs
