"""Output comparison shared by the parity and round-trip checks.

Outputs may be nested (a KV cache is a tuple of per-layer (key, value) pairs): nested outputs are
compared leaf by leaf, named by their path (`past_key_values.0.1`).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def as_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


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
    if hasattr(actual, "to_legacy_cache"):  # a transformers Cache object
        actual = actual.to_legacy_cache()
    if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
        got = f"{len(actual)} items" if isinstance(actual, (tuple, list)) else type(actual).__name__
        raise AssertionError(f"output {name!r} should hold {len(expected)} items like PyTorch's; got {got}")
    return [leaf for i, (e, a) in enumerate(zip(expected, actual)) for leaf in leaves(f"{name}.{i}", e, a)]


def differences(
    result: Any, expected: dict[str, np.ndarray], mask: np.ndarray | None = None
) -> dict[str, Any]:
    """max/mean absolute error over every expected output the result has; padded positions left out.

    The main (first) output must be there; another one left out (e.g. a pooler output a backend
    does not export) is listed under "missing_outputs": parity.output_type is where it fails.
    An output whose leading axes have the mask's shape is token-level: positions where the
    attention mask is 0 carry no meaning and are excluded.
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
        error = np.abs(actual - reference)
        if mask is not None and error.shape[: mask.ndim] == mask.shape:
            error = error[mask.astype(bool)]
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
    result: Any, expected: dict[str, np.ndarray], atol: float, rtol: float, mask: np.ndarray | None = None
) -> list[str]:
    """Names of outputs outside atol + rtol * |expected| (masked like `differences`; outputs the
    result leaves out are `differences`' business)."""
    bad = []
    for name, reference, value in _pairs(result, expected):
        actual = as_numpy(value).astype(np.float64)
        ok = np.abs(actual - reference) <= atol + rtol * np.abs(reference)
        if mask is not None and ok.shape[: mask.ndim] == mask.shape:
            ok = ok[mask.astype(bool)]
        if not ok.all():
            bad.append(name)
    return bad


def _pairs(result: Any, expected: dict[str, Any]) -> list[tuple[str, np.ndarray, Any]]:
    """(path, expected leaf, actual leaf) over the expected outputs the result has."""
    pairs = []
    for name, reference in expected.items():
        value = output(result, name)
        if value is not None:
            pairs += leaves(name, reference, value)
    return pairs
