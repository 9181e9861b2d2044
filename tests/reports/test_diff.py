"""`diff` and `gate`: regressions first, policies, exit codes 0/1/2, JUnit XML."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from reports.diff import compare, junit_xml
from reports.model import load

from . import factory as f

ROOT = Path(__file__).resolve().parents[2]


def pair(tmp_path: Path, base_results, new_results, new_kwargs=None) -> tuple[Path, Path]:
    """Two records; each *_results is a list of (check, outcome, kwargs)."""
    base = f.run(started_at="2026-11-01T10:00:00+00:00")
    new = f.run(started_at="2026-11-02T10:00:00+00:00", **(new_kwargs or {}))
    for builder, results in ((base, base_results), (new, new_results)):
        for check, outcome, kwargs in results:
            builder.result(check, outcome, **kwargs)
    return f.write(tmp_path / "base.jsonl", base.end()), f.write(tmp_path / "new.jsonl", new.end())


STABLE = [("load.local_dir", "passed", {}), ("load.hub", "failed", {"message": "still broken"})]


def test_diff_prints_regressions_first_then_fixes_new_removed_and_environment(tmp_path: Path, cli) -> None:
    base, new = pair(
        tmp_path,
        [
            *STABLE,
            ("parity.pytorch", "passed", {}),
            ("save.manifest", "failed", {}),
            ("push.manifest", "passed", {}),
        ],
        [
            *STABLE,
            (
                "parity.pytorch",
                "failed",
                {"stage": "parity", "message": "max abs err 3e-3 > atol 1e-4\ntrace"},
            ),
            ("save.manifest", "passed", {}),
            ("gen.greedy", "passed", {"task": "text-generation", "arch": "gpt2"}),
        ],
        {"runtime": {"onnxruntime": "1.23.0"}, "packages": {"torch": "2.13.0", "transformers": "5.0.0"}},
    )
    result = cli("diff", base, new)
    assert result.code == 0
    out = result.out
    order = [
        "REGRESSIONS",
        "FIXES",
        "OTHER OUTCOME CHANGES",
        "NEW TESTS",
        "REMOVED TESTS",
        "ENVIRONMENT CHANGES",
    ]
    positions = [out.index(title) for title in order]
    assert positions == sorted(positions)
    regressions = out[positions[0] : positions[1]]
    assert "test_pytorch" in regressions and "passed → failed" in regressions
    assert "[parity] max abs err 3e-3 > atol 1e-4" in regressions and "trace" not in regressions
    assert "test_save.py::test_manifest" in out[positions[1] : positions[2]]  # fixed
    assert "test_greedy" in out[positions[3] : positions[4]]
    assert (
        "test_push.py::test_manifest" in out[positions[4] : positions[5]]
    )  # removed: listed, not a regression
    env = out[positions[5] :]
    assert "runtime onnxruntime" in env and "1.22.0" in env and "1.23.0" in env
    assert "package transformers" in env and "4.57.6" in env and "5.0.0" in env
    assert "still broken" not in out  # an unchanged failure is not a change


@pytest.mark.parametrize(
    ("before", "after", "level", "core_exit", "strict_exit"),
    [
        ("passed", "passed", "core", 0, 0),
        ("passed", "failed", "core", 1, 1),
        ("passed", "crashed", "core", 1, 1),
        ("passed", "timeout", "core", 1, 1),
        ("xpassed", "failed", "core", 1, 1),
        ("passed", "failed", "strict", 0, 1),  # a strict-level check only counts under --policy strict
        ("passed", "xfailed", "core", 0, 1),  # a new expectation hiding a regression
        ("passed", "unsupported", "core", 0, 1),
        ("passed", "not_run", "core", 0, 0),
        ("passed", "error", "core", 0, 0),
        ("failed", "passed", "core", 0, 0),
        ("failed", "crashed", "core", 0, 0),
    ],
)
def test_gate_policies_and_exit_codes(
    tmp_path: Path, cli, before, after, level, core_exit, strict_exit
) -> None:
    base, new = pair(
        tmp_path,
        [("parity.pytorch", before, {"level": level})],
        [("parity.pytorch", after, {"level": level})],
    )
    core = cli("gate", "--baseline", base, new, "--policy", "core")
    strict = cli("gate", "--baseline", base, new, "--policy", "strict")
    assert (core.code, strict.code) == (core_exit, strict_exit), core.out + strict.out
    assert ("FAILED" in core.out) == bool(core_exit)
    assert "core" in cli("gate", "--baseline", base, new).out  # core is the default policy


def test_a_passing_test_that_disappeared_fails_strict_only(tmp_path: Path, cli) -> None:
    base, new = pair(
        tmp_path, [("load.local_dir", "passed", {}), ("load.hub", "passed", {})], [("load.hub", "passed", {})]
    )
    assert cli("gate", "--baseline", base, new).code == 0
    strict = cli("gate", "--baseline", base, new, "--policy", "strict")
    assert strict.code == 1 and "passed → absent" in strict.out


def test_gate_warns_when_new_record_is_incomplete(tmp_path: Path, cli) -> None:
    base = f.write(tmp_path / "base.jsonl", f.run().result("load.local_dir").end())
    killed = f.write(tmp_path / "new.jsonl", f.run().result("load.local_dir"))
    result = cli("gate", "--baseline", base, killed)
    assert result.code == 0 and "NEW is incomplete" in result.out


@pytest.mark.parametrize("broken", ["missing", "garbage", "empty-suite-conflict"])
def test_gate_exits_2_on_unusable_input(tmp_path: Path, cli, broken: str) -> None:
    base = f.write(tmp_path / "base.jsonl", f.run().result("load.local_dir").end())
    new = tmp_path / "new.jsonl"
    if broken == "garbage":
        new.write_text('{"type": "result"}\n')
    elif broken == "empty-suite-conflict":
        f.write(new, f.run(suite_version="1").end(), f.run(suite_version="2").end())
    result = cli("gate", "--baseline", base, new, "--junit", tmp_path / "j.xml")
    assert result.code == 2 and result.err.startswith("error: ")
    assert not (tmp_path / "j.xml").exists()


def test_junit_marks_regressions_as_failures_and_escapes_everything(tmp_path: Path, cli) -> None:
    hostile = 'boom <script>alert("x")</script> & \x1b[31mred\x1b[0m \x00'
    base, new = pair(
        tmp_path,
        [("parity.pytorch", "passed", {}), ("load.local_dir", "passed", {}), ("gen.greedy", "passed", {})],
        [
            ("parity.pytorch", "failed", {"message": hostile}),
            ("load.local_dir", "passed", {}),
            ("gen.greedy", "not_run", {"message": "slow tier"}),
        ],
    )
    junit = tmp_path / "ci" / "gate.xml"
    result = cli("gate", "--baseline", base, new, "--junit", junit)
    assert result.code == 1
    root = ET.parse(junit).getroot()  # well-formed despite control characters
    assert root.tag == "testsuites" and root.get("failures") == "1" and root.get("tests") == "3"
    cases = {case.get("name"): case for case in root.iter("testcase")}
    failed = next(case for name, case in cases.items() if "test_pytorch" in name)
    failure = failed.find("failure")
    assert failure is not None and "passed → failed" in failure.get("message")
    assert "<script>" in failure.text  # escaped in the file, intact once parsed
    skipped = next(case for name, case in cases.items() if "test_greedy" in name).find("skipped")
    assert skipped is not None and "not_run" in skipped.get("message")
    assert next(case for name, case in cases.items() if "test_local_dir" in name).find("failure") is None


def test_junit_counts_follow_the_policy(tmp_path: Path) -> None:
    base, new = pair(
        tmp_path,
        [("push.manifest", "passed", {"level": "strict"})],
        [("push.manifest", "failed", {"level": "strict"})],
    )
    comparison = compare(load([base]), load([new]))
    assert ET.fromstring(junit_xml(comparison, "core")).get("failures") == "0"
    assert ET.fromstring(junit_xml(comparison, "strict")).get("failures") == "1"


def test_gate_as_a_subprocess(tmp_path: Path) -> None:
    base, new = pair(
        tmp_path, [("load.local_dir", "passed", {})], [("load.local_dir", "crashed", {"message": "SIGSEGV"})]
    )
    done = subprocess.run(
        [sys.executable, "-m", "reports", "gate", "--baseline", str(base), str(new)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "REGRESSIONS [policy core] (1)" in done.stdout


def test_runs_from_a_checkout_and_from_a_wheel_compare_test_by_test(tmp_path: Path) -> None:
    wheel = ".tox/matrix-main/lib/python3.11/site-packages/conformance/checks/test_parity.py::test_parity_pytorch[x]"
    checkout = "conformance/checks/test_parity.py::test_parity_pytorch[x]"
    base = f.write(tmp_path / "base.jsonl", f.run().result(test_id=wheel).end())
    new = f.write(tmp_path / "new.jsonl", f.run().result("parity.pytorch", "failed", test_id=checkout).end())
    comparison = compare(load([base]), load([new]))
    (regression,) = comparison.regressions()
    assert regression.key.test_id == "checks/test_parity.py::test_parity_pytorch[x]"
    assert not comparison.added and not comparison.removed()


def releases(tmp_path: Path, name: str = "releases.jsonl") -> Path:
    """optimum-ort at 1.26.0 then 1.27.0 in one record, beside reference-ort: 1.27.0 breaks
    parity.pytorch on roberta and fixes load.hub; reference-ort's own change is not judged."""
    runs = []
    for day, version in ((1, "1.26.0"), (2, "1.27.0")):
        run = f.run(
            f"r{day}",
            backends=(("optimum-ort", version), ("reference-ort", "0.1.0")),
            started_at=f"2026-11-{day:02d}T10:00:00+00:00",
        )
        run.result("parity.pytorch", backend="optimum-ort")
        run.result("parity.pytorch", "failed" if day == 2 else "passed", backend="optimum-ort", arch="roberta",
                   message="max abs err 0.3")  # fmt: skip
        run.result("load.hub", "passed" if day == 2 else "failed", backend="optimum-ort")
        run.result("load.hub", "failed" if day == 2 else "passed", backend="reference-ort")
        runs.append(run.end())
    return f.write(tmp_path / name, *runs)


def test_gate_judges_two_versions_of_one_backend_from_a_release_matrix(tmp_path: Path, cli) -> None:
    record = releases(tmp_path)
    versions = ("--backend", "optimum-ort", "--old-version", "1.26.0", "--new-version", "1.27.0")
    junit = tmp_path / "gate.xml"
    result = cli("gate", record, record, *versions, "--junit", junit)
    assert result.code == 1, result.out + result.err
    assert result.out.startswith("gate: optimum-ort 1.26.0 -> 1.27.0")
    assert (
        "REGRESSIONS [policy core] (1)" in result.out
        and "test_pytorch[optimum-ort-text-classification-bert]" not in result.out
    )
    assert "FIXES (1)" in result.out and "reference-ort" not in result.out  # the other backend is not judged
    root = ET.parse(junit).getroot()
    assert (root.get("tests"), root.get("failures")) == ("3", "1")
    (failure,) = root.iter("failure")
    assert failure.get("message") == "regression: passed → failed"
    backwards = cli(
        "gate",
        record,
        record,
        "--backend",
        "optimum-ort",
        "--old-version",
        "1.27.0",
        "--new-version",
        "1.26.0",
    )
    regression = backwards.out.split("REGRESSIONS [policy core] (1)\n")[1].splitlines()[0]
    assert backwards.code == 1 and "test_hub[optimum-ort-" in regression and "FIXES (1)" in backwards.out


def test_gate_old_new_takes_two_records_of_one_backend(tmp_path: Path, cli) -> None:
    old = f.write(
        tmp_path / "old.jsonl", f.run(backends=(("optimum-ort", "1.26.0"),)).result("load.hub").end()
    )
    new = f.write(
        tmp_path / "new.jsonl",
        f.run(backends=(("optimum-ort", "1.27.0"),)).result("load.hub", "crashed").end(),
    )
    result = cli("gate", old, new, "--backend", "optimum-ort")
    assert result.code == 1 and result.out.startswith("gate: optimum-ort 1.26.0 -> 1.27.0")
    assert cli("gate", old, new).code == 1  # whole records, as --baseline OLD NEW
    assert cli("gate", new, old).code == 0


def test_gate_on_versions_matches_two_release_environments_by_test(tmp_path: Path, cli) -> None:
    # The release matrix runs each release in an env of its own (tox -e peers-oo0.0.3, then main).
    old = f.write(
        tmp_path / "old.jsonl",
        f.run(env="peers-oo0.0.3", backends=(("optimum-ort", "0.0.3"),)).result("load.hub").end(),
    )
    new = f.write(
        tmp_path / "new.jsonl",
        f.run(env="main", backends=(("optimum-ort", "0.1.0"),)).result("load.hub", "failed").end(),
    )
    result = cli("gate", old, new, "--backend", "optimum-ort")
    assert result.code == 1, result.out
    assert "REGRESSIONS [policy core] (1)" in result.out and "NEW TESTS (0)" in result.out
    assert "peers-oo0.0.3 → main · optimum-ort" in result.out and "unnamed env" not in result.out
    assert cli("gate", new, old, "--backend", "optimum-ort").code == 0


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (("--backend", "optimum-ort"), "at versions 1.26.0, 1.27.0: choose one"),
        (
            ("--backend", "optimum-ort", "--old-version", "9.9", "--new-version", "1.27.0"),
            "no results of optimum-ort at version 9.9",
        ),
        (("--old-version", "1.26.0"), "need --backend"),
    ],
)
def test_gate_on_versions_says_what_is_missing(tmp_path: Path, cli, args: tuple[str, ...], why: str) -> None:
    record = releases(tmp_path)
    result = cli("gate", record, record, *args)
    assert result.code == 2 and why in result.err, result.err
