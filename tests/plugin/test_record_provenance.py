"""A run record names the suite's commit, from an editable checkout and from a built wheel alike:
the report's merge guard (one commit per merged site) depends on it. Its lines are built by
reports.schema, so they pass the published schema."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import conformance
from conformance.record import RecordWriter, git_sha

ROOT = Path(__file__).resolve().parents[2]


def head() -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def installed_as_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """conformance as pip installs a wheel: in site-packages, far from any .git."""
    monkeypatch.setattr(
        conformance, "__file__", str(tmp_path / "site-packages" / "conformance" / "__init__.py")
    )
    monkeypatch.delenv("OPTIMUM_CONFORMANCE_SOURCE", raising=False)


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not run: this checkout has no .git")
def test_the_record_names_the_commit_of_this_checkout() -> None:
    assert git_sha() == head()  # editable install, or a tox wheel with OPTIMUM_CONFORMANCE_SOURCE


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not run: this checkout has no .git")
def test_a_wheel_names_the_checkout_tox_built_it_from(
    installed_as_wheel, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert git_sha() is None
    monkeypatch.setenv("OPTIMUM_CONFORMANCE_SOURCE", str(ROOT))
    assert git_sha() == head()


def test_a_source_that_is_not_the_suite_is_ignored(installed_as_wheel, tmp_path, monkeypatch) -> None:
    other = tmp_path / "someone-elses-backend"
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    monkeypatch.setenv("OPTIMUM_CONFORMANCE_SOURCE", str(other))
    assert git_sha() is None


def test_the_writer_builds_its_lines_from_the_schema(tmp_path: Path) -> None:
    """The run line carries the suite's task order; every line passes the full schema and loads."""
    from reports.model import load
    from reports.schema import result_line

    writer = RecordWriter(tmp_path / "record.jsonl")
    writer.run(
        [{"name": "b", "version": None}], (0, 1), ["pytest", "--hub-token=secret"], tasks=("fill-mask",)
    )
    line = result_line(
        test_id="checks/test_load.py::test_local_dir[b-fill-mask-bert]",
        check="load.local_dir",
        level="core",
        backend="b",
        task="fill-mask",
        arch="bert",
        outcome="passed",
        stage=None,
        duration_s=0.1,
        message="",
        repro="pytest --pyargs conformance --backend b -k test_local_dir",
        metrics={},
    )
    writer.result(line)
    with pytest.raises(ValueError, match="result_line"):
        writer.result({"type": "result", **line})
    writer.end(0)
    record = load([writer.path], validate=True)
    (run,) = record.runs.values()
    assert run.header["tasks"] == ["fill-mask"] and run.header["argv"] == ["pytest", "--hub-token=***"]
    assert run.complete and record.result_count == 1 and record.task_order[0] == "fill-mask"
    assert "secret" not in writer.path.read_text()


def test_without_tasks_the_run_line_has_none(tmp_path: Path) -> None:
    writer = RecordWriter(tmp_path / "record.jsonl")
    writer.run([], (0, 1), [])
    writer.end(None)
    assert "tasks" not in json.loads(writer.path.read_text().splitlines()[0])
