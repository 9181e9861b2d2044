"""Output comparison shared by the parity and round-trip checks.

Outputs may be nested (a KV cache is a tuple of per-layer (key, value) pairs): nested outputs are
compared leaf by leaf, named by their path (`past_key_values.0.1`). A family chooses how its
outputs are judged (`Comparison`): generated token ids exactly, everything else within the
registry's tolerance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def as_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def cache_pairs(value: Any) -> Any:
    """A transformers `Cache` as the legacy tuple of (key, value) pairs per layer, on every
    transformers version the suite supports; anything else as it is.

    transformers 5 removed `to_legacy_cache`. Since 4.56 a `DynamicCache` holds `.layers`, each with
    `.keys`/`.values`; before, it held `key_cache`/`value_cache` lists.
    """
    layers = getattr(value, "layers", None)
    if isinstance(layers, list) and all(hasattr(layer, "values") for layer in layers):
        return tuple((layer.keys, layer.values) for layer in layers)
    if hasattr(value, "key_cache") and hasattr(value, "value_cache"):
        return tuple(zip(value.key_cache, value.value_cache))
    return value


def output(result: Any, name: str) -> Any:
    """Field `name` of a ModelOutput / dict / object, or None."""
    if isinstance(result, dict):
        return result.get(name)
    return getattr(result, name, None)


def leaves(name: str, expected: Any, actual: Any) -> list[tuple[str, np.ndarray, Any]]:
    """(path, expected array, actual value) of every array in a possibly nested expected output; an
    actual value whose nesting does not match raises AssertionError naming the path."""
    if not isinstance(expected, tuple):
        return [(name, np.asarray(expected), actual)]
    actual = cache_pairs(actual)
    if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
        got = f"{len(actual)} items" if isinstance(actual, (tuple, list)) else type(actual).__name__
        raise AssertionError(f"output {name!r} should hold {len(expected)} items like PyTorch's; got {got}")
    return [leaf for i, (e, a) in enumerate(zip(expected, actual)) for leaf in leaves(f"{name}.{i}", e, a)]


def differences(
    result: Any,
    expected: dict[str, np.ndarray],
    mask: np.ndarray | None = None,
    sequence_axes: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """max/mean absolute error over every expected output the result has; padded positions left out.

    The main (first) output must be there; another one left out (e.g. a pooler output a backend
    does not export) is listed under "missing_outputs": parity.output_type is where it fails.
    An output whose leading axes have the mask's shape is token-level: positions where the
    attention mask is 0 carry no meaning and are excluded. `sequence_axes` names outputs whose
    sequence axis is not the one after batch (a KV cache: (batch, heads, sequence, head dim)).
    """
    max_err, total, count, worst = 0.0, 0.0, 0, None
    missing = [name for name in expected if output(result, name) is None]
    if missing and missing[0] == next(iter(expected)):
        raise AssertionError(f"output {missing[0]!r} missing; got {list(getattr(result, 'keys', list)())}")
    for name, reference, value in _pairs(result, expected):
        actual = as_numpy(value).astype(np.float64)
        reference = reference.astype(np.float64)
        if actual.shape != reference.shape:
            raise AssertionError(f"output {name!r} has shape {actual.shape}, PyTorch {reference.shape}")
        error = _unpadded(np.abs(actual - reference), mask, _axis(name, sequence_axes))
        if error.size and float(error.max()) >= max_err:
            max_err, worst = float(error.max()), name
        total += float(error.sum())
        count += error.size
    return {
        "max_abs_err": max_err,
        "mean_abs_err": total / max(count, 1),
        "worst_output": worst,
        **({"missing_outputs": ",".join(missing)} if missing else {}),
    }


def within(
    result: Any,
    expected: dict[str, np.ndarray],
    atol: float,
    rtol: float,
    mask: np.ndarray | None = None,
    sequence_axes: Mapping[str, int] | None = None,
) -> list[str]:
    """Names of outputs outside atol + rtol * |expected| (masked like `differences`; outputs the
    result leaves out are `differences`' business)."""
    bad = []
    for name, reference, value in _pairs(result, expected):
        actual = as_numpy(value).astype(np.float64)
        ok = np.abs(actual - reference) <= atol + rtol * np.abs(reference)
        if not _unpadded(ok, mask, _axis(name, sequence_axes)).all():
            bad.append(name)
    return bad


def dtype_name(value: Any) -> str:
    """The element type of a torch tensor or numpy array as numpy spells it ("float32"): torch spells
    it the same after its "torch." prefix, so outputs of either kind compare with the oracle's."""
    return str(getattr(value, "dtype", type(value).__name__)).removeprefix("torch.")


def layout_differences(result: Any, expected: dict[str, Any]) -> dict[str, str]:
    """Outputs (by path) whose dtype or shape is not the expected one's, with what each has; outputs
    the result leaves out are `differences`' business."""
    wrong = {}
    for name, reference, value in _pairs(result, expected):
        got = f"{dtype_name(value)}{list(getattr(value, 'shape', ()))}"
        want = f"{dtype_name(reference)}{list(reference.shape)}"
        if got != want:
            wrong[name] = f"{got}, PyTorch {want}"
    return wrong


def _unpadded(values: np.ndarray, mask: np.ndarray | None, axis: int | None) -> np.ndarray:
    """`values` at the positions the mask keeps, if its batch and sequence axes (`axis`, by default
    the axes after batch) have the mask's shape; else all of them."""
    if mask is None:
        return values
    if axis is not None and values.ndim > axis:
        values = np.moveaxis(values, axis, 1)
    return values[mask.astype(bool)] if values.shape[: mask.ndim] == mask.shape else values


def _axis(path: str, sequence_axes: Mapping[str, int] | None) -> int | None:
    """The sequence axis of the leaf at `path` (`past_key_values.1.0` is an output of
    `past_key_values`)."""
    return (sequence_axes or {}).get(path.split(".", 1)[0])


def _pairs(result: Any, expected: dict[str, Any]) -> list[tuple[str, np.ndarray, Any]]:
    """(path, expected leaf, actual leaf) over the expected outputs the result has."""
    pairs = []
    for name, reference in expected.items():
        value = output(result, name)
        if value is not None:
            pairs += leaves(name, reference, value)
    return pairs


@dataclass(frozen=True)
class Comparison:
    """How a family's outputs are judged against its oracle's (`Family.comparison`).

    Outputs named in `exact` (generated token ids) must be equal: one different token changes every
    later step, so a tolerance would only hide it. Every other output (logits, scores, hidden
    states, caches) must be within the registry's tolerance, padded positions left out.
    """

    exact: frozenset[str] = frozenset()
    sequence_axes: Mapping[str, int] = field(default_factory=dict)
    """Outputs whose sequence axis is not the one after batch, for leaving out padded positions."""

    def judge(
        self,
        result: Any,
        expected: dict[str, Any],
        atol: float,
        rtol: float,
        mask: np.ndarray | None = None,
    ) -> tuple[dict[str, Any], list[str]]:
        """(metrics, names of the outputs that fail). Outputs after unequal token ids are not
        compared: they belong to another sequence."""
        unequal = []
        for name in sorted(self.exact & set(expected)):
            if output(result, name) is None:
                raise AssertionError(f"output {name!r} missing; got {list(getattr(result, 'keys', list)())}")
            for path, reference, value in leaves(name, expected[name], output(result, name)):
                if not np.array_equal(as_numpy(value), reference):
                    unequal.append(path)
        if unequal:
            return {"unequal_outputs": ",".join(unequal)}, unequal
        close = {name: value for name, value in expected.items() if name not in self.exact}
        if not close:
            return {"max_abs_err": 0.0, "mean_abs_err": 0.0, "worst_output": None}, []
        return (
            differences(result, close, mask, self.sequence_axes),
            within(result, close, atol, rtol, mask, self.sequence_axes),
        )
