"""--shard I/N splits the same tests the same way wherever the suite runs from."""

from __future__ import annotations

from conformance.engine.collect import in_shard

CHECKOUT = "conformance/checks/test_parity.py::test_parity_pytorch[reference-ort-{}]"
WHEEL = ".tox/main/lib/python3.11/site-packages/conformance/checks/test_parity.py::test_parity_pytorch[reference-ort-{}]"


def test_a_test_lands_in_one_shard_whether_run_from_a_checkout_or_a_wheel() -> None:
    cases = [f"text-classification-arch{i}" for i in range(200)]
    for count in (2, 3):
        for case in cases:
            from_checkout = [i for i in range(count) if in_shard(CHECKOUT.format(case), (i, count))]
            from_wheel = [i for i in range(count) if in_shard(WHEEL.format(case), (i, count))]
            assert len(from_checkout) == 1 and from_checkout == from_wheel, case
