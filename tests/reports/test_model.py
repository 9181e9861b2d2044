"""Loading, validating, merging and scoring run records (reports.model)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from reports import model
from reports.model import (
    MergeConflict,
    RecordError,
    Tally,
    ValidationUnavailable,
    build_rows,
    load,
    pass_rate,
)

from . import factory as f


def test_pass_rate_formula_excludes_not_run_error_and_unsupported() -> None:
    counts = {"passed": 6, "failed": 1, "xfailed": 1, "xpassed": 1, "crashed": 1, "timeout": 0}
    assert pass_rate(counts) == pytest.approx(6 / 10)
    assert pass_rate({**counts, "not_run": 50, "error": 7, "unsupported": 9}) == pytest.approx(6 / 10)
    # Nothing scored is "no data" (None), never 0 %.
    assert pass_rate({"not_run": 3, "error": 1, "unsupported": 2}) is None
    assert pass_rate({}) is None


def test_rows_and_core_strict_scores(tmp_path: Path) -> None:
    record = load([f.standard(tmp_path / "a.jsonl")])
    rows = {row.key.backend: row for row in build_rows(record)}
    assert set(rows) == {"reference-ort", "reference-ov"}
    ov = Tally().extend(r for r, _ in rows["reference-ov"].results.values())
    assert ov.all["unsupported"] == 1 and ov.all["failed"] == 1
    assert ov.rate("core") == 1.0  # the failure is a strict-level check
    assert ov.rate("strict") == pytest.approx(7 / 8)  # unsupported is not in the denominator
    ort = Tally().extend(r for r, _ in rows["reference-ort"].results.values())
    assert ort.all["not_run"] == 1 and ort.rate("strict") == 1.0
    assert rows["reference-ort"].key.version == "0.1.0" and rows["reference-ort"].key.env == "main"
    assert record.warnings == []


def test_killed_run_keeps_its_results(tmp_path: Path) -> None:
    killed = f.run().result("load.local_dir").result("parity.pytorch", "crashed", message="SIGSEGV")
    record = load([f.write(tmp_path / "killed.jsonl", killed)])  # no end line
    run = record.runs[killed.run_id]
    assert not run.complete and len(run.results) == 2
    assert any("no `end`" in w and "killed" in w for w in record.warnings)


def test_last_line_cut_short_by_a_kill_is_dropped_with_a_warning(tmp_path: Path) -> None:
    path = f.write(tmp_path / "cut.jsonl", f.run().result("load.local_dir").result("load.hub"))
    text = path.read_text()
    path.write_text(text[: len(text) - 40])  # the last result line loses its end, no newline
    record = load([path])
    assert record.result_count == 1
    assert any("cut short" in w for w in record.warnings)


def test_a_bad_line_in_the_middle_is_an_error_with_its_location(tmp_path: Path) -> None:
    path = f.write(tmp_path / "bad.jsonl", f.run().result("load.local_dir").end())
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "{not json", *lines[1:]]) + "\n")
    with pytest.raises(RecordError, match=r"bad\.jsonl:2: not JSON"):
        load([path])


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("outcome", "exploded", "unknown outcome"),
        ("level", "gold", "unknown level"),
        ("duration_s", "fast", "wrong type"),
        ("metrics", [1], "wrong type"),
    ],
)
def test_structural_check_always_runs(tmp_path: Path, field: str, value: object, why: str) -> None:
    builder = f.run().result("load.local_dir")
    path = f.write(tmp_path / "ok.jsonl", builder)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    lines[1][field] = value
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))  # deliberately invalid
    with pytest.raises(RecordError, match=why):
        load([path])


def test_full_validation_names_the_offending_field(tmp_path: Path) -> None:
    path = f.write(tmp_path / "ok.jsonl", f.run().result("load.local_dir"))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    lines[1]["check"] = "Load Local"  # passes the structural check, not the schema's pattern
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert load([path]).result_count == 1
    with pytest.raises(RecordError, match=r"ok\.jsonl:2: .*check.*does not match"):
        load([path], validate=True)
    assert len(model.validate_file(path)) == 1


def test_validation_without_jsonschema_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = f.write(tmp_path / "ok.jsonl", f.run().result("load.local_dir").end())
    monkeypatch.setitem(sys.modules, "jsonschema", None)  # import jsonschema now fails
    model._validators.cache_clear()
    try:
        with pytest.raises(
            ValidationUnavailable, match=r"needs the jsonschema package: pip install jsonschema"
        ):
            load([path], validate=True)
        assert load([path]).result_count == 1  # the structural check still works without it
    finally:
        model._validators.cache_clear()


def test_results_without_a_run_line_are_refused(tmp_path: Path) -> None:
    builder = f.run().result("load.local_dir")
    path = f.write(tmp_path / "orphan.jsonl", *builder.results)
    with pytest.raises(RecordError, match="no `run` line"):
        load([path])


def test_newer_schema_version_is_refused(tmp_path: Path) -> None:
    builder = f.run()
    path = f.write(tmp_path / "v1.jsonl", builder)
    path.write_text(path.read_text().replace('"schema_version": 1', '"schema_version": 2'))
    with pytest.raises(RecordError, match="schema_version 2"):
        load([path])


def test_same_test_twice_in_one_run_with_different_results_conflicts(tmp_path: Path) -> None:
    builder = f.run().result("load.local_dir").result("load.local_dir", "failed")
    with pytest.raises(MergeConflict, match=r"conflict: test .*load.* two different results.*passed.*failed"):
        load([f.write(tmp_path / "twice.jsonl", builder)])


def test_a_later_run_replaces_an_earlier_result_in_its_row(tmp_path: Path) -> None:
    old = f.run(started_at="2026-11-01T10:00:00+00:00").result("load.local_dir", "failed").end()
    new = f.run(started_at="2026-11-02T10:00:00+00:00").result("load.local_dir").end()
    record = load([f.write(tmp_path / "two.jsonl", new, old)])  # file order does not matter
    (row,) = build_rows(record)
    ((result, run),) = row.results.values()
    assert result.outcome == "passed" and run.run_id == new.run_id and row.superseded == 1


def test_missing_shards_are_found_per_environment(tmp_path: Path) -> None:
    shard0 = f.run(shard=(0, 3)).result("load.local_dir").end()
    shard2 = f.run(shard=(2, 3)).result("load.hub").end()
    other = f.run(env="ipex", shard=(0, 1)).result("load.hub").end()
    record = load([f.write(tmp_path / "s0.jsonl", shard0), f.write(tmp_path / "s2.jsonl", shard2, other)])
    assert list(record.missing_shards().values()) == [[1]]
    assert any("shard(s) 1 of 3 missing" in w for w in record.warnings)
    rows = {row.key.env: row for row in build_rows(record)}
    assert rows["main"].missing_shards == ["1 of 3"] and rows["ipex"].missing_shards == []
