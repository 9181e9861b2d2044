"""conformance.integrity: a check that leaves torch's process-wide state changed fails, by name, and
the state is restored, so the checks after it in the worker are judged on a clean process."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

CHECKS = """
import torch

def test_1_swaps_register_parameter():
    # what two overlapping transformers loads can leave behind (its init_empty_weights)
    torch.nn.Module.register_parameter = lambda self, name, param: None

def test_2_builds_a_model():
    assert torch.nn.Linear(2, 2).weight.device.type == "cpu"
    assert "weight" in dict(torch.nn.Linear(2, 2).named_parameters())

def test_3_sets_a_default_dtype():
    torch.set_default_dtype(torch.float64)

def test_4_sees_float32():
    assert torch.ones(1).dtype == torch.float32

def test_5_fails_on_its_own():
    torch.set_default_dtype(torch.float16)
    raise ValueError("its own failure")

def test_6_sees_float32_again():
    assert torch.get_default_dtype() == torch.float32
"""


def test_state_changes_fail_the_check_that_made_them(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_checks=CHECKS)
    result = pytester.runpytest_inprocess("-p", "conformance.integrity", "-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=3, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*ProcessStateChanged: this check left process-wide state changed*nn.Module.register_parameter*",
            "*ProcessStateChanged*torch default dtype (torch.float32 -> torch.float64)*",
            "*ValueError: its own failure*",  # its own error is kept; the dtype is still restored
        ]
    )
