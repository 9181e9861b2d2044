"""`merge`: shards and environments into one record, refusing conflicts (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from reports.model import load

from . import factory as f

ROOT = Path(__file__).resolve().parents[2]


def lines_of(path: Path) -> list[dict]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    f.validate(lines)  # every record the tests write, merged ones included, matches the schema
    return lines


def test_merges_shards_and_environments(tmp_path: Path, cli) -> None:
    shard0 = f.run(shard=(0, 2)).result("load.local_dir").end()
    shard1 = f.run(shard=(1, 2), started_at="2026-11-28T10:00:05+00:00").result("load.hub").end()
    ipex = f.run(env="ipex", backends=(("reference-ipex", "0.1.0"),)).result("parity.pytorch", "failed").end()
    paths = [
        f.write(tmp_path / n, r)
        for n, r in (("s0.jsonl", shard0), ("s1.jsonl", shard1), ("ipex.jsonl", ipex))
    ]
    out = tmp_path / "out" / "merged.jsonl"
    result = cli("merge", *paths, "-o", out)
    assert result.code == 0, result.err
    assert "merged 3 run(s), 3 results" in result.out
    lines = lines_of(out)
    assert [line["type"] for line in lines].count("run") == 3
    # Each run's lines stay together: run, its results, its end.
    for run in (shard0, shard1, ipex):
        own = [i for i, line in enumerate(lines) if line["run_id"] == run.run_id]
        assert own == list(range(own[0], own[0] + 3)) and lines[own[0]]["type"] == "run"
    merged = load([out])
    assert merged.result_count == 3 and merged.warnings == []
    # Merging the merged record again with one of its inputs changes nothing.
    again = tmp_path / "again.jsonl"
    assert cli("merge", out, paths[0], "-o", again).code == 0
    assert again.read_text() == out.read_text()


def test_same_test_with_different_results_in_one_run_is_refused(tmp_path: Path, cli) -> None:
    first = f.run("r1").result("load.local_dir").end()
    second = f.run("r1").result("load.local_dir", "failed", message="boom").end()
    a, b = f.write(tmp_path / "a.jsonl", first), f.write(tmp_path / "b.jsonl", second)
    out = tmp_path / "merged.jsonl"
    result = cli("merge", a, b, "-o", out)
    assert result.code == 2
    assert "conflict" in result.err and "test_local_dir" in result.err and "a.jsonl" in result.err
    assert not out.exists()


def test_mismatched_suite_versions_are_refused(tmp_path: Path, cli) -> None:
    old = f.write(tmp_path / "old.jsonl", f.run(suite_version="0.1.0").result("load.local_dir").end())
    new = f.write(tmp_path / "new.jsonl", f.run(suite_version="0.2.0").result("load.local_dir").end())
    result = cli("merge", old, new, "-o", tmp_path / "m.jsonl")
    assert result.code == 2 and "mismatched suite versions" in result.err
    assert "0.1.0" in result.err and "0.2.0" in result.err


def test_shards_sharing_a_run_id_merge_and_conflicting_headers_do_not(tmp_path: Path, cli) -> None:
    a = f.run("ci-42", shard=(0, 2)).result("load.local_dir").end()
    b = f.run("ci-42", shard=(1, 2)).result("load.hub").end()
    out = tmp_path / "m.jsonl"
    assert (
        cli("merge", f.write(tmp_path / "a.jsonl", a), f.write(tmp_path / "b.jsonl", b), "-o", out).code == 0
    )
    run = load([out]).runs["ci-42"]
    assert run.shard_ids == [0, 1] and len(run.results) == 2 and run.complete
    expected = ["run", "run", "result", "result", "end", "end"]
    assert [line["type"] for line in lines_of(out)] == expected
    clash = f.run("ci-42", shard=(0, 2), started_at="2026-11-29T00:00:00+00:00").end()
    result = cli("merge", out, f.write(tmp_path / "clash.jsonl", clash), "-o", tmp_path / "x.jsonl")
    assert result.code == 2 and "two different `run` lines for shard 0" in result.err


def test_missing_shard_is_reported_not_refused(tmp_path: Path, cli) -> None:
    s0 = f.write(tmp_path / "s0.jsonl", f.run(shard=(0, 3)).result("load.local_dir").end())
    s2 = f.write(tmp_path / "s2.jsonl", f.run(shard=(2, 3)).result("load.hub").end())
    out = tmp_path / "m.jsonl"
    result = cli("merge", s0, s2, "-o", out, "--expect-shards", "3")
    assert result.code == 0
    assert "shard(s) 1 of 3 missing" in result.err
    assert len(lines_of(out)) == 6 and load([out]).missing_shards()


def test_wrong_shard_count_is_refused(tmp_path: Path, cli) -> None:
    s0 = f.write(tmp_path / "s0.jsonl", f.run(shard=(0, 3)).result("load.local_dir").end())
    result = cli("merge", s0, "-o", tmp_path / "m.jsonl", "--expect-shards", "2")
    assert result.code == 2 and "expected 2 shards" in result.err


def test_killed_shard_sharing_a_run_id_stays_killed_after_merge(tmp_path: Path, cli) -> None:
    done = f.run("ci-7", shard=(1, 2)).result("load.hub").end()
    killed = f.run("ci-7", shard=(0, 2)).result("load.local_dir")
    out = tmp_path / "m.jsonl"
    assert (
        cli(
            "merge", f.write(tmp_path / "a.jsonl", killed), f.write(tmp_path / "b.jsonl", done), "-o", out
        ).code
        == 0
    )
    for record in (load([out]), load([tmp_path / "a.jsonl", tmp_path / "b.jsonl"])):
        run = record.runs["ci-7"]
        assert list(run.ends) == [1] and not run.complete and len(run.results) == 2


def test_killed_run_merges_without_end_line(tmp_path: Path, cli) -> None:
    killed = f.run().result("load.local_dir").result("parity.pytorch", "crashed", message="worker died")
    out = tmp_path / "m.jsonl"
    result = cli("merge", f.write(tmp_path / "k.jsonl", killed), "-o", out)
    assert result.code == 0 and "killed" in result.err
    assert [line["type"] for line in lines_of(out)] == ["run", "result", "result"]


def test_unusable_input_exits_2(tmp_path: Path, cli) -> None:
    assert cli("merge", tmp_path / "absent.jsonl", "-o", tmp_path / "m.jsonl").code == 2
    (tmp_path / "junk.jsonl").write_text("hello\n")
    result = cli("merge", tmp_path / "junk.jsonl", "-o", tmp_path / "m.jsonl")
    assert result.code == 2 and "junk.jsonl:1: not JSON" in result.err


def test_python_m_reports_runs_standalone(tmp_path: Path) -> None:
    src = f.standard(tmp_path / "a.jsonl")
    out = tmp_path / "m.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "reports", "merge", str(src), "-o", str(out), "--validate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert len(lines_of(out)) == len(lines_of(src)) and load([out]).result_count == load([src]).result_count
