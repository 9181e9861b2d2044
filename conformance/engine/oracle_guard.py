"""A failure that transformers' own model raised is not the backend's.

When transformers cannot run a zoo model itself (transformers 5.3's XLMRobertaForMultipleChoice
raises IndexError on the zoo's multiple-choice xlm-roberta), the oracle's side is a not_run
(`CheckContext.in_oracle`). But a backend that exports at load runs that same model first, and
fails before the oracle is asked: the check would blame the backend (optimum-ort naf 0.1.1 "failed"
nine clauses there, and reference-ort `save.reload_equal`). So after a check fails with an error
raised through transformers' model code, the case's oracle is asked once (it is cached per case):
when it fails too, the verdict is its not_run, naming the versions. Any other failure, or one on a
model that transformers runs, keeps its verdict.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from conformance.engine.isolation import raised_through
from conformance.engine.outcomes import NotRun
from conformance.engine.state import CONTEXT

MODEL_CODE = ("transformers/models/", "transformers\\models\\")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    try:
        return (yield)
    except Exception as error:  # not pytest's outcomes (skips, pytest-timeout's fail): BaseException
        context = item.stash.get(CONTEXT, None)
        if context is not None and raised_through(error, MODEL_CODE):
            try:
                context.oracle(context.inputs())
            except NotRun as oracle_fails:
                raise oracle_fails from error
            except Exception:  # the probe's own trouble never replaces the check's verdict
                pass
        raise
