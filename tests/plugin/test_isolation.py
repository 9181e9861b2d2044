"""conformance.engine.isolation: which failures reset torch.compile's process-wide cache."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.engine.isolation import raised_through_dynamo


def test_a_failure_inside_a_compiled_frame_is_told_apart_from_a_plain_one() -> None:
    torch = pytest.importorskip("torch")

    def first_dimension(x: torch.Tensor) -> int:
        return x.size()[0]  # numpy's size is an int: TypeError, as in optimum-ipex's forward

    compiled = torch.compile(first_dimension, backend="eager")
    with pytest.raises(TypeError) as inside:
        compiled(np.zeros((2, 3)))
    with pytest.raises(TypeError) as plain:
        first_dimension(np.zeros((2, 3)))
    assert raised_through_dynamo(inside.value)
    assert not raised_through_dynamo(plain.value)
    try:
        raise RuntimeError("the backend wrapped it") from inside.value
    except RuntimeError as wrapped:
        assert raised_through_dynamo(wrapped)
