"""The catalogue, the check functions and the meta defects describe the same clauses.

A clause is declared once, by `@clause` on its check; every check declares one; every clause has
a deliberately broken backend that it catches (tests/meta/defects), and every defect targets a
declared clause. Cheap: it imports modules and runs nothing.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import conformance.checks
from conformance import catalogue
from tests.meta.defects import all_defects


def check_functions() -> dict[str, object]:
    """Every test function of conformance/checks, by module-qualified name."""
    found = {}
    for module_info in pkgutil.iter_modules(conformance.checks.__path__):
        module = importlib.import_module(f"conformance.checks.{module_info.name}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("test_") and function.__module__ == module.__name__:
                found[f"{module.__name__}.{name}"] = function
    return found


def test_every_check_declares_its_clause_and_the_catalogue_is_exactly_them() -> None:
    functions = check_functions()
    declared = {where: catalogue.clause_of(function) for where, function in functions.items()}
    assert {c.id for c in declared.values()} == set(catalogue.clauses())
    assert {c.function for c in declared.values()} == set(functions)
    assert len(catalogue.clauses()) >= 75


def test_every_clause_has_a_defect_and_every_defect_a_clause() -> None:
    targets = {defect.target for defect in all_defects()}
    clauses = set(catalogue.clauses())
    assert clauses - targets == set(), "clauses no meta defect exercises"
    assert targets - clauses == set(), "defects aimed at clauses no check declares"


def test_collateral_names_only_declared_clauses() -> None:
    clauses = set(catalogue.clauses())
    stray = {d.name: sorted(d.collateral - clauses) for d in all_defects() if d.collateral - clauses}
    assert not stray
