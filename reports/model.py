"""Run records: load, validate, merge and score them.

A record file is JSON Lines (its shape: ``reports/schema.py``): a ``run`` line, its ``result`` lines,
an ``end`` line, possibly several runs one after the other (the merged format). Results belong to
the run whose ``run_id`` they carry, wherever they sit in the file. A run without ``end`` was killed:
its results are valid and kept.

Scores (shown on every index page; computed in ``reports/score.py``):

    pass rate = passed / (passed + failed + xfailed + xpassed + crashed + timeout)

``not_run`` (policy) and ``error`` (the harness broke) say nothing about the backend and are left
out; ``unsupported`` is left out of the rate but always shown, never counted as a pass. ``xfailed``
counts as a failure: an expectation explains a failure, it does not excuse it. ``xpassed`` counts
against the rate: the run fails until the stale expectation is removed. The core score counts
core-level checks only, the strict score counts all checks. No scored result means "no data",
never 0 %.

Task columns follow the ``tasks`` lists of the records' run lines (oldest run first), then
`TASK_ORDER` for tasks no run line lists: records written before run lines had ``tasks`` render in
that built-in order.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

# The record shape lives in reports.schema and the scores in reports.score; these names stay
# importable from here.
from .schema import FAMILIES, FIELDS, LEVELS, OUTCOMES, REQUIRED, SCHEMA_VERSION, SCORED, Result, json_schema
from .score import PASS_RATE_FORMULA as PASS_RATE_FORMULA
from .score import pass_rate

PASSING = frozenset({"passed", "xpassed"})  # the checked behaviour held
FAILING = frozenset({"failed", "crashed", "timeout"})
# The fallback task order, for tasks no run line's `tasks` lists (records from before that field).
TASK_ORDER = (
    "feature-extraction",
    "text-classification",
    "token-classification",
    "question-answering",
    "fill-mask",
    "multiple-choice",
    "image-classification",
    "text-generation",
    "text2text-generation",
    "audio-classification",
    "automatic-speech-recognition",
)


class RecordError(Exception):
    """The input cannot be used: unreadable, not a run record, or inconsistent."""


class MergeConflict(RecordError):
    """Two inputs disagree: the same test with different results in one run, or different suites."""


class ValidationUnavailable(RecordError):
    """Full schema validation was asked for but jsonschema is not installed."""


@dataclass(frozen=True)
class Line:
    """One parsed line, with its original text (merge writes it back verbatim) and where it came from."""

    raw: dict[str, Any]
    text: str
    source: str


@dataclass
class Run:
    """One run id: its `run` line(s) (one per shard when shards share an id), results and `end` lines."""

    run_id: str
    headers: list[Line] = field(default_factory=list)
    results: dict[str, Result] = field(default_factory=dict)
    ends: dict[int, Line] = field(default_factory=dict)  # shard id -> its `end` line

    @property
    def header(self) -> dict[str, Any]:
        return self.headers[0].raw

    @property
    def suite(self) -> dict[str, Any]:
        return self.header.get("suite") or {}

    @property
    def environment(self) -> dict[str, Any]:
        return self.header.get("environment") or {}

    @property
    def env_name(self) -> str | None:
        return self.environment.get("name")

    @property
    def backends(self) -> dict[str, dict[str, Any]]:
        return {b["name"]: b for b in self.header.get("backends") or []}

    def backend_version(self, name: str) -> str | None:
        return (self.backends.get(name) or {}).get("version")

    @property
    def started_at(self) -> str:
        return min((h.raw["started_at"] for h in self.headers), key=timestamp_key)

    @property
    def ended_at(self) -> str | None:
        return max((e.raw["ended_at"] for e in self.ends.values()), key=timestamp_key, default=None)

    @property
    def complete(self) -> bool:
        """False for a killed run (a shard without its `end` line)."""
        return all(shard in self.ends for shard in self.shard_ids)

    @property
    def shard_ids(self) -> list[int]:
        return sorted({h.raw["shard"]["id"] for h in self.headers})

    @property
    def shard_count(self) -> int:
        return self.header["shard"]["count"]

    def end_counts(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for end in self.ends.values():
            total.update(end.raw.get("counts") or {})
        return total


def timestamp_key(value: str | None) -> datetime:
    """Sort key for ISO 8601 strings; unparsable or naive values sort as UTC / the epoch."""
    try:
        moment = datetime.fromisoformat(value or "")
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- validation --------------------------------------------------------------------------------


@cache
def schema() -> dict[str, Any]:
    return json_schema()


@cache
def _validators() -> dict[str, Any]:
    try:
        import jsonschema
    except ImportError as exc:
        raise ValidationUnavailable(
            "validating run records against reports/schema.json needs the jsonschema package: "
            "pip install jsonschema (it is in the test extra: pip install 'optimum-conformance[test]')"
        ) from exc
    defs = schema()["$defs"]

    def inline(
        node: Any,
    ) -> Any:  # the schema's refs are local and acyclic; inlined it validates ~30 % faster
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {key: inline(value) for key, value in node.items()}
        return [inline(item) for item in node] if isinstance(node, list) else node

    # One validator per line type: errors then name the offending field, not "matches none of oneOf".
    return {kind: jsonschema.Draft202012Validator(inline(defs[kind])) for kind in FIELDS}


def check_line(raw: Any, full: bool = False) -> str | None:
    """Why `raw` is not a valid record line, or None. `full` adds the JSON Schema (needs jsonschema)."""
    if not isinstance(raw, dict):
        return "a record line must be a JSON object"
    kind = raw.get("type")
    if kind not in REQUIRED:
        return f"unknown line type {kind!r} (expected run, result or end)"
    for key, types in REQUIRED[kind].items():
        if key not in raw:
            return f"{kind} line without {key!r}"
        if not isinstance(raw[key], types):
            return f"{key}: {raw[key]!r} has the wrong type"
    for key, spec in FIELDS[kind].items():  # optional fields: null stands for absent
        if not spec.required and raw.get(key) is not None and not isinstance(raw[key], spec.types):
            return f"{key}: {raw[key]!r} has the wrong type"
    if not raw["run_id"]:
        return "empty run_id"
    why = _check_run(raw) if kind == "run" else _check_result(raw) if kind == "result" else None
    if why is None and full:
        error = next(iter(_validators()[kind].iter_errors(raw)), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or kind
            why = f"{where}: {error.message}"
    return why


def _check_run(raw: dict[str, Any]) -> str | None:
    if raw["schema_version"] != SCHEMA_VERSION:
        return (
            f"schema_version {raw['schema_version']!r}: this reports package reads version {SCHEMA_VERSION}"
        )
    shard = raw["shard"]
    if not (isinstance(shard.get("id"), int) and isinstance(shard.get("count"), int) and shard["id"] >= 0):
        return "shard needs an integer id >= 0 and count"
    if shard["count"] < 1:
        return "shard count must be >= 1"
    if not isinstance(raw["suite"].get("version"), str):
        return "suite.version must be a string"
    if not all(isinstance(b, dict) and isinstance(b.get("name"), str) for b in raw["backends"]):
        return "every backend needs a name"
    if not all(isinstance(task, str) for task in raw.get("tasks") or ()):
        return "tasks must be task names"
    clauses = raw.get("clauses") or ()
    if not all(
        isinstance(c, dict) and all(isinstance(c.get(k), str) for k in ("id", "level", "doc"))
        for c in clauses
    ):
        return "clauses must each have an id, a level and a doc"
    return None


def _check_result(raw: dict[str, Any]) -> str | None:
    if raw["outcome"] not in OUTCOMES:
        return f"unknown outcome {raw['outcome']!r}"
    if raw["level"] not in LEVELS:
        return f"unknown level {raw['level']!r}"
    return None


def validate_file(path: str | Path) -> list[str]:
    """Every schema violation in a record file ("file:line: why"). Needs jsonschema."""
    _validators()  # raise ValidationUnavailable before reading anything
    problems = []
    for number, text in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not text.strip():
            continue
        try:
            why = check_line(json.loads(text), full=True)
        except json.JSONDecodeError as exc:
            why = f"not JSON: {exc.msg}"
        if why:
            problems.append(f"{path}:{number}: {why}")
    return problems


# --- loading and merging -----------------------------------------------------------------------


@dataclass
class Record:
    """Runs read from one or more record files, merged, with the warnings met on the way."""

    runs: dict[str, Run] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    task_order: tuple[str, ...] = TASK_ORDER  # set by `finish`: see the module docstring
    catalogue: dict[str, dict[str, str]] = field(default_factory=dict)  # clause id -> {id, level, doc}

    def add_file(self, lines: Iterable[Line]) -> int:
        """Add one file's lines; returns how many. An `end` line closes the first shard of its run id
        opened in the same file and not closed yet: a shard file holds one, and `lines()` keeps that
        order when shards share a run id."""
        opened: dict[str, list[int]] = defaultdict(list)
        closed: Counter[str] = Counter()
        count = 0
        for line in lines:
            count += 1
            raw = line.raw
            run = self.runs.setdefault(raw["run_id"], Run(raw["run_id"]))
            if raw["type"] == "run":
                self._add_header(run, line)
                opened[run.run_id].append(raw["shard"]["id"])
            elif raw["type"] == "result":
                self._add_result(run, Result.from_line(line))
            else:
                index = closed[run.run_id]
                closed[run.run_id] += 1
                shards = opened[run.run_id]
                unclosed = [s for s in run.shard_ids if s not in run.ends]
                shard = shards[index] if index < len(shards) else (unclosed or run.shard_ids or [0])[0]
                self._add_end(run, shard, line)
        return count

    def _add_end(self, run: Run, shard: int, line: Line) -> None:
        old = run.ends.setdefault(shard, line)
        if old.raw != line.raw:
            raise MergeConflict(
                f"run {run.run_id} has two different `end` lines for shard {shard}: {old.source} and {line.source}"
            )

    def _add_header(self, run: Run, line: Line) -> None:
        for other in run.headers:
            if other.raw == line.raw:
                return  # the same shard given twice
            if other.raw["shard"]["id"] == line.raw["shard"]["id"]:
                raise MergeConflict(
                    f"run {run.run_id} has two different `run` lines for shard {line.raw['shard']['id']}: "
                    f"{other.source} and {line.source}"
                )
            if _identity(other.raw) != _identity(line.raw):
                raise MergeConflict(
                    f"run {run.run_id}: shards {other.source} and {line.source} share a run id but not "
                    "the suite, environment, backends or shard count"
                )
        run.headers.append(line)

    def _add_result(self, run: Run, result: Result) -> None:
        old = run.results.get(result.test_id)
        if old is None:
            run.results[result.test_id] = result
        elif old.line.raw != result.line.raw:
            raise MergeConflict(
                f"conflict: test {result.test_id!r} has two different results in run {run.run_id}: "
                f"{old.outcome} ({old.line.source}) and {result.outcome} ({result.line.source})"
            )

    def finish(self) -> Record:
        """Check what can only be checked once every file is read."""
        orphans = [run for run in self.runs.values() if not run.headers]
        if orphans:
            first = next(iter(orphans[0].results.values()), None) or next(iter(orphans[0].ends.values()))
            where = first.line.source if isinstance(first, Result) else first.source
            raise RecordError(
                f"results for run {orphans[0].run_id} but no `run` line with that id (first at {where})"
            )
        suites = {}
        for run in self.runs.values():
            suites.setdefault((run.suite.get("version"), run.suite.get("git_sha")), run.headers[0].source)
        versions = {version for version, _ in suites}
        shas = {sha for _, sha in suites if sha}
        if len(versions) > 1 or len(shas) > 1:
            listing = "; ".join(
                f"{v} (git {s or '?'}) in {src}" for (v, s), src in sorted(suites.items(), key=str)
            )
            raise MergeConflict(f"mismatched suite versions, refusing to merge: {listing}")
        for run in self.runs.values():
            if not run.complete:
                self.warnings.append(
                    f"run {run.run_id} ({run.env_name or 'unnamed env'}, shard {run.shard_ids}) has no `end` "
                    "line: it was killed; its recorded results are kept"
                )
            elif run.end_counts() and sum(run.end_counts().values()) != len(run.results):
                self.warnings.append(
                    f"run {run.run_id}: its `end` line counts {sum(run.end_counts().values())} results, "
                    f"the record holds {len(run.results)}"
                )
        for family, missing in self.missing_shards().items():
            self.warnings.append(
                f"{family.env or 'unnamed env'}: shard(s) {', '.join(map(str, missing))} of {family.count} "
                "missing: their tests show as no data"
            )
        listed = dict.fromkeys(
            task
            for run in self.ordered_runs()
            for header in run.headers
            for task in header.raw.get("tasks") or ()
        )
        self.task_order = (*listed, *(task for task in TASK_ORDER if task not in listed))
        for run in self.ordered_runs():  # the latest run's declaration of a clause wins
            for header in run.headers:
                self.catalogue.update((c["id"], c) for c in header.raw.get("clauses") or ())
        return self

    def task_key(self, task: str | None) -> tuple[int, str]:
        """Sort key of a task column in this record's order."""
        return task_sort_key(task, self.task_order)

    def ordered_runs(self) -> list[Run]:
        return sorted(self.runs.values(), key=lambda r: (timestamp_key(r.started_at), r.run_id))

    @property
    def result_count(self) -> int:
        return sum(len(run.results) for run in self.runs.values())

    def missing_shards(self) -> dict[ShardFamily, list[int]]:
        """Shard ids absent from each family of shards (same env, suite, backends and shard count)."""
        seen: dict[ShardFamily, set[int]] = {}
        for run in self.runs.values():
            for header in run.headers:
                seen.setdefault(_identity(header.raw), set()).add(header.raw["shard"]["id"])
        missing = {family: sorted(set(range(family.count)) - ids) for family, ids in seen.items()}
        return {family: ids for family, ids in missing.items() if ids}

    def lines(self) -> Iterator[str]:
        """The merged record: each run line(s), its results, its end line(s), oldest run first."""
        for run in self.ordered_runs():
            # Ended shards first, their end lines in the same order: `add_file` pairs them up again.
            shards = sorted(
                run.headers, key=lambda h: (h.raw["shard"]["id"] not in run.ends, h.raw["shard"]["id"])
            )
            for header in shards:
                yield header.text
            for result in run.results.values():
                yield result.line.text
            for header in shards:
                if header.raw["shard"]["id"] in run.ends:
                    yield run.ends[header.raw["shard"]["id"]].text

    def write(self, path: str | Path) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(target.name + ".tmp")
        with open(temporary, "w", encoding="utf-8", errors="surrogateescape") as out:  # bytes as read
            for text in self.lines():
                out.write(text + "\n")
        temporary.replace(target)  # never leave a half-written merged record behind


class ShardFamily(NamedTuple):
    """What the shards of one run have in common."""

    env: str | None
    suite_version: str | None
    git_sha: str | None
    backends: tuple[tuple[str, str | None], ...]
    count: int


def _identity(header: dict[str, Any]) -> ShardFamily:
    env = header.get("environment") or {}
    suite = header.get("suite") or {}
    backends = tuple(sorted((b.get("name"), b.get("version")) for b in header.get("backends") or []))
    return ShardFamily(
        env.get("name"), suite.get("version"), suite.get("git_sha"), backends, header["shard"]["count"]
    )


def read_lines(path: str | Path, validate: bool, warnings: list[str]) -> Iterator[Line]:
    """Parse one record file; `validate` adds the full JSON Schema check (needs jsonschema).

    A last line cut short (a run killed mid-write) is dropped with a warning; any other bad line is a
    RecordError.
    """
    if validate:
        _validators()  # ValidationUnavailable before reading anything
    try:
        text = Path(path).read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise RecordError(f"cannot read {path}: {exc.strerror or exc}") from exc
    rows = text.split("\n")
    for number, row in enumerate(rows, 1):
        if not row.strip():
            continue
        source = f"{path}:{number}"
        try:
            raw = json.loads(row)
        except json.JSONDecodeError as exc:
            if number == len(rows) and not text.endswith("\n"):
                warnings.append(f"{source}: last line cut short (killed mid-write), ignored")
                return
            raise RecordError(f"{source}: not JSON ({exc.msg})") from exc
        why = check_line(raw, validate)
        if why:
            raise RecordError(f"{source}: not a valid run-record line: {why}")
        yield Line(raw, row.strip(), source)


def load(paths: Iterable[str | Path], validate: bool = False) -> Record:
    """Read and merge record files; raises RecordError (MergeConflict) on unusable or conflicting input.

    The structural check always runs; `validate=True` adds the full JSON Schema (about 0.3 ms a line,
    and it needs jsonschema: ValidationUnavailable otherwise).
    """
    record = Record()
    for path in paths:
        record.sources.append(str(path))
        if record.add_file(read_lines(path, validate, record.warnings)) == 0:
            record.warnings.append(f"{path}: empty record")
    return record.finish()


def check_shards(record: Record, expected: int) -> list[str]:
    """Problems with the shard layout given the expected shard count (errors, not warnings)."""
    problems = []
    for run in record.ordered_runs():
        if run.shard_count != expected:
            problems.append(
                f"run {run.run_id} ({run.headers[0].source}) says it is shard {run.shard_ids} of "
                f"{run.shard_count}, expected {expected} shards"
            )
    return problems


# --- rows and scores ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RowKey:
    """A matrix row: one backend at one version in one environment."""

    env: str | None
    backend: str
    version: str | None

    @property
    def sort_key(self) -> tuple[str, str, str]:
        return (self.backend, self.env or "", self.version or "")

    @property
    def label(self) -> str:
        version = f" {self.version}" if self.version else ""
        return f"{self.backend}{version} · {self.env or 'unnamed env'}"


@dataclass
class Row:
    key: RowKey
    runs: list[Run] = field(default_factory=list)
    results: dict[str, tuple[Result, Run]] = field(default_factory=dict)  # test id -> latest result
    superseded: int = 0  # results replaced by a later run's result for the same test
    missing_shards: list[str] = field(default_factory=list)

    @property
    def latest_run(self) -> Run:
        return self.runs[-1]


def build_rows(record: Record) -> list[Row]:
    """Group results into matrix rows; a later run's result for the same test replaces an earlier one."""
    rows: dict[RowKey, Row] = {}

    def row_for(key: RowKey, run: Run) -> Row:
        row = rows.setdefault(key, Row(key))
        if not row.runs or row.runs[-1] is not run:
            row.runs.append(run)
        return row

    for run in record.ordered_runs():
        for name, backend in run.backends.items():
            row_for(RowKey(run.env_name, name, backend.get("version")), run)
        for result in run.results.values():
            row = row_for(RowKey(run.env_name, result.backend, run.backend_version(result.backend)), run)
            if result.test_id in row.results:
                row.superseded += 1
            row.results[result.test_id] = (result, run)
    missing = record.missing_shards()
    for row in rows.values():
        for family, ids in missing.items():
            if family.env == row.key.env and (row.key.backend, row.key.version) in family.backends:
                row.missing_shards.append(f"{', '.join(map(str, ids))} of {family.count}")
    return sorted(rows.values(), key=lambda r: r.key.sort_key)


@dataclass
class Tally:
    """Counts by outcome, all levels and core only."""

    all: Counter[str] = field(default_factory=Counter)
    core: Counter[str] = field(default_factory=Counter)

    def add(self, result: Result) -> None:
        self.all[result.outcome] += 1
        if result.level == "core":
            self.core[result.outcome] += 1

    def extend(self, results: Iterable[Result]) -> Tally:
        results = list(results)
        self.all.update(r.outcome for r in results)  # Counter.update counts an iterable in C
        self.core.update(r.outcome for r in results if r.level == "core")
        return self

    @property
    def total(self) -> int:
        return sum(self.all.values())

    def rate(self, level: str) -> float | None:
        return pass_rate(self.core if level == "core" else self.all)

    def scored(self, level: str) -> int:
        counts = self.core if level == "core" else self.all
        return sum(counts[o] for o in SCORED)


def task_sort_key(task: str | None, order: tuple[str, ...] = TASK_ORDER) -> tuple[int, str]:
    """Tasks in `order`, then unknown tasks by name, then no task."""
    if task is None:
        return (len(order) + 1, "")
    return (order.index(task) if task in order else len(order), task)


def family_sort_key(family: str) -> tuple[int, str]:
    names = list(FAMILIES)
    return (names.index(family) if family in names else len(names), family)


def normalized_id(result: Result) -> str:
    """The test id with its backend name blanked: the same check on another backend has the same one."""
    return result.test_id.replace(result.backend, "{backend}")


def first_line(text: str, limit: int = 160) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"
