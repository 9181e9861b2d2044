"""The reference backends pass every gen.* clause on every causal-LM zoo architecture: greedy, beam,
sampling, cache, inputs, lengths, round trip, state and pipeline, against transformers' own
generate(). ONNX Runtime and OpenVINO run in the main set (transformers 4.57) and the latest set
(5.x, where generate() passes the cache as `cache=`); IPEX in the ipex set (`-k ipex`)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import catalogue
from tests.meta.runner import honest_offline_not_run

# Left to CI by the quick run (tox -e quick): every gen clause on every causal-LM arch: ~2 min.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
# Where a clause cannot apply to a backend, the reason it must give (anything else not run fails).
NOT_APPLICABLE = {
    ("reference-ort", "gen.stateful_equals_stateless"): "has no stateful option",
    ("reference-ipex", "gen.stateful_equals_stateless"): "has no stateful option",
}
RUNS = [["reference-ort", "reference-ov"]]
if importlib.util.find_spec("intel_extension_for_pytorch") is not None:
    RUNS.append(["reference-ipex"])


@pytest.fixture(scope="module", params=RUNS, ids="-".join)
def backends(request: pytest.FixtureRequest) -> list[str]:
    return request.param


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, backends: list[str]) -> Path:
    return tmp_path_factory.mktemp("gen")


@pytest.fixture(scope="module")
def results(run_dir: Path, backends: list[str]) -> list[dict]:
    tmp = run_dir
    command = [sys.executable, "-m", "conformance.cli", "run", *backends, "--results", str(tmp / "gen.jsonl"),
               "--", "--export-cache", str(tmp / "cache"), "--task", "text-generation", "-m", "gen"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True, timeout=3000)
    record = tmp / "gen.jsonl"
    assert record.is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    return [line for line in map(json.loads, record.read_text().splitlines()) if line["type"] == "result"]


def test_every_gen_clause_passes_on_every_causal_lm(results: list[dict], backends: list[str]) -> None:
    from conformance.families.causal_lm import CAUSAL_LM

    declared = {c.id for c in catalogue.clauses().values() if c.family == "gen"}
    assert len(declared) >= 15
    assert {r["check"] for r in results} == declared
    archs = {r["arch"] for r in results if r["check"] == "gen.greedy"}
    assert archs == {arch.name for arch in CAUSAL_LM.archs}
    wrong = [
        (r["test_id"], r["outcome"], r["message"][:300])
        for r in results
        if r["outcome"] != "passed"
        and not honest_offline_not_run(r)
        and not (
            r["outcome"] == "not_run" and NOT_APPLICABLE.get((r["backend"], r["check"]), "?") in r["message"]
        )
    ]
    assert not wrong
    assert {r["backend"] for r in results} == set(backends)


def test_the_stateless_form_is_exported_once_per_case(
    results: list[dict], run_dir: Path, backends: list[str]
) -> None:
    """The clauses that read the cache forward returns (gen.returned_cache, gen.past_shape_dynamic,
    gen.position_ids_default) judge a stateful backend's stateless form: exported once per case and
    cached like the plain export, not once per check."""
    no_option = {b for b, check in NOT_APPLICABLE if check == "gen.stateful_equals_stateless"}
    stateful_backends = set(backends) - no_option
    if not stateful_backends:
        pytest.skip(f"no backend of this run has a stateful option ({', '.join(backends)})")
    for backend in stateful_backends:
        archs = {r["arch"] for r in results if r["backend"] == backend and r["check"] == "gen.returned_cache"}
        folders = sorted(
            p.name for p in (run_dir / "cache").glob(f"{backend}-text-generation-*-stateful=False-*")
        )
        assert len(folders) == len(archs) >= 1, folders
