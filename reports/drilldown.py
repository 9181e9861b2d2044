"""Where each result's details live: one drill-down page per (backend, clause), split by rows when large.

A drill-down page holds one clause's results on one backend, a section per matrix row (version ·
environment), each result under its own anchor. Files then grow with backends x clauses, not with
results. A page whose sections would pass `PAGE_BUDGET` (estimated from the text it will show) is
split between sections into parts: `c/<backend>/<clause>.html`, `<clause>.2.html`, ... so no page
grows past a few hundred KB however many releases the record holds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from .model import Result, Row, RowKey, Run
from .names import clause_file_name, digest

PAGE_BUDGET = 150_000  # estimated bytes of result markup per page before the next section starts a part
RESULT_MARKUP = 420  # bytes of markup a result takes beside its own texts (id, message, repro)


@dataclass
class ClausePage:
    """One drill-down file: a clause on a backend, the rows it has sections for."""

    backend: str
    check: str
    href: str
    rows: list[Row] = field(default_factory=list)
    parts: list[ClausePage] = field(default_factory=list)  # every part of this clause, this one included


def _size(result: Result) -> int:
    return RESULT_MARKUP + len(result.test_id) + len(result.message) + len(result.repro)


class DrillDown:
    """Results per (row, clause), their anchors and the page each section is on."""

    def __init__(self, rows: list[Row], row_slug: Callable[[RowKey], str], backend_dir: Callable[[str], str]):
        self.results: dict[tuple[RowKey, str], list[tuple[Result, Run]]] = defaultdict(list)
        self.on_backend: dict[tuple[str, str], list[Result]] = defaultdict(list)  # every row of a backend
        self.anchor: dict[tuple[RowKey, str], str] = {}
        for row in rows:
            for test_id, (result, run) in row.results.items():
                self.results[row.key, result.check].append((result, run))
                self.on_backend[row.key.backend, result.check].append(result)
                # 48 bits of hash: unique among the few hundred results of one page
                self.anchor[row.key, test_id] = "r" + digest(row_slug(row.key), test_id, length=12)
        by_clause: dict[tuple[str, str], list[Row]] = defaultdict(list)
        for row in rows:
            for check in sorted({r.check for r, _ in row.results.values()}):
                by_clause[row.key.backend, check].append(row)
        self.page_of: dict[tuple[RowKey, str], ClausePage] = {}
        self.first_page: dict[tuple[str, str], ClausePage] = {}  # (backend, check) -> its first part
        self.pages: list[ClausePage] = []
        for (backend, check), clause_rows in sorted(by_clause.items()):
            parts: list[ClausePage] = []
            used = PAGE_BUDGET  # start a first part
            for row in clause_rows:
                size = sum(_size(result) for result, _ in self.results[row.key, check])
                if used + size > PAGE_BUDGET and (not parts or parts[-1].rows):
                    suffix = "" if not parts else f".{len(parts) + 1}"
                    parts.append(
                        ClausePage(
                            backend, check, f"c/{backend_dir(backend)}/{clause_file_name(check)}{suffix}.html"
                        )
                    )
                    used = 0
                parts[-1].rows.append(row)
                used += size
                self.page_of[row.key, check] = parts[-1]
            for part in parts:
                part.parts = parts
            self.first_page[backend, check] = parts[0]
            self.pages += parts

    def section_href(self, key: RowKey, check: str) -> str:
        """The page holding this row's results of `check`, from the site's root."""
        return self.page_of[key, check].href

    def result_href(self, key: RowKey, result: Result) -> str:
        return f"{self.section_href(key, result.check)}#{self.anchor[key, result.test_id]}"
