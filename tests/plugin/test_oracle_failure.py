"""When transformers itself fails on a zoo model, the backend is not blamed (CheckContext.in_oracle).

transformers 5.3's own XLMRobertaForMultipleChoice raised IndexError on the zoo model, and every
backend "failed" parity there: a release gate read that as the backend regressing. The oracle's
failure is a not_run that names the transformers and torch versions.
"""

from __future__ import annotations

import pytest
import torch
import transformers

from tests.plugin.test_plugin import ONE_MODEL, results, run

# A plugin the worker loads: transformers' BERT classification head fails, except when the
# reference backend calls it while exporting (any frame of `reference.*` on the stack), so only the
# oracle's side is broken and the backend under test is unharmed.
BROKEN_ORACLE = """
import sys
import transformers

original = transformers.BertForSequenceClassification.forward

def forward(self, *args, **kwargs):
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_globals.get("__name__", "").startswith("reference."):
            return original(self, *args, **kwargs)
        frame = frame.f_back
    raise IndexError("tuple index out of range")

transformers.BertForSequenceClassification.forward = forward
"""
ORACLE_CHECKS = ("test_parity_pytorch", "test_parity_output_type", "test_load_pipeline")


def run_with_plugin(
    pytester: pytest.Pytester, plugin: str, selection: str
) -> tuple[pytest.RunResult, list[dict]]:
    """The checks `selection` (-k) on reference-ort, one model, with `plugin` (its source) loaded in the worker."""
    pytester.makepyfile(breaking_plugin=plugin)
    return run(pytester, "-p", "breaking_plugin", "--backend", "reference-ort", *ONE_MODEL, "-k", selection)


def test_a_failing_oracle_is_not_run_naming_the_versions_not_a_backend_failure(
    pytester: pytest.Pytester,
) -> None:
    result, lines = run_with_plugin(
        pytester, BROKEN_ORACLE, " or ".join(ORACLE_CHECKS) + " or test_save_atomic"
    )
    outcomes = {test: line["outcome"] for test, line in results(lines).items()}
    assert outcomes, result.stdout.str()[-3000:]
    assert "failed" not in outcomes.values(), outcomes
    for check in ORACLE_CHECKS:
        line = results(lines)[f"{check}[reference-ort-text-classification-bert]"]
        assert line["outcome"] == "not_run", line
        assert "the PyTorch oracle fails" in line["message"], line["message"]
        assert f"transformers {transformers.__version__}" in line["message"]
        assert f"torch {torch.__version__}" in line["message"]
        assert "IndexError" in line["message"]
    # A check that never asks the oracle still judges the backend.
    assert outcomes["test_save_atomic[reference-ort-text-classification-bert]"] == "passed", outcomes


# sentence-transformers is the oracle of load.library_sentence_transformers (on top of transformers).
BROKEN_SENTENCE_TRANSFORMERS = """
import sentence_transformers

def forward(self, *args, **kwargs):
    raise IndexError("tuple index out of range")

sentence_transformers.SentenceTransformer.forward = forward
"""


def test_a_failing_sentence_transformers_oracle_is_not_run_naming_its_version(
    pytester: pytest.Pytester,
) -> None:
    from importlib.metadata import version

    result, lines = run_with_plugin(pytester, BROKEN_SENTENCE_TRANSFORMERS, "library_sentence_transformers")
    found = [line for test, line in results(lines).items() if test.startswith("test_load_library_sentence")]
    assert len(found) == 1, result.stdout.str()[-3000:]
    line = found[0]
    assert line["outcome"] == "not_run", line
    assert f"(sentence-transformers {version('sentence-transformers')}, transformers " in line["message"]
    assert "IndexError" in line["message"], line["message"]


# transformers' own BERT classification head cannot run (its pooler is gone, so its code indexes a
# pooled output that is not there), for the oracle and for the reference backend's export alike: the
# xlm-roberta multiple-choice failure of transformers 5.3, on bert.
BROKEN_TRANSFORMERS_MODEL = """
import transformers

original = transformers.BertForSequenceClassification.__init__

def __init__(self, config, *args, **kwargs):
    original(self, config, *args, **kwargs)
    self.bert.pooler = None

transformers.BertForSequenceClassification.__init__ = __init__
"""


def test_a_backend_failing_inside_a_model_transformers_cannot_run_is_not_blamed(
    pytester: pytest.Pytester,
) -> None:
    # The reference exports at load, so it meets transformers' error before any oracle is asked.
    checks = (
        "test_parity_pytorch",
        "test_save_reload_equal",
        "test_parity_batch_padding",
        "test_save_atomic",
    )
    result, lines = run_with_plugin(pytester, BROKEN_TRANSFORMERS_MODEL, " or ".join(checks))
    found = {test.split("[")[0]: line for test, line in results(lines).items()}
    assert set(found) == set(checks), result.stdout.str()[-3000:]
    for check, line in found.items():
        assert line["outcome"] == "not_run", (check, line)
        assert "the PyTorch oracle fails on bert text-classification" in line["message"], line["message"]
        assert f"transformers {transformers.__version__}" in line["message"]
