"""reports/schema.py: the one definition of the record shape, the published schema.json generated
from it, the line builders the suite writes with, and the task order a run line carries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reports import model, schema, score
from reports.model import TASK_ORDER, load
from reports.render import Site, render_site

from . import factory as f

SCHEMA_JSON = Path(schema.__file__).with_name("schema.json")
FIELDS = {
    "test_id": "checks/test_load.py::test_local_dir[reference-ort-text-classification-bert]",
    "check": "load.local_dir",
    "level": "core",
    "backend": "reference-ort",
    "task": "text-classification",
    "arch": "bert",
    "outcome": "failed",
    "stage": "load",
    "duration_s": 0.5,
    "message": "boom",
    "repro": "pytest --pyargs conformance --backend reference-ort -k test_local_dir",
    "metrics": {"atol": 1e-4},
}
DROP = object()  # leave the field out


def test_schema_json_is_generated_from_the_definitions() -> None:
    assert json.loads(SCHEMA_JSON.read_text(encoding="utf-8")) == schema.json_schema(), (
        "reports/schema.json is stale: python -m reports.schema > reports/schema.json"
    )


def test_the_schema_keeps_its_id_and_vocabularies() -> None:
    generated = schema.json_schema()
    assert generated["$id"] == "optimum-conformance/run-record/1"
    assert generated["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert generated["$defs"]["outcome"]["enum"] == list(schema.OUTCOMES)
    assert generated["$defs"]["stage"]["enum"] == [*schema.STAGES, None]
    assert generated["$defs"]["run"]["properties"]["tasks"]["type"] == "array"
    assert "tasks" not in generated["$defs"]["run"]["required"]
    assert "schema_version" in generated["$defs"]["run"]["required"]
    assert generated["$defs"]["result"]["required"][:2] == ["type", "run_id"]


def test_result_line_is_canonical_and_valid() -> None:
    line = schema.result_line(**{**FIELDS, "message": "x" * 5000})
    assert list(line) == [
        "test_id",
        "check",
        "level",
        "backend",
        "task",
        "arch",
        "precision",
        "outcome",
        "stage",
        "duration_s",
        "message",
        "repro",
        "metrics",
        "expectation",
    ]
    assert line["precision"] == "fp32" and line["expectation"] is None  # the defaults
    assert len(line["message"]) == schema.MESSAGE_LIMIT
    f.validate([{"type": "result", "run_id": "r", **line}])
    expectation = {"outcome": "fail", "reason": "known", "link": "https://example.invalid/1"}
    line = schema.result_line(**FIELDS, precision="bf16", expectation=expectation)
    assert line["precision"] == "bf16" and line["expectation"] == expectation


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        (
            ".tox/matrix/lib/python3.11/site-packages/conformance/checks/test_parity.py::test_x[a]",
            "checks/test_parity.py::test_x[a]",
        ),
        ("conformance/checks/test_parity.py::test_x[a/b::c]", "checks/test_parity.py::test_x[a/b::c]"),
        ("checks/test_parity.py::test_x[a]", "checks/test_parity.py::test_x[a]"),
        ("tests/test_other.py::test_x", "tests/test_other.py::test_x"),  # not the suite's: as written
    ],
)
def test_result_lines_name_tests_relative_to_the_suite_package(written: str, kept: str) -> None:
    assert schema.result_line(**{**FIELDS, "test_id": written})["test_id"] == kept


@pytest.mark.parametrize(
    ("change", "error", "names"),
    [
        ({"outcome": DROP}, TypeError, "missing required field.*'outcome'"),
        ({"surprise": 1}, TypeError, "unknown field.*'surprise'"),
        ({"outcome": "exploded"}, ValueError, "'outcome': 'exploded'"),
        ({"level": "gold"}, ValueError, "'level': 'gold'"),
        ({"stage": "nowhere"}, ValueError, "'stage': 'nowhere'"),
        ({"check": "Load Local"}, ValueError, "'check': 'Load Local'"),
        ({"duration_s": "fast"}, TypeError, "'duration_s'"),
        ({"run_id": "r"}, TypeError, "unknown field.*'run_id'"),  # the writer adds it
    ],
)
def test_result_line_names_what_is_wrong(change: dict, error: type[Exception], names: str) -> None:
    fields = {key: value for key, value in {**FIELDS, **change}.items() if value is not DROP}
    with pytest.raises(error, match=names):
        schema.result_line(**fields)


def test_missing_fields_are_all_named() -> None:
    with pytest.raises(TypeError, match=r"missing required field\(s\) 'outcome', 'repro'"):
        schema.result_line(**{k: v for k, v in FIELDS.items() if k not in ("outcome", "repro")})


def test_run_and_end_lines() -> None:
    run = schema.run_line(
        run_id="r",
        suite={"version": "0.1.0"},
        backends=[],
        environment={"python": "3.11", "os": "Linux", "packages": {}},
        shard={"id": 0, "count": 1},
        started_at="2026-11-28T10:00:00+00:00",
    )
    assert list(run)[:3] == ["type", "schema_version", "run_id"] and "tasks" not in run and "argv" not in run
    end = schema.end_line(run_id="r", ended_at="2026-11-28T11:00:00+00:00", counts={})
    f.validate(
        [run, end, schema.run_line(**{k: v for k, v in run.items() if k != "type"}, tasks=["fill-mask"])]
    )
    with pytest.raises(ValueError, match="'schema_version': 2"):
        schema.run_line(**{k: v for k, v in run.items() if k != "type"} | {"schema_version": 2})


def test_old_names_stay_importable() -> None:
    from reports.render import pct

    assert (
        model.SCORED is schema.SCORED and model.OUTCOMES is schema.OUTCOMES and model.Result is schema.Result
    )
    assert model.pass_rate is score.pass_rate and pct is score.pct
    assert model.SCHEMA_VERSION == schema.SCHEMA_VERSION
    assert model.PASS_RATE_FORMULA == "passed / (passed + failed + xfailed + xpassed + crashed + timeout)"


def test_the_structural_check_covers_the_optional_tasks(tmp_path: Path) -> None:
    path = f.write(tmp_path / "ok.jsonl", f.run(tasks=["fill-mask"]))
    for bad, why in (('"abc"', "wrong type"), ("[1]", "tasks must be task names")):
        path.write_text(path.read_text().replace('["fill-mask"]', bad))
        with pytest.raises(model.RecordError, match=why):
            load([path])
        path.write_text(path.read_text().replace(bad, '["fill-mask"]'))


# --- the task order of the report ----------------------------------------------------------------


def markdown_header(site: Path) -> str:
    return next(
        line for line in (site / "markdown" / "index.md").read_text().splitlines() if "Backend" in line
    )


def test_run_line_tasks_order_the_task_columns(tmp_path: Path) -> None:
    order = ["text-generation", "text-classification", "feature-extraction"]
    path = f.standard(tmp_path / "a.jsonl", tasks=order)
    record = load([path])
    assert Site(record, "t").tasks == [*order, None]
    render_site(record, tmp_path / "site", markdown=True)
    assert "| text-generation | text-classification | feature-extraction | (no task) |" in markdown_header(
        tmp_path / "site"
    )
    ov = next((tmp_path / "site" / "markdown").glob("reference-ov-*.md")).read_text()
    assert "| Architecture | text-classification | feature-extraction | (no task) |" in ov


def test_a_record_without_tasks_keeps_the_built_in_order(tmp_path: Path) -> None:
    old = load([f.standard(tmp_path / "old.jsonl", run_id="same")])
    assert old.task_order == TASK_ORDER
    assert Site(old, "t").tasks == ["feature-extraction", "text-classification", "text-generation", None]
    # The same record with the built-in order spelled out renders the same pages.
    new = load([f.standard(tmp_path / "new.jsonl", run_id="same", tasks=list(TASK_ORDER))])
    render_site(old, tmp_path / "old", markdown=True)
    render_site(new, tmp_path / "new", markdown=True)
    pages = sorted(p.relative_to(tmp_path / "old") for p in (tmp_path / "old" / "markdown").iterdir())
    assert pages and all(
        (tmp_path / "old" / page).read_bytes() == (tmp_path / "new" / page).read_bytes() for page in pages
    )
    assert "| feature-extraction | text-classification | text-generation | (no task) |" in markdown_header(
        tmp_path / "old"
    )


def test_merged_runs_list_their_tasks_first_then_the_built_in_order(tmp_path: Path) -> None:
    first = f.run(started_at="2026-11-01T10:00:00+00:00", tasks=["fill-mask", "custom-task"]).end()
    second = f.run(started_at="2026-11-02T10:00:00+00:00", tasks=["text-generation", "fill-mask"]).end()
    older = f.run(started_at="2026-10-01T10:00:00+00:00").end()  # from before run lines had tasks
    record = load([f.write(tmp_path / "m.jsonl", second, older, first)])
    rest = tuple(t for t in TASK_ORDER if t not in ("fill-mask", "text-generation"))
    assert record.task_order == ("fill-mask", "custom-task", "text-generation", *rest)
    assert sorted([None, "zzz", "feature-extraction", "custom-task"], key=record.task_key) == [
        "custom-task",
        "feature-extraction",
        "zzz",
        None,
    ]
