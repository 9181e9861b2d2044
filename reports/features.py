"""The clause x backend feature table: which backend rows honour which clause (caniuse / wpt.fyi style).

One row per catalogue clause, grouped by family, with its level and one-line definition; one column
per backend row (backend · version · environment). A cell counts the clause's results on that row
and shows its pass rate, coloured as the matrix cells are, linking to the drill-down section.

The catalogue comes from the records' run lines (`clauses`); records written before that field list
the clauses their results name, without a definition. The index holds the table's frame (clause
rows, column heads); each column's cells are in its backend row's data script (`reports.rowdata`),
which the index loads with <script src>: the index stays small at 60 rows x 112 clauses, and the
site still opens from disk. site.js places the cells, as text.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import rowdata
from .model import FAMILIES, Record, Result, Row, Tally, family_sort_key


@dataclass(frozen=True)
class ClauseInfo:
    id: str
    level: str
    doc: str

    @property
    def family(self) -> str:
        return self.id.split(".", 1)[0]


def catalogue(record: Record, rows: list[Row]) -> list[ClauseInfo]:
    """Every clause the records declare or name, by family (catalogue order) then id."""
    known = {cid: ClauseInfo(cid, c["level"], c["doc"]) for cid, c in record.catalogue.items()}
    for row in rows:
        for result, _ in row.results.values():
            if result.check not in known:
                known[result.check] = ClauseInfo(result.check, result.level, "")
    return sorted(known.values(), key=lambda c: (family_sort_key(c.family), c.id))


def families(clauses: list[ClauseInfo]) -> list[dict[str, Any]]:
    """The clauses grouped by family, in order: {id, label, clauses}."""
    grouped: dict[str, list[ClauseInfo]] = defaultdict(list)
    for clause in clauses:
        grouped[clause.family].append(clause)
    return [
        {"id": family, "label": FAMILIES.get(family, family), "clauses": grouped[family]}
        for family in grouped
    ]


def column_cells(
    results: dict[str, list[Result]],
    href: Callable[[str], str],
    bucket: Callable[[Tally, str], str],
    rate: Callable[[Tally], str],
) -> dict[str, rowdata.Cell]:
    """One column: clause id -> its cell (`rowdata.cell`), coloured and labelled by its pass rate."""
    cells = {}
    for check, clause_results in results.items():
        tally = Tally().extend(clause_results)
        colour = bucket(tally, "strict")  # one clause, one level: the rate over all its results
        cells[check] = rowdata.cell(colour, colour, [rate(tally)], tally.all, href(check))
    return cells


def results_by_clause(row: Row) -> dict[str, list[Result]]:
    """One backend row's results, by clause: the cells of its column."""
    grouped: dict[str, list[Result]] = defaultdict(list)
    for result, _ in row.results.values():
        grouped[result.check].append(result)
    return grouped
