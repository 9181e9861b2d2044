"""Expectation files: one TOML file per backend listing known deviations, each with a reason.

    [[expect]]
    test = "test_save_atomic[optimum-ort-*]"   # the test name; * and ? are wildcards
    outcome = "fail"                            # "fail" (xfail, strict: a pass fails the run)
    reason = "save_pretrained writes config.json before the weights"
    link = "https://github.com/huggingface/optimum/blob/v2.1.0/optimum/modeling_base.py"
    versions = "optimum<2.2"                    # optional: the releases it applies to

One deviation seen in several tests is one entry: `test` may be a list of names, each of which
must match (an entry per name, with the same reason and link).

Upstream deviations come and go between releases, so an entry may say which installed releases it
applies to: `versions` is a requirement, or a list of them that must all hold, naming a
distribution and a version specifier as pip does ("optimum-intel>=2", "optimum-onnx==0.1.0";
a bare name such as "optimum-onnx-naf" means any version of it). Where a named distribution is not
installed or its version is outside the specifier, the entry does not apply here: it is dropped
when the file is loaded, so it neither expects a failure nor counts as unmatched. An entry without
`versions` applies everywhere.

An entry that matches no collected test fails the run: the file must stay true.
"""

from __future__ import annotations

import importlib.metadata
import tomllib
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

OUTCOMES = ("fail",)


@dataclass(frozen=True)
class Expectation:
    test: str
    outcome: str
    reason: str
    link: str
    source: str
    versions: tuple[str, ...] = ()
    """The requirements on installed distributions under which the entry applies (all of them)."""

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
        requirements = _requirements(raw.get("versions"), f"{path}: [[expect]] #{index + 1}")
        if not all(_installed(requirement) for requirement in requirements):
            continue  # another release's deviation: not expected here, and not stale either
        versions = tuple(str(requirement) for requirement in requirements)
        entries += [
            Expectation(name, outcome, raw["reason"], raw["link"], str(path), versions) for name in names
        ]
    return entries


def _requirements(value: Any, where: str) -> list[Requirement]:
    """`versions` parsed: a requirement or a non-empty list of them, each a name and a specifier only."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    usage = 'versions is a requirement such as "optimum-intel>=2", or a list of them'
    if not items or not all(isinstance(item, str) and item.strip() for item in items):
        raise ExpectationError(f"{where}: {usage}; got {value!r}")
    requirements = []
    for item in items:
        try:
            requirement = Requirement(item)
        except InvalidRequirement as error:
            raise ExpectationError(f"{where}: versions {item!r}: {error}; {usage}") from None
        # Extras, markers and URLs say nothing about which release is installed: refused, not ignored.
        if requirement.extras or requirement.marker or requirement.url:
            raise ExpectationError(
                f"{where}: versions {item!r}: only a distribution name and a version specifier"
            )
        requirements.append(requirement)
    return requirements


def _installed(requirement: Requirement) -> bool:
    """The distribution is installed here at a version the specifier allows (pre-releases included:
    a development install of a release is that release)."""
    try:
        version = importlib.metadata.version(requirement.name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return requirement.specifier.contains(version, prereleases=True)
