"""Expectation files: one TOML file per backend listing known deviations, each with a reason.

    [[expect]]
    test = "test_save_atomic[optimum-ort-*]"   # the test name; * and ? are wildcards
    outcome = "fail"                            # "fail" (xfail, strict: a pass fails the run)
    reason = "save_pretrained writes config.json before the weights"
    link = "https://github.com/huggingface/optimum/blob/v2.1.0/optimum/modeling_base.py"

One deviation seen in several tests is one entry: `test` may be a list of names, each of which
must match (an entry per name, with the same reason and link).

An entry that matches no collected test fails the run: the file must stay true.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

OUTCOMES = ("fail",)


@dataclass(frozen=True)
class Expectation:
    test: str
    outcome: str
    reason: str
    link: str
    source: str

    def matches(self, test_name: str) -> bool:
        """`*` and `?` are wildcards; brackets are literal, as in test ids."""
        return fnmatchcase(test_name, self.test.replace("[", "[[]"))


class ExpectationError(ValueError):
    """An expectation file is malformed; the message names the file and the entry."""


def load(path: str | Path) -> list[Expectation]:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ExpectationError(f"expectations file {path}: {error}") from error
    entries = []
    for index, raw in enumerate(data.get("expect", [])):
        missing = [key for key in ("test", "reason", "link") if not raw.get(key)]
        if missing:
            raise ExpectationError(
                f"{path}: [[expect]] #{index + 1} lacks {missing} (each entry needs test, reason, link)"
            )
        outcome = raw.get("outcome", "fail")
        if outcome not in OUTCOMES:
            raise ExpectationError(
                f"{path}: [[expect]] #{index + 1} outcome {outcome!r}; use one of {OUTCOMES}"
            )
        names = raw["test"] if isinstance(raw["test"], list) else [raw["test"]]
        if not all(isinstance(name, str) and name for name in names):
            raise ExpectationError(f"{path}: [[expect]] #{index + 1}: test is a name or a list of names")
        entries += [Expectation(name, outcome, raw["reason"], raw["link"], str(path)) for name in names]
    return entries
