"""The run-record shape, defined once: the vocabularies, the three line types and their JSON Schema.

A run record is JSON Lines: one ``run`` line (provenance), one ``result`` line per test, flushed as
soon as it is known, then one ``end`` line. Each line type is a dataclass below (`RunLine`,
`Result`, `EndLine`); every field carries its JSON Schema in its metadata, and a field is required
unless it has a default. Everything else is derived from these definitions: the field tables the
fast structural check uses (`FIELDS`), the builders the suite writes lines with (`result_line`,
`run_line`, `end_line`) and the JSON Schema (`json_schema`). ``reports/schema.json`` is the
generated schema, published for other tools; a test keeps it equal to `json_schema()`. Regenerate:

    python -m reports.schema > reports/schema.json

The suite (``conformance``) imports this module to build its lines; this module imports nothing
from ``conformance`` or ``reference``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import field
from typing import Any, ClassVar, NamedTuple

SCHEMA_VERSION = 1
OUTCOMES = ("passed", "failed", "xfailed", "xpassed", "unsupported", "not_run", "error", "crashed", "timeout")
SCORED = ("passed", "failed", "xfailed", "xpassed", "crashed", "timeout")  # see reports.score
LEVELS = ("core", "strict")
STAGES = ("import", "load", "export", "infer", "parity", "save", "reload", "push")
FAMILIES = {  # check id prefix -> its label in reports; a check id is "<family>.<name>"
    "load": "Loading",
    "parity": "Parity",
    "precision": "Precision tiers",
    "gen": "Generation",
    "save": "Save",
    "push": "Push",
    "input": "Bad input",
}
MESSAGE_LIMIT = 4000  # characters of a result message kept in the record
SUITE_CHECKS = "conformance/checks/"  # where the checks sit in the suite package, as node ids spell it

_DESCRIPTION = (
    "A run record is a JSON Lines file: one `run` line (provenance), then one `result` line per test, "
    "flushed as soon as it is known, then one `end` line. A record without `end` comes from a run that "
    "was killed: its results are still valid. Tokens and other secrets never appear."
)
# Shared value definitions, referenced by fields as {"$ref": "#/$defs/<name>"}.
DEFS: dict[str, dict[str, Any]] = {
    "version": {"type": ["string", "null"]},
    "timestamp": {"type": "string", "description": "ISO 8601 with timezone, e.g. 2026-11-28T22:50:53+00:00"},
    "outcome": {
        "enum": list(OUTCOMES),
        "description": "passed; failed (see stage); xfailed (an expectation entry matched); xpassed (an "
        "expectation is stale, fails the run); unsupported (the backend spec declares the capability "
        "absent); not_run (policy: optional dependency absent, tier deselected; never scored); error (the "
        "harness itself broke; never scored); crashed (the worker process died); timeout.",
    },
    "stage": {
        "enum": [*STAGES, None],
        "description": "Where a failed/crashed/timeout test broke; null otherwise.",
    },
}
_VERSION, _TIMESTAMP = {"$ref": "#/$defs/version"}, {"$ref": "#/$defs/timestamp"}
_STRING, _OPT_STRING = {"type": "string"}, {"type": ["string", "null"]}


def _json(schema: dict[str, Any], *, omit: bool = False) -> dict[str, Any]:
    """The metadata of a record field: its JSON Schema (a field with a default is optional) and
    `omit`: builders leave the field out when it is not given, instead of writing its default."""
    return {"schema": schema, "omit": omit}


# --- the three line types ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunLine:
    """The first line of a run (one per shard): provenance."""

    KIND: ClassVar[str] = "run"

    schema_version: int = field(metadata=_json({"const": SCHEMA_VERSION}))  # required; builders fill it in
    run_id: str = field(metadata=_json({"type": "string", "minLength": 1}))
    suite: dict[str, Any] = field(
        metadata=_json(
            {
                "type": "object",
                "required": ["version"],
                "properties": {"name": _STRING, "version": _STRING, "git_sha": _OPT_STRING},
            }
        )
    )
    backends: list[dict[str, Any]] = field(
        metadata=_json(
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "version"],
                    "properties": {
                        "name": _STRING,
                        "version": _VERSION,
                        "runtime": {"type": "object", "additionalProperties": _VERSION},
                    },
                },
            }
        )
    )
    environment: dict[str, Any] = field(
        metadata=_json(
            {
                "type": "object",
                "required": ["python", "os", "packages"],
                "properties": {
                    "name": {
                        "type": ["string", "null"],
                        "description": "tox env or user label, e.g. main, latest, ipex",
                    },
                    "python": _STRING,
                    "os": _STRING,
                    "machine": _STRING,
                    "cpu": {
                        "type": "object",
                        "properties": {
                            "model": _OPT_STRING,
                            "count": {"type": ["integer", "null"]},
                            "flags": {"type": "array", "items": _STRING},
                        },
                    },
                    "packages": {"type": "object", "additionalProperties": _VERSION},
                },
            }
        )
    )
    shard: dict[str, int] = field(
        metadata=_json(
            {
                "type": "object",
                "required": ["id", "count"],
                "properties": {
                    "id": {"type": "integer", "minimum": 0},
                    "count": {"type": "integer", "minimum": 1},
                },
            }
        )
    )
    started_at: str = field(metadata=_json(_TIMESTAMP))
    argv: list[str] | None = field(
        default=None, metadata=_json({"type": "array", "items": _STRING}, omit=True)
    )
    tasks: list[str] | None = field(
        default=None,
        metadata=_json(
            {
                "type": "array",
                "items": _STRING,
                "description": "the suite's tasks in their display order (records before it have none: "
                "reports then use their built-in order)",
            },
            omit=True,
        ),
    )
    clauses: list[dict[str, str]] | None = field(
        default=None,
        metadata=_json(
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "level", "doc"],
                    "properties": {"id": _STRING, "level": {"enum": list(LEVELS)}, "doc": _STRING},
                },
                "description": "the suite's catalogue: every clause it declares, with its level and "
                "one-line definition (the report's feature table; records before it have none: reports "
                "then list the clauses their results name)",
            },
            omit=True,
        ),
    )


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class Result:
    """A result line: one test's outcome. Parsed by `from_line`; `line` is what it was parsed from."""

    KIND: ClassVar[str] = "result"

    run_id: str = field(metadata=_json(_STRING))
    test_id: str = field(
        metadata=_json(
            {
                "type": "string",
                "description": "pytest node id relative to the suite package, unique within a run, e.g. "
                "checks/test_parity.py::test_parity_pytorch[reference-ort-text-classification-bert]",
            }
        )
    )
    check: str = field(
        metadata=_json(
            {
                "type": "string",
                "pattern": f"^({'|'.join(FAMILIES)})\\.[a-z0-9_]+$",
                "description": "catalogue id from DESIGN.md §3",
            }
        )
    )
    level: str = field(metadata=_json({"enum": list(LEVELS)}))
    backend: str = field(metadata=_json(_STRING))
    task: str | None = field(metadata=_json(_OPT_STRING))
    arch: str | None = field(metadata=_json(_OPT_STRING))
    precision: str = field(
        default="fp32",
        metadata=_json(
            {
                "type": "string",
                "description": "the precision tier the model was loaded in (BackendSpec.precisions); absent means fp32",
            }
        ),
    )
    outcome: str = field(metadata=_json({"$ref": "#/$defs/outcome"}))
    stage: str | None = field(metadata=_json({"$ref": "#/$defs/stage"}))
    duration_s: float = field(metadata=_json({"type": "number", "minimum": 0}))
    message: str = field(
        metadata=_json(
            {
                "type": "string",
                "description": "why it failed / was skipped / what the expectation says; empty when passed",
            }
        )
    )
    repro: str = field(
        metadata=_json({"type": "string", "description": "a shell command that reruns exactly this test"})
    )
    metrics: dict[str, Any] = field(
        metadata=_json(
            {
                "type": "object",
                "description": "parity: max_abs_err, mean_abs_err, atol, rtol (and dtype); others free-form numbers",
                "additionalProperties": {"type": ["number", "string", "null"]},
            }
        )
    )
    expectation: dict[str, Any] | None = field(
        default=None,
        metadata=_json(
            {
                "type": ["object", "null"],
                "properties": {"outcome": _STRING, "reason": _STRING, "link": _STRING},
            }
        ),
    )
    line: Any = field(default=None, repr=False)  # not a record field: the parsed line

    @classmethod
    def from_line(cls, line: Any) -> Result:
        """The result of a parsed line (anything with the line's dict as `raw`) that passed the
        structural check; records from before a field existed get its default."""
        raw = line.raw
        values = {name: raw.get(name, spec.default) for name, spec in FIELDS["result"].items()}
        values["test_id"] = suite_test_id(values["test_id"])  # records written before ids were relative
        values["duration_s"] = float(values["duration_s"] or 0.0)
        values["precision"] = values["precision"] or "fp32"
        return cls(**values, line=line)

    @property
    def family(self) -> str:
        return self.check.split(".", 1)[0]


@dataclasses.dataclass(frozen=True, kw_only=True)
class EndLine:
    """The last line of a run (one per shard); a run killed before it has none."""

    KIND: ClassVar[str] = "end"

    run_id: str = field(metadata=_json(_STRING))
    ended_at: str = field(metadata=_json(_TIMESTAMP))
    counts: dict[str, int] = field(
        metadata=_json({"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}})
    )
    exit_status: int | None = field(default=None, metadata=_json({"type": ["integer", "null"]}))


LINES: dict[str, type[RunLine] | type[Result] | type[EndLine]] = {
    cls.KIND: cls for cls in (RunLine, Result, EndLine)
}


def suite_test_id(node_id: str) -> str:
    """A pytest node id relative to the suite package: `checks/test_parity.py::test_parity_pytorch[...]`
    whether the suite ran from a checkout (`conformance/checks/...`) or an installed wheel
    (`.tox/<env>/lib/python3.11/site-packages/conformance/checks/...`). Readers see it on every page,
    and two runs of one suite compare test by test. Ids outside the suite are kept as they are."""
    path, separator, name = node_id.partition("::")
    _, marker, rest = path.rpartition(SUITE_CHECKS)
    return f"checks/{rest}{separator}{name}" if marker else node_id


# --- field tables (derived) --------------------------------------------------------------------


class FieldSpec(NamedTuple):
    """One field of a line type: its JSON Schema, the Python types of its JSON values, and whether it
    is required (else its default, and whether builders leave it out when not given)."""

    name: str
    schema: dict[str, Any]
    types: tuple[type, ...]
    required: bool
    default: Any
    omit: bool


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


def _python_types(schema: dict[str, Any]) -> tuple[type, ...]:
    if "$ref" in schema:
        return _python_types(DEFS[schema["$ref"].rsplit("/", 1)[-1]])
    if "const" in schema:
        return (type(schema["const"]),)
    if "enum" in schema:
        return tuple(dict.fromkeys(type(value) for value in schema["enum"]))
    names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    return tuple(t for name in names for t in _JSON_TYPES[name])


def _table(cls: type) -> dict[str, FieldSpec]:
    table = {}
    for spec in dataclasses.fields(cls):
        if "schema" not in spec.metadata:
            continue
        required = spec.default is dataclasses.MISSING
        table[spec.name] = FieldSpec(
            spec.name,
            spec.metadata["schema"],
            _python_types(spec.metadata["schema"]),
            required,
            None if required else spec.default,
            spec.metadata["omit"],
        )
    return table


# kind -> field name -> spec, in the canonical key order (after "type", which every line starts with)
FIELDS: dict[str, dict[str, FieldSpec]] = {kind: _table(cls) for kind, cls in LINES.items()}
# kind -> required field -> its JSON value types: what the fast structural check of reports checks
REQUIRED: dict[str, dict[str, tuple[type, ...]]] = {
    kind: {name: spec.types for name, spec in table.items() if spec.required}
    for kind, table in FIELDS.items()
}


# --- builders ----------------------------------------------------------------------------------


def _check_value(kind: str, spec: FieldSpec, value: Any) -> None:
    if not isinstance(value, spec.types) or (isinstance(value, bool) and bool not in spec.types):
        raise TypeError(f"{kind} line field {spec.name!r}: {value!r} is not {_type_names(spec.types)}")
    schema = DEFS[spec.schema["$ref"].rsplit("/", 1)[-1]] if "$ref" in spec.schema else spec.schema
    if "enum" in schema and value not in schema["enum"]:
        raise ValueError(f"{kind} line field {spec.name!r}: {value!r} is not one of {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        raise ValueError(f"{kind} line field {spec.name!r}: {value!r} must be {schema['const']!r}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        raise ValueError(f"{kind} line field {spec.name!r}: {value!r} does not match {schema['pattern']}")
    if "minimum" in schema and isinstance(value, int | float) and value < schema["minimum"]:
        raise ValueError(f"{kind} line field {spec.name!r}: {value!r} is below {schema['minimum']}")
    if "minLength" in schema and isinstance(value, str) and len(value) < schema["minLength"]:
        raise ValueError(f"{kind} line field {spec.name!r}: must not be empty")


def _type_names(types: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean", dict: "an object"}
    names |= {list: "an array", type(None): "null"}
    return " or ".join(dict.fromkeys(names[t] for t in types))


def _build(kind: str, fields: Mapping[str, Any], envelope: tuple[str, ...] = ()) -> dict[str, Any]:
    """A line of `kind` in the canonical key order, defaults and constants filled, every value checked
    against its field's JSON type and constraints (top level). Fields in `envelope` are the writer's: not accepted
    here and left out of the line."""
    table = {name: spec for name, spec in FIELDS[kind].items() if name not in envelope}
    unknown = [name for name in fields if name not in table]
    if unknown:
        raise TypeError(f"{kind} line: unknown field(s) {', '.join(map(repr, unknown))}")
    missing = [
        name
        for name, spec in table.items()
        if spec.required and name not in fields and "const" not in spec.schema
    ]
    if missing:
        raise TypeError(f"{kind} line: missing required field(s) {', '.join(map(repr, missing))}")
    line: dict[str, Any] = {} if envelope else {"type": kind}
    for name, spec in table.items():
        if name not in fields and spec.omit:
            continue
        value = fields.get(name, spec.schema.get("const", spec.default))
        if value is None and spec.omit:
            continue
        _check_value(kind, spec, value)
        line[name] = value
    return line


def result_line(**fields: Any) -> dict[str, Any]:
    """A result line without its envelope (``type``, ``run_id``: `RecordWriter.result` adds them).

    Fields: test_id, check, level, backend, task, arch, outcome, stage, duration_s, message, repro,
    metrics (required); precision (default "fp32"), expectation (default None). The test id is made
    relative to the suite package (`suite_test_id`); the message is cut to MESSAGE_LIMIT characters.
    TypeError on a missing or unknown field or a value of the wrong JSON type; ValueError on a bad
    outcome, level, stage or check id. Both name the field.
    """
    if isinstance(fields.get("message"), str):
        fields["message"] = fields["message"][:MESSAGE_LIMIT]
    if isinstance(fields.get("test_id"), str):
        fields["test_id"] = suite_test_id(fields["test_id"])
    return _build("result", fields, envelope=("run_id",))


def run_line(**fields: Any) -> dict[str, Any]:
    """A complete run line (``type`` and ``schema_version`` filled in); `argv`, `tasks` and `clauses` are left
    out when not given. Errors as for `result_line`."""
    return _build("run", fields)


def end_line(**fields: Any) -> dict[str, Any]:
    """A complete end line (``type`` filled in; ``exit_status`` defaults to None)."""
    return _build("end", fields)


# --- the JSON Schema ---------------------------------------------------------------------------


def _line_schema(kind: str) -> dict[str, Any]:
    table = FIELDS[kind]
    return {
        "type": "object",
        "required": ["type", *(name for name, spec in table.items() if spec.required)],
        "properties": {"type": {"const": kind}, **{name: spec.schema for name, spec in table.items()}},
    }


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one record line, as ``reports/schema.json`` holds it."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"optimum-conformance/run-record/{SCHEMA_VERSION}",
        "title": "optimum-conformance run record line",
        "description": _DESCRIPTION,
        "oneOf": [{"$ref": f"#/$defs/{kind}"} for kind in LINES],
        "$defs": json.loads(json.dumps({**DEFS, **{kind: _line_schema(kind) for kind in LINES}})),
    }


def schema_text() -> str:
    """The text of ``reports/schema.json``."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(schema_text())
