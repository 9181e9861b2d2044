"""Compare two records (BASE, NEW), the release gate, and JUnit XML.

Tests are matched across records by (environment, backend, test id): a backend version bump is an
environment change, not a new test. Change kinds, reported in this order:

- regression: passed/xpassed → failed/crashed/timeout, at any level (what `diff` lists). The gate
  policies: `core` counts core-level checks only; `strict` counts all checks, and also
  passed → xfailed/unsupported (an expectation or a declared gap hiding a regression) and a passing
  test that disappeared;
- fix: failed/crashed/timeout/xfailed → passed/xpassed;
- changed: any other change of outcome (e.g. passed → not_run);
- new and removed tests; environment changes (versions, Python, OS, CPU) side by side.

Two versions of one backend compare the same way (`version_rows`): from two records, or from one
release-matrix record holding both; the site's "changed between versions" view is built on it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .model import (
    FAILING,
    PASSING,
    Record,
    RecordError,
    Result,
    Row,
    Run,
    build_rows,
    first_line,
    timestamp_key,
)

POLICIES = ("core", "strict")  # gate policies; "any" is what `diff` lists
_STRICT_ONLY_REGRESSIONS = frozenset({"xfailed", "unsupported"})
_FIXABLE = FAILING | {"xfailed"}


class TestKey(NamedTuple):
    env: str | None
    backend: str
    test_id: str

    @property
    def where(self) -> str:
        return f"{self.env or 'unnamed env'} · {self.backend}"


@dataclass
class Change:
    key: TestKey
    base: Result | None
    new: Result | None

    @property
    def level(self) -> str:
        return (self.new or self.base).level  # type: ignore[union-attr]

    @property
    def transition(self) -> str:
        before = self.base.outcome if self.base else "absent"
        after = self.new.outcome if self.new else "absent"
        return f"{before} → {after}"

    @property
    def detail(self) -> str:
        result = self.new if self.new and self.new.outcome != "passed" else None
        if result is None:
            return ""
        stage = f"[{result.stage}] " if result.stage else ""
        return stage + first_line(result.message)

    def is_regression(self, policy: str) -> bool:
        if self.base is None or self.base.outcome not in PASSING:
            return False
        if policy == "strict":
            return self.new is None or self.new.outcome in FAILING | _STRICT_ONLY_REGRESSIONS
        failing = self.new is not None and self.new.outcome in FAILING
        return failing and (policy == "any" or self.level == "core")


@dataclass
class EnvChange:
    where: str
    rows: list[tuple[str, str, str]]  # (what, base, new)


@dataclass
class Comparison:
    base: Record
    new: Record
    changes: list[Change] = field(default_factory=list)  # every test whose outcome or presence changed
    unchanged: int = 0
    env_changes: list[EnvChange] = field(default_factory=list)
    new_results: dict[TestKey, tuple[Result, Run]] = field(default_factory=dict)

    def regressions(self, policy: str = "any") -> list[Change]:
        return [c for c in self.changes if c.is_regression(policy)]

    @property
    def fixes(self) -> list[Change]:
        return [
            c
            for c in self.changes
            if c.base and c.new and c.base.outcome in _FIXABLE and c.new.outcome in PASSING
        ]

    def changed(self, policy: str = "any") -> list[Change]:
        special = {id(c) for c in self.regressions(policy) + self.fixes}
        return [c for c in self.changes if c.base and c.new and id(c) not in special]

    @property
    def added(self) -> list[Change]:
        return [c for c in self.changes if c.base is None]

    def removed(self, policy: str = "any") -> list[Change]:
        special = {id(c) for c in self.regressions(policy)}
        return [c for c in self.changes if c.new is None and id(c) not in special]


def latest_results(rows: list[Row]) -> dict[TestKey, tuple[Result, Run]]:
    latest: dict[TestKey, tuple[Result, Run]] = {}
    for row in rows:
        for test_id, (result, run) in row.results.items():
            key = TestKey(row.key.env, row.key.backend, test_id)  # suite-relative since loading
            if key not in latest or timestamp_key(run.started_at) >= timestamp_key(latest[key][1].started_at):
                latest[key] = (result, run)
    return latest


def _env_names(rows: list[Row] | None) -> str:
    return " + ".join(sorted({row.key.env or "unnamed env" for row in rows or []})) or "unnamed env"


def compare(
    base: Record,
    new: Record,
    base_rows: list[Row] | None = None,
    new_rows: list[Row] | None = None,
    *,
    match_envs: bool | None = None,
) -> Comparison:
    """Every test of BASE and NEW matched by (env, backend, test id). `*_rows`: only these rows of
    each record (e.g. two versions of one backend, from one record or two); default every row.
    `match_envs=False` matches by (backend, test id), for a release that runs in another environment
    than the one before it (the version matrix runs each release in its own); the keys then name
    both sides' envs. By default envs are matched unless the rows given on the two sides share no env."""
    if match_envs is None:
        match_envs = (
            base_rows is None
            or new_rows is None
            or bool({row.key.env for row in base_rows} & {row.key.env for row in new_rows})
        )
    before = latest_results(build_rows(base) if base_rows is None else base_rows)
    after = latest_results(build_rows(new) if new_rows is None else new_rows)
    if not match_envs:
        # Matched by (backend, test id); the key names both sides' envs ("peers-oo0.0.3 → main"), so
        # the listing and the JUnit class name say where each side ran rather than "unnamed env".
        envs = " → ".join(_env_names(rows) for rows in (base_rows, new_rows))
        before = {key._replace(env=envs): value for key, value in before.items()}
        after = {key._replace(env=envs): value for key, value in after.items()}
    comparison = Comparison(base, new, new_results=after)
    for key in sorted(before.keys() | after.keys(), key=lambda k: (k.backend, k.env or "", k.test_id)):
        old = before.get(key, (None, None))[0]
        now = after.get(key, (None, None))[0]
        if old and now and old.outcome == now.outcome:
            comparison.unchanged += 1
        else:
            comparison.changes.append(Change(key, old, now))
    if base_rows is None and new_rows is None:
        comparison.env_changes = environment_changes(base, new)
    return comparison


def version_rows(record: Record, backend: str, version: str | None) -> list[Row]:
    """The rows of one backend in a record, at `version` (None: the only version it has). RecordError
    when there is no such row, or several versions and none chosen."""
    rows = [row for row in build_rows(record) if row.key.backend == backend]
    versions = sorted({str(row.key.version) for row in rows})
    if version is not None:
        rows = [row for row in rows if row.key.version == version]
    elif len(versions) > 1:
        raise RecordError(
            f"{', '.join(record.sources)} holds {backend} at versions {', '.join(versions)}: choose one "
            "with --old-version / --new-version"
        )
    if not rows:
        raise RecordError(
            f"{', '.join(record.sources)} has no results of {backend}"
            + (f" at version {version} (it has: {', '.join(versions) or 'none'})" if version else "")
        )
    return rows


def provenance(run: Run, backend: str) -> dict[str, str]:
    """A flat view of what a result depended on, for side-by-side comparison."""
    env = run.environment
    info = run.backends.get(backend) or {}
    flat: dict[str, Any] = {
        "suite version": run.suite.get("version"),
        "suite git sha": run.suite.get("git_sha"),
        "backend version": info.get("version"),
        "python": env.get("python"),
        "os": env.get("os"),
        "machine": env.get("machine"),
        "cpu": (env.get("cpu") or {}).get("model"),
    }
    flat.update({f"runtime {k}": v for k, v in (info.get("runtime") or {}).items()})
    flat.update({f"package {k}": v for k, v in (env.get("packages") or {}).items()})
    return {k: "—" if v is None else str(v) for k, v in flat.items()}


def _latest_provenance(record: Record) -> dict[str, dict[str, str]]:
    latest: dict[str, dict[str, str]] = {}
    for run in record.ordered_runs():  # oldest first: the latest run wins
        for backend in run.backends:
            latest[f"{run.env_name or 'unnamed env'} · {backend}"] = provenance(run, backend)
    return latest


def environment_changes(base: Record, new: Record) -> list[EnvChange]:
    before, after = _latest_provenance(base), _latest_provenance(new)
    changes = []
    for where in sorted(before.keys() | after.keys()):
        if where not in after:
            changes.append(EnvChange(where, [("backend", "present", "absent")]))
        elif where not in before:
            changes.append(EnvChange(where, [("backend", "absent", "present")]))
        else:
            old, now = before[where], after[where]
            rows = [
                (k, old.get(k, "—"), now.get(k, "—"))
                for k in sorted(old.keys() | now.keys(), key=_what_order)
            ]
            rows = [r for r in rows if r[1] != r[2]]
            if rows:
                changes.append(EnvChange(where, rows))
    return changes


def _what_order(what: str) -> tuple[int, str]:
    prefixes = ("suite", "backend", "runtime", "python", "os", "machine", "cpu", "package")
    return (next((i for i, p in enumerate(prefixes) if what.startswith(p)), len(prefixes)), what)


# --- text output -------------------------------------------------------------------------------


def _section(title: str, changes: list[Change], limit: int) -> list[str]:
    lines = [f"{title} ({len(changes)})"]
    shown = changes if limit <= 0 else changes[:limit]
    for change in shown:
        detail = f"  {change.detail}" if change.detail else ""
        lines.append(
            f"  {change.level:<6} {change.key.where}  {change.key.test_id}  {change.transition}{detail}"
        )
    if len(shown) < len(changes):
        lines.append(f"  … and {len(changes) - len(shown)} more (--limit 0 shows all)")
    return lines


def format_text(comparison: Comparison, policy: str = "any", limit: int = 20) -> str:
    """Regressions and fixes in full, then the other lists (capped at `limit`), then the environment."""
    c = comparison
    lines = [
        f"base: {', '.join(c.base.sources)} ({c.base.result_count} results)",
        f"new:  {', '.join(c.new.sources)} ({c.new.result_count} results)",
    ]
    lines += [f"warning (new): {w}" for w in c.new.warnings]
    title = "REGRESSIONS" if policy == "any" else f"REGRESSIONS [policy {policy}]"
    lines += _section(title, c.regressions(policy), 0)
    lines += _section("FIXES", c.fixes, 0)
    lines += _section("OTHER OUTCOME CHANGES", c.changed(policy), limit)
    lines += _section("NEW TESTS", c.added, limit)
    lines += _section("REMOVED TESTS", c.removed(policy), limit)
    lines.append(f"ENVIRONMENT CHANGES ({len(c.env_changes)})")
    for env in c.env_changes:
        lines.append(f"  {env.where}")
        width = max(len(r[0]) for r in env.rows)
        base_width = max(len("base"), *(len(r[1]) for r in env.rows))
        lines.append(f"    {'':<{width}}  {'base':<{base_width}}  new")
        lines += [f"    {what:<{width}}  {old:<{base_width}}  {now}" for what, old, now in env.rows]
    lines.append(f"unchanged: {c.unchanged}")
    return "\n".join(lines)


# --- JUnit -------------------------------------------------------------------------------------

_XML_INVALID = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: str) -> str:
    """XML 1.0 cannot carry control characters or lone surrogates: replace them."""
    return _XML_INVALID.sub("\ufffd", value)


def junit_xml(comparison: Comparison, policy: str) -> bytes:
    """One testcase per test of NEW (and per removed test that the policy counts): regressions are
    failures, other non-passing outcomes are skipped with the outcome as message."""
    regressions = {c.key: c for c in comparison.regressions(policy)}
    suites: dict[str, list[ET.Element]] = {}
    keys = sorted(comparison.new_results.keys() | regressions.keys(), key=lambda k: (k.where, k.test_id))
    for key in keys:
        result = comparison.new_results.get(key, (None, None))[0]
        case = ET.Element(
            "testcase",
            name=xml_text(key.test_id),
            classname=xml_text(key.where),
            time=f"{result.duration_s:.3f}" if result else "0",
        )
        if key in regressions:
            change = regressions[key]
            failure = ET.SubElement(case, "failure", message=xml_text(f"regression: {change.transition}"))
            failure.text = xml_text(result.message if result else "the test disappeared from the new record")
        elif result is not None and result.outcome != "passed":
            ET.SubElement(
                case,
                "skipped",
                message=xml_text(f"{result.outcome} (not a regression): {first_line(result.message)}"),
            )
        suites.setdefault(key.where, []).append(case)
    root = ET.Element(
        "testsuites", name="optimum-conformance gate", tests=str(len(keys)), failures=str(len(regressions))
    )
    for where, cases in suites.items():
        failures = sum(1 for case in cases if case.find("failure") is not None)
        skipped = sum(1 for case in cases if case.find("skipped") is not None)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=xml_text(where),
            tests=str(len(cases)),
            failures=str(failures),
            skipped=str(skipped),
        )
        suite.extend(cases)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def write_junit(comparison: Comparison, policy: str, path: str | Path) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(junit_xml(comparison, policy))
