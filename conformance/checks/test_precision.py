"""precision.*: each precision tier a backend declares (`BackendSpec.precisions`), loaded with the
tier's kwargs and judged where this CPU computes in it (elsewhere: not_run naming the missing flag).

Random tiny weights say little about a reduced precision (their logits are noise-sized), so the
tier is judged on trained weights by task-level metrics, token-embedding cosine and retrieval top-1
agreement; on the zoo it must only be visibly in use and within the registry's tolerance.
"""

from __future__ import annotations

import numpy as np

from conformance import zoo
from conformance.cases import CheckContext
from conformance.catalogue import clause
from conformance.checks.helpers import as_torch, assert_parity, trained_checkpoint
from conformance.compare import as_numpy, output

# Below this, a tier's outputs equal fp32's: the option never reached the runtime (bf16 rounds at
# 3.9e-3 relative; fp32 runtimes agree with each other to ~1e-6).
VISIBLY_ROUNDED = 1e-5
# Every sentence of the trained set keeps its fp32 nearest neighbour: bf16 keeps each token
# embedding at cosine >= 0.9999 to fp32 (measured 0.99997 OpenVINO, 0.99993 IPEX; Zen 4), while each
# neighbour leads the runner-up by >= 0.53 (`zoo.TRAINED_SENTENCES`), so a tier that flips a
# neighbour is broken, not rounded.
REQUIRED_TOP1_AGREEMENT = 1.0


@clause(
    "precision.applied",
    "core",
    "a declared precision tier computes in that precision, within its tolerance of PyTorch fp32",
    sample="family",
    tiers=True,
    requires=("forward",),
)
def test_precision_applied(check: CheckContext) -> None:
    """The tier computes in its precision (outputs differ from the backend's own fp32 ones) and
    stays within the tier's tolerance of PyTorch fp32."""
    inputs = check.inputs()
    result = check.run(check.exported(), as_torch(inputs))
    assert_parity(check, result, check.oracle(inputs), inputs)
    fp32 = check.run(check.export(precision="fp32"), as_torch(inputs))
    with check.at("parity"):
        name = next(iter(check.oracle(inputs)))
        moved = float(np.abs(as_numpy(output(result, name)) - as_numpy(output(fp32, name))).max())
        check.metrics.update(diff_from_fp32=moved)
        assert moved > VISIBLY_ROUNDED, (
            f"{check.case.precision} outputs equal the fp32 ones (max diff {moved:.2g}): the tier's "
            f"options {dict(check.spec.precisions[check.case.precision])} did not reach the runtime"
        )


@clause(
    "precision.trained_embeddings",
    "core",
    "in the tier, trained all-MiniLM-L6-v2 keeps its token embeddings (cosine to PyTorch fp32)",
    requires=("forward", "trained_weights"),
    tiers=True,
)
def test_precision_trained_embeddings(check: CheckContext) -> None:
    """all-MiniLM-L6-v2 in the tier keeps its token embeddings: cosine to PyTorch fp32's at least
    the tier's `min_cosine` on every unmasked token, and every sentence's nearest other sentence
    (mean-pooled embeddings) is the one it is under PyTorch fp32 (`zoo.top1_agreement`)."""
    folder, inputs, expected = trained_checkpoint(check)
    result = check.run(check.export(folder), as_torch(inputs))
    tolerance = check.tolerance()
    with check.at("parity"):
        got = as_numpy(output(result, "last_hidden_state"))
        least = zoo.least_token_cosine(got, expected["last_hidden_state"], inputs["attention_mask"])
        agreement = zoo.top1_agreement(got, expected["last_hidden_state"], inputs["attention_mask"])
        check.metrics.update(
            min_cosine=least,
            top1_agreement=agreement,
            required_top1_agreement=REQUIRED_TOP1_AGREEMENT,
            max_abs_err=float(np.abs(got - expected["last_hidden_state"]).max()),
            required_cosine=tolerance.min_cosine,
            dtype=check.case.precision,
        )
        assert least >= tolerance.min_cosine, (
            f"least token-embedding cosine {least:.6f} < {tolerance.min_cosine} ({tolerance.reason})"
        )
        assert agreement >= REQUIRED_TOP1_AGREEMENT, (
            f"retrieval top-1 agreement {agreement:.2f} < {REQUIRED_TOP1_AGREEMENT}: the tier changes "
            f"sentences' nearest neighbours, which rounding alone does not"
        )
