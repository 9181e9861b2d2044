"""Render records as a static site (Jinja2), Markdown tables and SVG badges.

The site opens from disk: one local stylesheet and script, relative links, no network. Every string
from a record goes through Jinja2's autoescaping (HTML) or `md_escape` (Markdown) or `xml_text`
(SVG). No page embeds the whole data set: the index and backend pages hold counts and links; the
drill-down is one page per (backend, clause) holding that clause's results for every version and
environment of the backend, each result under its own anchor; full provenance lives on one page per
run. Pages and files then grow with backends x clauses, not with results (50,000 results: about
700 drill-down pages, none near 300 KB).

The tables with a row or column per backend row (the index's feature table and backends x tasks
view, the task pages) hold their frame; their cells are in one data script per backend row
(`reports.rowdata`), so that no page grows by kilobytes per backend row.

Layout of SITE_DIR: index.html, interop.html, versions.html, diff.html, history.html, style.css,
site.js, data/<backend row>.js (the row's cells: `reports.rowdata`), b/<backend row>.html,
tasks/<task>.html (backends x architectures), c/<backend>/<clause>.html (the drill-down:
`reports.drilldown`), r/<run>.html, badges/<backend row>.svg, markdown/*.md.
"""

from __future__ import annotations

import functools
import re
import shutil
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from . import deviations, features, result_rows, rowdata, versions
from .diff import Comparison, compare, xml_text
from .drilldown import ClausePage, DrillDown
from .model import (
    FAILING,
    FAMILIES,
    OUTCOMES,
    PASSING,
    Record,
    RecordError,
    Result,
    Row,
    RowKey,
    Run,
    Tally,
    build_rows,
    family_sort_key,
    load,
    normalized_id,
    task_sort_key,
    timestamp_key,
)
from .names import slug
from .score import PASS_RATE_FORMULA, pct

TEMPLATES = Path(__file__).with_name("templates")
MARKER = ".optimum-conformance-site"
# Replaced on every render; t/ held the per-test pages of sites written before the drill-down pages.
GENERATED_DIRS = ("b", "c", "data", "tasks", "t", "r", "badges", "markdown")
GLYPHS = {
    "passed": "✓",
    "failed": "✗",
    "xfailed": "x",
    "xpassed": "!",
    "unsupported": "\u2212",  # minus sign
    "not_run": "○",
    "error": "E",
    "crashed": "☠",
    "timeout": "T",
}
DIFF_LIST_LIMIT = 500  # entries per list on the diff page; the CLI prints everything
HISTORY_LIMIT = 60  # points per trend chart
NO_TASK, NO_ARCH = "(no task)", "(no arch)"


def _suite_label(suite: dict[str, Any]) -> str:
    """The version, and the commit where the record names one: '0.1.0 @ a84aa11c'."""
    sha = suite.get("git_sha")
    return f"{suite.get('version')}" + (f" @ {sha[:8]}" if sha else "")


def bucket(tally: Tally, level: str) -> str:
    """The colour class of a cell for one level."""
    counts = tally.core if level == "core" else tally.all
    if not sum(counts.values()):
        return "nodata"
    rate = tally.rate(level)
    if rate is None:
        return "unsup" if counts["unsupported"] == sum(counts.values()) else "unscored"
    for floor, name in ((1, "p100"), (0.95, "p95"), (0.8, "p80"), (0.5, "p50")):
        if rate >= floor:
            return name
    return "p0"


def _only_unsupported(tally: Tally) -> bool:
    return tally.all["unsupported"] > 0 and tally.all["unsupported"] == tally.total


def unscored_label(tally: Tally) -> str:
    """What a cell with results but nothing scored says instead of a rate."""
    if tally.all["unsupported"]:
        return "unsupported"
    return "not run" if tally.all["not_run"] else "not scored"


def rate_text(tally: Tally) -> str:
    """A cell's pass rate over all its results, or why it has none."""
    return pct(tally.rate("strict")) if tally.scored("strict") else unscored_label(tally)


def matrix_cell(tally: Tally, href: str) -> rowdata.Cell | None:
    """A cell of the backends x tasks (or architectures) matrix: both rates, or why there is none;
    None where the row has no result there (site.js shows "no data")."""
    if tally.total == 0:
        return None
    if tally.scored("strict"):
        lines = [f"core {pct(tally.rate('core'))}", f"strict {pct(tally.rate('strict'))}"]
    else:
        lines = [unscored_label(tally)]
    return rowdata.cell(bucket(tally, "core"), bucket(tally, "strict"), lines, tally.all, href)


def by_task_and_arch(row: Row) -> tuple[dict[Any, list[Result]], dict[Any, list[Result]]]:
    """A row's results by task and by (task, arch): its cells of the index and the task pages."""
    by_task: dict[Any, list[Result]] = defaultdict(list)
    by_arch: dict[Any, list[Result]] = defaultdict(list)
    for result, _ in row.results.values():
        by_task[result.task].append(result)
        by_arch[result.task, result.arch].append(result)
    return by_task, by_arch


def step_label(step: versions.Step) -> str:
    """ "1.26.1 → 1.27.0", naming both environments when the step crosses from one to another."""
    old, new = step.old.key, step.new.key
    if old.env == new.env:
        return f"{old.version} → {new.version}"
    return f"{old.version} ({old.env or 'unnamed env'}) → {new.version} ({new.env or 'unnamed env'})"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template, whatever its name: record strings are hostile
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.ChainableUndefined,  # optional record fields may be absent: render as empty
        auto_reload=False,  # no stat() of the template files for each of thousands of pages
    )
    env.filters["pct"] = pct
    env.globals.update(outcomes=OUTCOMES, glyphs=GLYPHS, formula=PASS_RATE_FORMULA)
    return env


# --- view model --------------------------------------------------------------------------------


@dataclass
class RowView:
    row: Row
    slug: str
    href: str
    env_label: str
    total: Tally
    specific: int = 0

    @property
    def key(self) -> RowKey:
        return self.row.key

    @property
    def missing_shards(self) -> list[str]:
        return self.row.missing_shards

    @property
    def killed(self) -> bool:
        return any(not run.complete for run in self.row.runs)

    @property
    def script(self) -> str:
        """Its data script (`reports.rowdata`), from the site's root."""
        return rowdata.data_href(self.slug)


def env_label(row: Row) -> str:
    """Environment name plus the versions that matter most, from the row's latest run."""
    env = row.latest_run.environment
    packages = env.get("packages") or {}
    parts = [row.key.env or "unnamed env", f"py {env.get('python', '?')}"]
    parts += [f"{name} {packages[name]}" for name in ("torch", "transformers") if packages.get(name)]
    return " · ".join(parts)


def label(value: str | None, empty: str) -> str:
    return empty if value is None else value


class Mark(NamedTuple):
    """One result on its backend page: a glyph in its check x architecture cell, linking to it."""

    outcome: str
    href: str
    task: str
    glyph: str


class Site:
    """Everything the templates need, computed once from a record."""

    def __init__(self, record: Record, title: str) -> None:
        self.record = record
        self.title = title
        self.rows = build_rows(record)
        self.generated = datetime.now(UTC).isoformat(timespec="seconds")
        self.views = {row.key: self._row_view(row) for row in self.rows}
        self.run_href = {run.run_id: f"r/{slug(run.run_id)}.html" for run in record.runs.values()}
        self.backend_dir = {name: slug(name) for name in sorted({row.key.backend for row in self.rows})}
        self.drill = DrillDown(self.rows, lambda key: self.views[key].slug, self.backend_dir.__getitem__)
        self.peers: dict[str, list[tuple[Row, Result]]] = defaultdict(list)
        for row in self.rows:
            for result, _ in row.results.values():
                self.peers[normalized_id(result)].append((row, result))
        archs: dict[str | None, set[str | None]] = defaultdict(set)  # task -> its architectures
        precisions: set[str] = set()
        for row in self.rows:
            for result, _ in row.results.values():
                archs[result.task].add(result.arch)
                precisions.add(result.precision)
        self.tasks = sorted(archs, key=record.task_key)
        self.archs = {task: sorted(archs[task], key=lambda a: (a is None, a or "")) for task in self.tasks}
        # Precision tiers other than fp32, each with its own column (precision.* checks run in them).
        self.tiers = sorted(precisions - {"fp32"})
        self.specific = self._backend_specific()
        for view in self.views.values():
            view.specific = len(self.specific.get(view.key, []))

    def _row_view(self, row: Row) -> RowView:
        name = slug(row.key.backend, row.key.version, row.key.env)
        results = [r for r, _ in row.results.values()]
        href = f"b/{name}.html"
        return RowView(row, name, href, env_label(row), Tally().extend(results))

    def base(self, root: str) -> dict[str, Any]:
        return {"root": root, "site_title": self.title, "generated": self.generated}

    # index and task pages -----------------------------------------------------------------
    def task_slug(self, task: str | None) -> str:
        return slug(label(task, NO_TASK))

    def task_href(self, task: str | None) -> str:
        return f"tasks/{self.task_slug(task)}.html"

    def task_context(self, task: str | None) -> dict[str, Any]:
        """One task's matrix: backend rows x its architectures (the index has one column per task)."""
        columns = [{"label": f"all of {label(task, NO_TASK)}", "cls": "task"}]
        columns += [{"label": label(arch, NO_ARCH), "cls": "arch"} for arch in self.archs[task]]
        return {
            **self.base("../"),
            "task": label(task, NO_TASK),
            "rows": list(self.views.values()),
            "columns": columns,
            "cells": ("archs", self.task_slug(task)),
        }

    def index_context(self) -> dict[str, Any]:
        columns = [{"label": "All tasks", "cls": "all"}]
        columns += [
            {
                "label": f"{tier} tier",
                "cls": "tier",
                "title": f"the precision.* checks, run with the backend's {tier} options",
            }
            for tier in self.tiers
        ]
        columns += [
            {"label": label(task, NO_TASK), "cls": "task", "href": self.task_href(task)}
            for task in self.tasks
        ]
        suites = sorted({_suite_label(r.suite) for r in self.record.runs.values()})
        return {
            **self.base(""),
            "families": features.families(features.catalogue(self.record, self.rows)),  # feature table
            "rows": list(self.views.values()),
            "columns": columns,
            "cells": ("tasks", None),
            "warnings": self.record.warnings,
            "suite": ", ".join(suites) or "—",
            "runs": [{"run": run, "href": self.run_href[run.run_id]} for run in self.record.ordered_runs()],
            "result_count": self.record.result_count,
        }

    def row_script(self, row: Row) -> str:
        """The data script of one backend row (`reports.rowdata`): its column of the feature table
        ("clauses"), its row of the index's task view ("tasks": all, tiers, tasks) and its row of
        each task page it has results on ("archs": task page slug -> all of the task, then archs)."""
        view = self.views[row.key]
        by_task, by_arch = by_task_and_arch(row)
        clauses = features.column_cells(
            features.results_by_clause(row),
            href=lambda check: f"{self.drill.section_href(row.key, check)}#{view.slug}",
            bucket=bucket,
            rate=rate_text,
        )
        tasks = [matrix_cell(view.total, view.href)]
        tasks += [
            matrix_cell(Tally().extend(r for r, _ in row.results.values() if r.precision == tier), view.href)
            for tier in self.tiers
        ]
        archs = {}
        for task in self.tasks:
            href = f"{view.href}#task={_quote(task)}"
            tasks.append(matrix_cell(Tally().extend(by_task[task]), href))
            if by_task[task]:  # a task page shows "no data" for a row its script has no cells for
                archs[self.task_slug(task)] = [tasks[-1]] + [
                    matrix_cell(Tally().extend(by_arch[task, arch]), href) for arch in self.archs[task]
                ]
        return rowdata.data_script(view.slug, {"clauses": clauses, "tasks": tasks, "archs": archs})

    # backend page ---------------------------------------------------------------------------
    def backend_context(self, row: Row) -> dict[str, Any]:
        view = self.views[row.key]
        results = [r for r, _ in row.results.values()]
        archs = sorted({r.arch for r in results}, key=lambda a: (a is None, a or ""))
        tasks = sorted({r.task for r in results}, key=self.record.task_key)
        families = []
        by_family: dict[str, list[Result]] = defaultdict(list)
        for result in results:
            by_family[result.family].append(result)
        for family in sorted(by_family, key=family_sort_key):
            by_check: dict[str, list[Result]] = defaultdict(list)
            for result in by_family[family]:
                by_check[result.check].append(result)
            checks = []
            for check in sorted(by_check):
                cells: list[list[Mark]] = [[] for _ in archs]
                for result in sorted(
                    by_check[check], key=lambda r: (self.record.task_key(r.task), r.test_id)
                ):
                    cells[archs.index(result.arch)].append(
                        Mark(
                            result.outcome,
                            "../" + self.result_href(row.key, result),
                            label(result.task, NO_TASK),
                            GLYPHS[result.outcome],
                        )
                    )
                levels = sorted({r.level for r in by_check[check]})
                checks.append(
                    {
                        "check": check,
                        "level": "/".join(levels),
                        "tally": Tally().extend(by_check[check]),
                        "cells": cells,
                    }
                )
            families.append(
                {
                    "label": FAMILIES.get(family, family),
                    "tally": Tally().extend(by_family[family]),
                    "checks": checks,
                }
            )
        return {
            **self.base("../"),
            "row": view,
            "runs": [{"run": run, "href": "../" + self.run_href[run.run_id]} for run in row.runs],
            "archs": [{"label": label(a, NO_ARCH)} for a in archs],
            "tasks": [{"value": label(t, NO_TASK), "label": label(t, NO_TASK)} for t in tasks],
            "families": families,
            "deviations": deviations.group(results, href=lambda r: "../" + self.result_href(row.key, r)),
        }

    # drill-down per (backend, clause) -------------------------------------------------------
    def result_href(self, key: RowKey, result: Result) -> str:
        """Where a result's details are, from the site's root."""
        return self.drill.result_href(key, result)

    def clause_context(self, page: ClausePage) -> dict[str, Any]:
        root = "../../"
        sections = []
        for row in page.rows:
            view = self.views[row.key]
            pairs = sorted(
                self.drill.results[row.key, page.check],
                key=lambda pair: (self.record.task_key(pair[0].task), pair[0].arch or "", pair[0].test_id),
            )
            sections.append(
                {
                    "row": view,
                    "href": root + view.href,
                    "tally": Tally().extend(r for r, _ in pairs),
                    "runs": [
                        {"run": run, "href": root + self.run_href[run.run_id]}
                        for run in {run.run_id: run for _, run in pairs}.values()
                    ],
                    "runtime": sorted(
                        ((row.latest_run.backends.get(page.backend) or {}).get("runtime") or {}).items()
                    ),
                    "results": [self._result_rows(row.key, result) for result, _ in pairs],
                }
            )
        elsewhere = [
            {
                "backend": other,
                "href": root + self.drill.first_page[other, page.check].href,
                "tally": self._backend_tally(other, page.check),
            }
            for other in self.backend_dir
            if other != page.backend and (other, page.check) in self.drill.first_page
        ]
        return {
            **self.base(root),
            "page": page,
            "parts": [{"href": root + part.href, "current": part is page} for part in page.parts],
            "level": "/".join(
                sorted({r.level for row in page.rows for r, _ in self.drill.results[row.key, page.check]})
            ),
            "sections": sections,
            "elsewhere": elsewhere,
        }

    @functools.cache  # noqa: B019 (a Site lives for one render)
    def _backend_tally(self, backend: str, check: str) -> Tally:
        return Tally().extend(self.drill.on_backend[backend, check])

    def _result_rows(self, key: RowKey, result: Result) -> Markup:
        """The drill-down rows of one result: its texts worked out here, the markup in `result_rows`."""
        link = (result.expectation or {}).get("link") or ""
        where = f"{label(result.task, NO_TASK)} · {label(result.arch, NO_ARCH)}"
        return result_rows.rows(
            anchor=self.drill.anchor[key, result.test_id],
            test_id=result.test_id,
            where=where if result.precision == "fp32" else f"{where} · {result.precision} tier",
            outcome=result.outcome,
            glyph=GLYPHS[result.outcome],
            stage=result.stage or "—",
            duration=f"{result.duration_s:.3f} s",
            metrics=" · ".join(f"{name} {_number(value)}" for name, value in result.metrics.items()) or "—",
            message=result.message,
            tolerance=tolerance(result.metrics),
            expectation=result.expectation,
            expectation_link=link if re.match(r"https?://", link) else None,  # no javascript: URLs
            repro=result.repro,
        )

    def run_context(self, run: Run) -> dict[str, Any]:
        observed = Tally().extend(run.results.values()).all
        return {
            **self.base("../"),
            "run": run,
            "observed": observed,
            "declared": run.end_counts(),
            "cpu": run.environment.get("cpu") or {},
        }

    # backend-specific failures --------------------------------------------------------------
    def _backend_specific(self) -> dict[RowKey, list[tuple[Result, list[str]]]]:
        """Per row, the tests failing there only while passing on at least one other row (with those rows)."""
        found: dict[RowKey, list[tuple[Result, list[str]]]] = defaultdict(list)
        for peers in self.peers.values():
            failing = [(row, r) for row, r in peers if r.outcome in FAILING | {"xfailed"}]
            passing = [row.key.label for row, r in peers if r.outcome in PASSING]
            if len(failing) == 1 and passing:
                row, result = failing[0]
                found[row.key].append((result, passing))
        return found

    def interop_context(self) -> dict[str, Any]:
        groups = []
        for key, entries in sorted(self.specific.items(), key=lambda kv: kv[0].sort_key):
            passing = {id(result): rows for result, rows in entries}
            groups.append(
                {
                    "label": key.label,
                    "slug": self.views[key].slug,
                    "href": self.views[key].href,
                    "tests": len(entries),
                    "deviations": deviations.group(
                        (result for result, _ in entries),
                        href=lambda r, key=key: self.result_href(key, r),
                        passing=lambda r, passing=passing: passing[id(r)],
                    ),
                }
            )
        return {**self.base(""), "groups": groups}

    # changed between versions -------------------------------------------------------------
    def versions_context(self) -> dict[str, Any]:
        sections = []
        for lineage in versions.lineages(self.record, self.rows):
            rows = []
            for check in lineage.clauses:
                cells = []
                for step in lineage.steps:
                    regressed, fixed = step.regressed.get(check, []), step.fixed.get(check, [])
                    where = (step.new.key, check)
                    cells.append(
                        {
                            "regressed": len(regressed),
                            "fixed": len(fixed),
                            "href": f"{self.drill.section_href(*where)}#{self.views[step.new.key].slug}"
                            if where in self.drill.page_of
                            else None,  # the clause vanished in the new release: nothing to link to
                        }
                    )
                rows.append({"check": check, "cells": cells})
            sections.append(
                {
                    "label": f"{lineage.backend} · {', '.join(env or 'unnamed env' for env in lineage.envs)}",
                    "releases": [self.views[row.key] for row in lineage.releases],
                    "envs": len(lineage.envs),
                    "steps": [
                        {
                            "label": step_label(step),
                            "regressed": sum(map(len, step.regressed.values())),
                            "fixed": sum(map(len, step.fixed.values())),
                        }
                        for step in lineage.steps
                    ],
                    "rows": rows,
                }
            )
        return {**self.base(""), "sections": sections}

    # diff -----------------------------------------------------------------------------------
    def diff_context(self, baseline: Record | None, baseline_label: str, reason: str) -> dict[str, Any]:
        if baseline is None:
            return {**self.base(""), "diff": None, "reason": reason}
        comparison: Comparison = compare(baseline, self.record)

        def entries(changes: list) -> list[dict[str, Any]]:
            return [
                {
                    "change": c,
                    "href": self._href_for(c.key) if c.new is not None else None,
                }
                for c in changes[:DIFF_LIST_LIMIT]
            ]

        lists = {
            "regressions": comparison.regressions(),
            "fixes": comparison.fixes,
            "changed": comparison.changed(),
            "added": comparison.added,
            "removed": comparison.removed(),
        }
        diff = {name: entries(changes) for name, changes in lists.items()}
        diff.update(
            totals={name: len(changes) for name, changes in lists.items()},
            base_label=baseline_label,
            base_count=baseline.result_count,
            new_count=self.record.result_count,
            unchanged=comparison.unchanged,
            env_changes=comparison.env_changes,
        )
        return {**self.base(""), "diff": diff, "reason": ""}

    def _href_for(self, key: Any) -> str | None:
        for row in self.rows:
            if row.key.env == key.env and row.key.backend == key.backend and key.test_id in row.results:
                return self.result_href(row.key, row.results[key.test_id][0])
        return None


def _quote(task: str | None) -> str:
    return quote(label(task, NO_TASK), safe="")


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "null" if value is None else str(value)


def tolerance(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """max/mean abs error against the tolerance used, when the result recorded them."""
    error, atol = metrics.get("max_abs_err"), metrics.get("atol")
    if not isinstance(error, int | float) or not isinstance(atol, int | float):
        return None
    rtol = metrics.get("rtol")
    mean = metrics.get("mean_abs_err")
    within = error <= atol
    ratio = f"{error / atol:.3g} times atol" if atol else "atol is 0"
    return {
        "max": _number(error),
        "atol": _number(atol),
        "rtol": _number(rtol) if isinstance(rtol, int | float) else None,
        "mean": _number(mean) if isinstance(mean, int | float) else None,
        "within": within,
        "verdict": f"{'within' if within else 'above'} atol ({ratio})",
    }


# --- history -----------------------------------------------------------------------------------


@dataclass
class PointStats:
    version: str | None
    core: float | None
    strict: float | None
    counts: str


@dataclass
class HistoryPoint:
    label: str
    when: str
    suite: str
    run_ids: frozenset[str]
    path: Path | None
    stats: dict[tuple[str | None, str], PointStats]


def history_point(
    record: Record, label: str, path: Path | None, rows: list[Row] | None = None
) -> HistoryPoint:
    """Scores per (env, backend) of a record; `rows`: its rows when already built."""
    stats = {}
    for row in build_rows(record) if rows is None else rows:
        tally = Tally().extend(r for r, _ in row.results.values())
        counts = ", ".join(f"{n} {o}" for o in OUTCOMES if (n := tally.all[o]))
        stats[row.key.env, row.key.backend] = PointStats(
            row.key.version, tally.rate("core"), tally.rate("strict"), counts or "no results"
        )
    runs = record.ordered_runs()
    return HistoryPoint(
        label=label,
        when=runs[0].started_at if runs else "",
        suite=", ".join(sorted({str(r.suite.get("version")) for r in runs})),
        run_ids=frozenset(record.runs),
        path=path,
        stats=stats,
    )


def load_history(directory: str | Path) -> tuple[list[HistoryPoint], list[str]]:
    """One point per record file in `directory` (oldest first); unusable files are skipped with a warning."""
    points, warnings = [], []
    for path in sorted(Path(directory).glob("*.jsonl")):
        try:
            record = load([path], validate=False)  # history is read for trends only: keep it fast
        except RecordError as exc:
            warnings.append(f"history file skipped: {exc}")
            continue
        points.append(history_point(record, path.name, path))
    points.sort(key=lambda p: timestamp_key(p.when))
    return points, warnings


def trend_svg(points: list[HistoryPoint], key: tuple[str | None, str]) -> str:
    """Core and strict pass rates over the points, as inline SVG; a point with no data is a gap."""
    width, height, left, top, bottom = 640, 170, 40, 12, 28
    plot_w, plot_h = width - left - 12, height - top - bottom
    n = len(points)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(rate: float) -> float:
        return top + plot_h * (1 - rate)

    parts = [
        f'<svg class="trend" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="pass-rate trend for {escape(key[1])}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for rate in (0, 0.5, 1):
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - 12}" y1="{y(rate):.1f}" y2="{y(rate):.1f}"/>'
        )
        parts.append(f'<text x="4" y="{y(rate) + 3:.1f}">{int(rate * 100)} %</text>')
    for level in ("core", "strict"):
        segment: list[str] = []
        segments = [segment]
        for i, point in enumerate(points):
            stats = point.stats.get(key)
            rate = getattr(stats, level) if stats else None
            if rate is None:
                segment = []
                segments.append(segment)
                continue
            segment.append(f"{x(i):.1f},{y(rate):.1f}")
            title = escape(f"{point.label} ({point.when}): {level} {pct(rate)}")
            parts.append(
                f'<circle class="{level}" cx="{x(i):.1f}" cy="{y(rate):.1f}" r="3"><title>{title}</title></circle>'
            )
        parts += [f'<polyline class="{level}" points="{" ".join(s)}"/>' for s in segments if len(s) > 1]
    for i, anchor in [(0, "middle")] if n == 1 else [(0, "start"), (n - 1, "end")]:
        when = escape(points[i].when[:10])
        parts.append(f'<text x="{x(i):.1f}" y="{height - 8}" text-anchor="{anchor}">{when}</text>')
    parts.append("</svg>")
    return xml_text("".join(parts))


def history_context(site: Site, points: list[HistoryPoint], warnings: list[str]) -> dict[str, Any]:
    points = points[-HISTORY_LIMIT:]
    keys = sorted({k for p in points for k in p.stats}, key=lambda k: (k[1], k[0] or ""))
    series = [
        {
            "label": f"{backend} · {env or 'unnamed env'}",
            "svg": Markup(trend_svg(points, (env, backend))),  # built from escaped parts
            "points": [
                {"label": p.label, "when": p.when, "suite": p.suite, "stats": p.stats.get((env, backend))}
                for p in points
            ],
        }
        for env, backend in keys
    ]
    return {**site.base(""), "series": series if len(points) > 0 else [], "warnings": warnings}


# --- Markdown and badges -----------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#])")


def md_escape(text: str | None) -> str:
    """Safe inside a Markdown table cell, also where the renderer allows raw HTML."""
    text = escape(text or "", quote=False)  # <script> stays text
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def md_cell(tally: Tally) -> str:
    if tally.total == 0:
        return "—"
    rate = tally.rate("core") if tally.scored("core") else tally.rate("strict")
    if rate is None:
        return "unsupported" if _only_unsupported(tally) else "not scored"
    mark = "✅" if rate >= 1 else ("❌" if rate == 0 else "⚠️")
    return f"{mark} {pct(rate)}"


def markdown_pages(site: Site) -> dict[str, str]:
    """index.md (the matrix) and one "supported architectures" table per backend row."""
    legend = (
        f"Pass rate = {PASS_RATE_FORMULA}; not_run and error are not scored, unsupported is shown "
        "and never counted as a pass. Cells show the core score (strict where a cell has no core "
        "check); — means no data.\n"
    )
    header = [
        "Backend",
        "Environment",
        "Core",
        "Strict",
        *[f"{md_escape(tier)} tier" for tier in site.tiers],
        *[md_escape(label(t, NO_TASK)) for t in site.tasks],
    ]
    lines = [f"# {md_escape(site.title)}", "", legend, "| " + " | ".join(header) + " |"]
    lines.append("|" + "---|" * len(header))
    pages = {}
    for row in site.rows:
        view = site.views[row.key]
        results = [r for r, _ in row.results.values()]
        by_task = {t: Tally().extend(r for r in results if r.task == t) for t in site.tasks}
        cells = [
            f"[{md_escape(row.key.backend)} {md_escape(row.key.version)}]({view.slug}.md)",
            md_escape(row.key.env or "unnamed env"),
            pct(view.total.rate("core")),
            pct(view.total.rate("strict")),
            *[md_cell(Tally().extend(r for r in results if r.precision == tier)) for tier in site.tiers],
            *[md_cell(by_task[t]) for t in site.tasks],
        ]
        lines.append("| " + " | ".join(cells) + " |")
        pages[f"{view.slug}.md"] = backend_markdown(row, view, results, legend, site.record.task_key)
    pages["index.md"] = "\n".join(lines) + "\n"
    return pages


def backend_markdown(
    row: Row,
    view: RowView,
    results: list[Result],
    legend: str,
    task_key: Callable[[str | None], Any] = task_sort_key,
) -> str:
    tasks = sorted({r.task for r in results}, key=task_key)
    archs = sorted({r.arch for r in results}, key=lambda a: (a is None, a or ""))
    lines = [
        f"## Supported architectures: {md_escape(row.key.backend)} {md_escape(row.key.version)}"
        f" ({md_escape(row.key.env or 'unnamed env')})",
        "",
        f"Core {pct(view.total.rate('core'))} · strict {pct(view.total.rate('strict'))}. {legend}",
        "| Architecture | " + " | ".join(md_escape(label(t, NO_TASK)) for t in tasks) + " |",
        "|" + "---|" * (len(tasks) + 1),
    ]
    by_case: dict[tuple[str | None, str | None], list[Result]] = defaultdict(list)
    for result in results:
        by_case[result.arch, result.task].append(result)
    for arch in archs:
        cells = [md_cell(Tally().extend(by_case[arch, t])) for t in tasks]
        lines.append(f"| {md_escape(label(arch, NO_ARCH))} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def badge_svg(name: str, tally: Tally) -> str:
    """A shields-style badge: backend name | core and strict scores, coloured by the core score."""
    core, strict = tally.rate("core"), tally.rate("strict")
    message = f"core {pct(core)} · strict {pct(strict)}" if tally.scored("strict") else "no data"
    colour = {"p100": "#2e8540", "p95": "#6a9f2a", "p80": "#b59a00", "p50": "#d9730d", "p0": "#c62828"}.get(
        bucket(tally, "core" if tally.scored("core") else "strict"), "#8a8f98"
    )
    left_w, right_w = round(12 + 6.5 * len(name)), round(12 + 6.5 * len(message))
    width = left_w + right_w
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" '
        f'aria-label="{escape(name)}: {escape(message)}"><title>{escape(name)}: {escape(message)}</title>'
        f'<rect width="{left_w}" height="20" fill="#555"/><rect x="{left_w}" width="{right_w}" height="20" '
        f'fill="{colour}"/><g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" '
        f'text-anchor="middle"><text x="{left_w / 2}" y="14">{escape(name)}</text>'
        f'<text x="{left_w + right_w / 2}" y="14">{escape(message)}</text></g></svg>\n'
    )
    return xml_text(svg)


# --- writing -----------------------------------------------------------------------------------


def _write(path: Path, text: str) -> None:
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8", errors="replace")  # a lone surrogate becomes "?"


def prepare_output(out: Path) -> None:
    """Clear a previous report in `out`; refuse to write into a folder that holds anything else."""
    if out.exists() and not out.is_dir():
        raise RecordError(f"{out} exists and is not a directory")
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise RecordError(f"{out} is not empty and was not written by `optimum-conformance report`: refusing")
    for name in GENERATED_DIRS:
        shutil.rmtree(out / name, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text(
        "written by optimum-conformance report; its sub-folders are replaced on rewrite\n"
    )


@dataclass
class SiteSummary:
    pages: int
    out: Path
    warnings: list[str]


def render_site(
    record: Record,
    out: str | Path,
    *,
    history: Sequence[HistoryPoint] = (),
    history_warnings: Sequence[str] = (),
    baseline: Record | None = None,
    baseline_label: str = "",
    markdown: bool = False,
    title: str = "optimum-conformance",
) -> SiteSummary:
    """Write the whole site; `history` points are older records (the current one is appended)."""
    out = Path(out)
    prepare_output(out)
    env = environment()
    site = Site(record, title)
    pages = 0

    def page(path: str, template: str, context: dict[str, Any]) -> None:
        nonlocal pages
        _write(out / path, env.get_template(template).render(context))
        pages += 1

    shutil.copyfile(TEMPLATES / "style.css", out / "style.css")
    _write(out / "site.js", env.get_template("site.js.j2").render(data_global=rowdata.DATA_GLOBAL))
    page("index.html", "index.html.j2", {**site.index_context(), "markdown": markdown})
    page("interop.html", "interop.html.j2", site.interop_context())
    page("versions.html", "versions.html.j2", site.versions_context())
    for task in site.tasks:
        page(site.task_href(task), "task.html.j2", site.task_context(task))
    for row in site.rows:
        view = site.views[row.key]
        page(view.href, "backend.html.j2", site.backend_context(row))
        _write(out / view.script, site.row_script(row))
        _write(
            out / "badges" / f"{view.slug}.svg",
            badge_svg(f"{row.key.backend} ({row.key.env or '-'})", view.total),
        )
    for clause_page in site.drill.pages:
        page(clause_page.href, "clause.html.j2", site.clause_context(clause_page))
    for run in record.runs.values():
        page(site.run_href[run.run_id], "run.html.j2", site.run_context(run))

    current = history_point(record, "this report", None, site.rows)
    points = [p for p in history if p.run_ids != current.run_ids] + [current]
    reason = "No baseline: pass --baseline RECORD, or --history DIR with an earlier record."
    if baseline is None and len(points) > 1 and points[-2].path is not None:
        baseline, baseline_label = load([points[-2].path], validate=False), points[-2].label
    page("diff.html", "diff.html.j2", site.diff_context(baseline, baseline_label, reason))
    page(
        "history.html",
        "history.html.j2",
        history_context(site, points if history else [], list(history_warnings)),
    )
    if markdown:
        for name, text in markdown_pages(site).items():
            _write(out / "markdown" / name, text)
    return SiteSummary(pages, out, record.warnings)
