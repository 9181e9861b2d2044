"""The check catalogue, built from the checks themselves (DESIGN.md §3).

A clause is declared once, by `@clause` on its check function in `conformance/checks/`:

    @clause("save.atomic", "strict", "a save that fails leaves the target folder exactly as it was")
    def test_save_atomic(check: CheckContext) -> None: ...

The id is `<family>.<name>` and the function is `test_<family>_<name>`. The level is core (what the
Optimum contract promises) or strict (what the reference guarantees beyond it). The declaration
also says what the check needs and how much of the zoo it samples:

    requires   capabilities the case must offer (`conformance.families.Family.case_capabilities`):
               "forward", "tokenizer", "image_processor", "library:timm", "trained_weights", and
               later "generate". A backend none of whose tasks offers them gets one not_run.
    sample     "representative": one case per backend, chosen from the tasks its spec declares;
               "family": one per task family the backend has tasks in; "task": one per declared
               task; "arch": every zoo model (architecture x task).
    tiers      True: once per precision tier beyond fp32 (`engine.collect.tiers_of`); unsupported
               on a backend that does not declare the tier.

An id that no check declares is an error (`clause_of`, `level`), never a silent "core".
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from reports.schema import FAMILIES as _FAMILY_LABELS
from reports.schema import LEVELS

FAMILIES = tuple(_FAMILY_LABELS)  # the record schema owns the clause families and levels
SAMPLES = ("representative", "family", "task", "arch")
CHECKS_PACKAGE = "conformance.checks"

F = TypeVar("F", bound=Callable[..., Any])


class CatalogueError(LookupError):
    """A clause declared wrongly, twice, or not at all."""


@dataclass(frozen=True)
class Clause:
    id: str
    level: str
    doc: str
    requires: frozenset[str] = frozenset()
    sample: str = "representative"
    tiers: bool = False
    function: str = ""

    @property
    def family(self) -> str:
        return self.id.split(".", 1)[0]


_CLAUSES: dict[str, Clause] = {}


def clause(
    id: str,
    level: str,
    doc: str,
    *,
    requires: tuple[str, ...] = (),
    sample: str = "representative",
    tiers: bool = False,
) -> Callable[[F], F]:
    """Declare the check function below as clause `id` and add it to the catalogue."""

    def declare(function: F) -> F:
        family, _, name = id.partition(".")
        expected = f"test_{family}_{name}"
        problems = [
            f"family {family!r} is not one of {FAMILIES}" if family not in FAMILIES else "",
            f"level {level!r} is not one of {LEVELS}" if level not in LEVELS else "",
            f"sample {sample!r} is not one of {SAMPLES}" if sample not in SAMPLES else "",
            f"its function must be named {expected}, not {function.__name__}"
            if function.__name__ != expected
            else "",
            "its doc must be one line" if not doc or "\n" in doc else "",
        ]
        if any(problems):
            raise CatalogueError(f"clause {id!r}: " + "; ".join(p for p in problems if p))
        where = f"{function.__module__}.{function.__qualname__}"
        known = _CLAUSES.get(id)
        if known is not None and known.function != where:
            raise CatalogueError(f"clause {id!r} is declared twice: {known.function} and {where}")
        declared = Clause(id, level, doc, frozenset(requires), sample, tiers, where)
        _CLAUSES[id] = declared
        function.clause = declared  # type: ignore[attr-defined]
        return function

    return declare


def clauses() -> dict[str, Clause]:
    """Every clause, by id: imports every module of `conformance.checks` (they import torch)."""
    package = importlib.import_module(CHECKS_PACKAGE)
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{CHECKS_PACKAGE}.{module.name}")
    return dict(sorted(_CLAUSES.items()))


def clause_of(function: Callable[..., Any]) -> Clause:
    """The clause a check function declares; CatalogueError if it declares none."""
    declared = getattr(function, "clause", None)
    if not isinstance(declared, Clause):
        raise CatalogueError(
            f"{function.__module__}.{function.__qualname__} takes a conformance case but declares no "
            "clause: decorate it with @conformance.catalogue.clause(id, level, doc)"
        )
    return declared


def level(check: str) -> str:
    """The level of a declared clause id."""
    known = _CLAUSES.get(check) or clauses().get(check)
    if known is None:
        raise CatalogueError(f"unknown clause {check!r}: no check in {CHECKS_PACKAGE} declares it")
    return known.level
