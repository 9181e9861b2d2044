"""The suite's pytest plugin, end to end with pytester: each run is a real `pytest --pyargs conformance`."""

from __future__ import annotations

import getpass
import importlib.metadata
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ONE_MODEL = ("--arch", "bert", "--task", "text-classification", "--export-cache", "none")


@pytest.fixture(autouse=True)
def importable_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the broken backends live in tests/meta/broken.py
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, list[dict]]:
    record = pytester.path / "record.jsonl"
    result = pytester.runpytest_subprocess(
        "--pyargs", "conformance", "-p", "no:cacheprovider", "--results", str(record), *args
    )
    lines = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
    return result, lines


def results(lines: list[dict]) -> dict[str, dict]:
    return {line["test_id"].split("::")[-1]: line for line in lines if line["type"] == "result"}


def validate(lines: list[dict]) -> None:
    import jsonschema

    schema = json.loads((ROOT / "reports" / "schema.json").read_text())
    for line in lines:
        jsonschema.validate(line, schema)


def test_unknown_backend_is_one_clear_line(pytester: pytest.Pytester) -> None:
    result, _ = run(pytester, "--backend", "no-such-backend")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert errors == [f"ERROR: unknown backend 'no-such-backend': {errors[0].split(': ', 2)[-1]}"]
    assert "Traceback" not in result.stderr.str()


def test_backend_with_missing_package_is_one_clear_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        specs="""
        from conformance.spec import BackendSpec
        MISSING = BackendSpec(name="missing", classes={"text-classification": "no_such_runtime.models:Model"},
                              distribution="no-such-runtime")
        """
    )
    result, _ = run(pytester, "--backend", "specs:MISSING")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "needs no_such_runtime.models" in result.stderr.str()
    assert "install no-such-runtime" in result.stderr.str()
    assert "Traceback" not in result.stderr.str()


def test_markers_and_ids(pytester: pytest.Pytester) -> None:
    result, _ = run(
        pytester, "--backend", "reference-ort", *ONE_MODEL, "--collect-only", "-q", "-m", "parity and strict"
    )
    ids = [line for line in result.outlines if "::" in line]
    assert ids and all(
        "test_parity_" in i and i.endswith("[reference-ort-text-classification-bert]") for i in ids
    )
    assert {i.split("::")[-1].split("[")[0] for i in ids} == {
        "test_parity_return_dict_false",
        "test_parity_input_dtypes",
        "test_parity_determinism",
    }
    result, _ = run(
        pytester,
        "--backend",
        "reference-ort",
        *ONE_MODEL,
        "--collect-only",
        "-q",
        "-m",
        "backend_reference_ort and save",
    )
    # 11: save.no_token and save.preprocessors_behave joined the save family
    assert len([line for line in result.outlines if "test_save_" in line]) == 11


def broken_spec_expecting(pytester: pytest.Pytester) -> None:
    """`specs:SPEC`: tests.meta.broken's BROKEN_EXTRAFILE with the expectations file expect.toml."""
    pytester.makepyfile(
        specs=f"""
        import dataclasses
        from tests.meta.broken import BROKEN_EXTRAFILE
        SPEC = dataclasses.replace(BROKEN_EXTRAFILE, expectations={str(pytester.path / "expect.toml")!r})
        """
    )


def test_expectations_xfail_xpass_and_stale(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".toml",
        expect="""
        [[expect]]
        test = "test_save_manifest[broken-extra-file-*]"
        reason = "leaves a .bak file"
        link = "https://example.invalid/issue/1"

        [[expect]]
        test = "test_save_reload_equal[broken-extra-file-*]"
        reason = "wrongly expected to fail"
        link = "https://example.invalid/issue/2"

        [[expect]]
        test = "test_nothing_like_this*"
        reason = "stale"
        link = "https://example.invalid/issue/3"
        """,
    )
    broken_spec_expecting(pytester)
    result, lines = run(
        pytester, "--backend", "specs:SPEC", *ONE_MODEL, "-k", "save_manifest or save_reload_equal"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    outcomes = {name.split("[")[0]: r for name, r in results(lines).items()}
    assert outcomes["test_save_manifest"]["outcome"] == "xfailed"
    assert outcomes["test_save_manifest"]["expectation"]["link"] == "https://example.invalid/issue/1"
    assert outcomes["test_save_reload_equal"]["outcome"] == "xpassed"
    assert "STALE EXPECTATION" in result.stdout.str() and "test_nothing_like_this*" in result.stdout.str()
    validate(lines)
    assert lines[-1]["type"] == "end" and lines[-1]["exit_status"] == 1


def test_expectations_of_other_releases_neither_xfail_nor_go_stale(pytester: pytest.Pytester) -> None:
    installed = importlib.metadata.version("pytest")  # a real distribution, in every environment
    pytester.makefile(
        ".toml",
        expect=f"""
        [[expect]]
        test = "test_save_manifest[broken-extra-file-*]"
        reason = "leaves a .bak file"
        link = "https://example.invalid/issue/1"
        versions = "pytest=={installed}"

        [[expect]]
        test = "test_save_reload_equal[broken-extra-file-*]"
        reason = "fails in another release (it would xpass here)"
        link = "https://example.invalid/issue/2"
        versions = "pytest!={installed}"

        [[expect]]
        test = "test_nothing_like_this*"
        reason = "a test of a distribution not installed (it would be stale here)"
        link = "https://example.invalid/issue/3"
        versions = ["pytest", "optimum-conformance-no-such-distribution"]
        """,
    )
    broken_spec_expecting(pytester)
    result, lines = run(
        pytester, "--backend", "specs:SPEC", *ONE_MODEL, "-k", "save_manifest or save_reload_equal"
    )
    outcomes = {name.split("[")[0]: r["outcome"] for name, r in results(lines).items()}
    assert outcomes == {"test_save_manifest": "xfailed", "test_save_reload_equal": "passed"}
    assert "STALE EXPECTATION" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.OK


def test_expectations_for_checks_another_selection_collects_are_not_stale(pytester: pytest.Pytester) -> None:
    # The run selects bert: the roberta entry names a check a wider run collects (as a sampled
    # clause's other models, or a full run's other architectures), the other entry a model the zoo lacks.
    pytester.makefile(
        ".toml",
        expect="""
        [[expect]]
        test = "test_save_manifest[broken-extra-file-text-classification-roberta]"
        reason = "leaves a .bak file"
        link = "https://example.invalid/issue/1"

        [[expect]]
        test = "test_save_manifest[broken-extra-file-text-classification-no-such-arch]"
        reason = "a model the zoo does not have"
        link = "https://example.invalid/issue/2"
        """,
    )
    broken_spec_expecting(pytester)
    result, _ = run(pytester, "--backend", "specs:SPEC", *ONE_MODEL, "-k", "save_manifest", "--collect-only")
    stale = [line for line in result.outlines if line.startswith("STALE EXPECTATION")]
    assert len(stale) == 1 and "no-such-arch" in stale[0], stale


@pytest.mark.slow  # 40-45 s: workers crash and are replaced
def test_crash_and_timeout_are_recorded_and_the_run_goes_on(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))  # the controller's and the workers', the dead one's too
    result, lines = run(
        pytester,
        "--backend",
        "tests.meta.broken:CRASHING",
        "--backend",
        "tests.meta.broken:HANGING",
        *ONE_MODEL,
        "-n",
        "1",
        "--check-timeout",
        "20",
        "-k",
        "dynamic_shapes or determinism or call_is_forward",
    )
    by_id = results(lines)
    crashed = by_id["test_parity_dynamic_shapes[broken-aborts-on-batch3-text-classification-bert]"]
    assert crashed["outcome"] == "crashed" and crashed["check"] == "parity.dynamic_shapes"
    assert (
        by_id["test_parity_dynamic_shapes[broken-hangs-on-batch3-text-classification-bert]"]["outcome"]
        == "timeout"
    )
    others = [r for name, r in by_id.items() if "dynamic_shapes" not in name]
    assert len(others) == 4 and all(r["outcome"] == "passed" for r in others)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    validate(lines)
    # A worker killed by a signal runs no cleanup: its scratch folder lived in the controller's.
    assert sorted(p.name for p in temp.iterdir() if p.name.startswith("conformance-")) == []


@pytest.mark.slow  # 40-45 s: workers crash and are replaced
def test_two_workers_crashing_together_are_both_replaced_and_the_run_goes_on(
    pytester: pytest.Pytester,
) -> None:
    """Both workers die within a second: while the first replacement collects, the second joins.
    xdist's scheduler then gave work to the one still collecting (INTERNALERROR: KeyError)."""
    result, lines = run(
        pytester,
        "--backend",
        "tests.meta.broken:CRASHING",
        "--arch",
        "bert",
        *("--task", "text-classification", "--task", "token-classification"),
        # four groups on two workers: two are still queued when the first replacement joins
        *("--task", "question-answering", "--task", "fill-mask"),
        "--export-cache",
        "none",
        "-n",
        "2",
        "--dist",
        "loadgroup",
        "-k",
        "dynamic_shapes or call_is_forward",
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    outcomes = [(name.split("[")[0], r["outcome"]) for name, r in results(lines).items()]
    crashed = [name for name, outcome in outcomes if outcome == "crashed"]
    assert ("test_load_call_is_forward", "passed") in outcomes
    assert crashed == ["test_parity_dynamic_shapes"] * 4
    validate(lines)


def test_unsupported_and_not_run_are_not_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        specs="""
        import dataclasses
        from conformance.backends.reference import REFERENCE_ORT
        SPEC = dataclasses.replace(REFERENCE_ORT, name="partial", unsupported={"save.*": "no save here"},
                                   runtime_probe=None)
        """
    )
    result, lines = run(
        pytester, "--backend", "specs:SPEC", *ONE_MODEL, "-k", "save_manifest or backend_kwargs"
    )
    by_id = results(lines)
    manifest = by_id["test_save_manifest[partial-text-classification-bert]"]
    assert (manifest["outcome"], manifest["message"]) == ("unsupported", "no save here")
    probe = by_id["test_load_backend_kwargs_reach_runtime[partial-text-classification-bert]"]
    assert probe["outcome"] == "not_run" and "runtime probe" in probe["message"]
    assert result.ret == pytest.ExitCode.OK
    validate(lines)
    assert lines[0]["type"] == "run" and lines[0]["backends"][0]["name"] == "partial"


def test_recorded_ids_are_relative_to_the_suite_and_repro_commands_work_anywhere(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """An installed suite sits deep below the rootdir (`.tox/<env>/lib/.../site-packages/conformance`):
    its node ids carry that path. The record keeps them relative to the suite package, and the repro
    command reruns exactly that test from another folder."""
    pytester.makepyfile(
        specs="""
        import dataclasses
        from conformance.backends.reference import REFERENCE_ORT
        SPEC = dataclasses.replace(REFERENCE_ORT, name="partial", unsupported={"save.*": "no save here"})
        """
    )
    _, lines = run(
        pytester, "--backend", "specs:SPEC", *ONE_MODEL, "-k", "save_manifest", "--rootdir", str(ROOT.parent)
    )
    (line,) = [line for line in lines if line["type"] == "result"]
    assert line["test_id"] == "checks/test_roundtrip.py::test_save_manifest[partial-text-classification-bert]"
    declared = {clause["id"]: clause for clause in lines[0]["clauses"]}  # the catalogue, for the report
    assert declared["save.manifest"]["level"] == "core" and declared["save.manifest"]["doc"]
    assert len(declared) > 100
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "specs.py").write_text((pytester.path / "specs.py").read_text())
    command = shlex.split(line["repro"])
    assert command[:3] == ["pytest", "--pyargs", "conformance"]
    done = subprocess.run(
        [sys.executable, "-m", *command, "-p", "no:cacheprovider", "--collect-only", "-q"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{elsewhere}"},
    )
    collected = [row for row in done.stdout.splitlines() if "::" in row]
    assert collected == [line["test_id"]], done.stdout + done.stderr


def test_sigkill_leaves_a_valid_record(tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "--pyargs",
            "conformance",
            "-p",
            "no:cacheprovider",
            "-q",
            "--backend",
            "reference-ort",
            "--results",
            str(record),
            "--task",
            "text-classification",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if record.exists() and sum(1 for _ in record.open()) >= 6:
            break
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert lines[0]["type"] == "run" and len(lines) >= 6
    assert all(line["type"] != "end" for line in lines)
    validate(lines)


def test_cli_run_prints_a_summary(tmp_path: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "conformance.cli",
            "run",
            "reference-ort",
            "-n",
            "0",
            "--results",
            str(tmp_path / "r.jsonl"),
            "--",
            *ONE_MODEL,
            "-k",
            "call_is_forward or determinism",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "reference-ort: core 100 % (1/1)  strict 100 % (2/2)  [2 passed]" in completed.stdout


def test_a_run_leaves_nothing_in_the_temp_folder(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    # the run's processes (the controller and two workers) put their temp files here
    monkeypatch.setenv("TMPDIR", str(temp))
    selection = ("-n", "2", "-k", "save_reload_equal or determinism")
    result, lines = run(pytester, "--backend", "reference-ort", *ONE_MODEL, *selection)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-2000:]
    assert {line["outcome"] for line in results(lines).values()} == {"passed"}
    # What the runtimes write once per temp folder, not per run (so not the suite's to remove):
    # onnxruntime's session id file and torch inductor's compile cache.
    runtimes_own = {".ses", f"torchinductor_{getpass.getuser()}"}
    assert sorted(p.name for p in temp.iterdir() if p.name not in runtimes_own) == []
