"""Meta-tests: the suite catches each deliberately broken backend, at the right clause.

Runs of the real suite (`pytest --pyargs conformance`, xdist workers) over every defect of
`tests/meta/defects/` plus a reference backend as control, one run per `Defect.run`; then, per
defect, the target clause must fail and nothing outside its declared collateral may fail.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.meta import runner
from tests.meta.defects import all_defects
from tests.meta.runner import by_backend, honest_offline_not_run, undeclared_tier

# Left to CI by the quick run (tox -e quick): every defect through the suite: ~15 min.
pytestmark = pytest.mark.slow

FAILING = {"failed", "crashed", "timeout", "error", "xpassed"}
DEFECTS = all_defects()
ORT_DEFECTS = [d for d in DEFECTS if d.run != "precision"]
PRECISION_DEFECTS = [d for d in DEFECTS if d.run == "precision"]


def selectors(run: str, control: str = "reference-ort") -> list[str]:
    """The control backend and the selectors of every defect of meta run `run`."""
    return [control] + [d.selector for d in DEFECTS if d.run == run]


def run_suite(tmp_path: Path, backends: list[str], *args: str) -> dict[str, dict[str, dict]]:
    """Run the suite in a subprocess; results by backend, then by check."""
    return by_backend(runner.run_suite(tmp_path, backends, *args))


@pytest.fixture(scope="module")
def meta_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict]]:
    """The runs: local clauses x local defects, Hub/input clauses x their defects, Hub faults x
    theirs, trained weights, generation clauses x generation defects (llama), the bf16 tier."""
    tmp = tmp_path_factory.mktemp("meta")
    one_model = ("--arch", "bert", "--task", "text-classification")
    local = selectors("local")
    results = run_suite(tmp / "local", local, *one_model, "-m", "not hub and not input")
    runs = [
        (selectors("hub"), ("-m", "hub or input", "-k", "not hub_faults")),
        (selectors("faults"), ("-k", "hub_faults")),
    ]
    for index, (backends, selection) in enumerate(runs):
        for backend, checks in run_suite(tmp / f"hub-{index}", backends, *one_model, *selection).items():
            results.setdefault(backend, {}).update(checks)
    trained = run_suite(
        tmp / "trained", local, "--arch", "bert", "--task", "feature-extraction", "-k", "real_weights"
    )
    for backend, checks in trained.items():
        results.setdefault(backend, {}).update(checks)
    # Generation: the gen clauses on the zoo's llama x the generation defects; the stateful clause
    # (not_run where there is no stateful option) on the reference OpenVINO backend and its defects.
    llama = ("--task", "text-generation", "--arch", "llama", "-m", "gen")
    generation = [
        (selectors("gen"), ("-k", "not stateful_equals_stateless")),
        (selectors("gen-ov", control="reference-ov"), ("-k", "stateful_equals_stateless")),
    ]
    for index, (backends, selection) in enumerate(generation):
        for backend, checks in run_suite(tmp / f"gen-{index}", backends, *llama, *selection).items():
            results.setdefault(backend, {}).update(checks)
    # The bf16 tier: bert's pair case and trained weights, on the reference OpenVINO backend.
    tiers = selectors("precision", control="reference-ov")
    for backend, checks in run_suite(tmp / "precision", tiers, "--arch", "bert", "-k", "precision").items():
        results.setdefault(backend, {}).update(checks)
    return results


def test_reference_passes_every_clause(meta_results: dict) -> None:
    checks = meta_results["reference-ort"]
    bad = {
        c: r["outcome"] + ": " + r["message"][:200]
        for c, r in checks.items()
        if r["outcome"] != "passed" and not honest_offline_not_run(r) and not undeclared_tier(r)
    }
    assert not bad
    assert len(checks) >= 60


@pytest.mark.parametrize("defect", ORT_DEFECTS, ids=lambda d: d.name)
def test_defect_is_caught_by_its_clause(meta_results: dict, defect) -> None:
    if defect.requires and importlib.util.find_spec(defect.requires) is None:
        pytest.skip(f"{defect.target} needs {defect.requires}, which is not installed here: not run")
    checks = meta_results[defect.name]
    assert checks[defect.target]["outcome"] == "failed", checks[defect.target]
    assert checks[defect.target]["stage"], "a failure records the stage it broke at"
    unexpected = {
        c: r["message"][:200]
        for c, r in checks.items()
        if r["outcome"] in FAILING and c not in defect.collateral
    }
    unexpected.pop(defect.target, None)
    assert not unexpected, f"{defect.name} also broke clauses it should not: {unexpected}"
    passed = [
        c
        for c, r in checks.items()
        if r["outcome"] == "passed" or honest_offline_not_run(r) or undeclared_tier(r)
    ]
    assert len(passed) >= len(checks) - 1 - len(defect.collateral)


@pytest.mark.parametrize("defect", PRECISION_DEFECTS, ids=lambda d: d.name)
def test_precision_defect_is_caught_where_the_cpu_computes_bf16(meta_results: dict, defect) -> None:
    control = meta_results["reference-ov"]
    assert {c for c in control if c.startswith("precision.")} == {
        "precision.applied",
        "precision.trained_embeddings",
    }
    checks = meta_results[defect.name]
    if checks[defect.target]["outcome"] == "not_run":  # the suite's honest verdict on this CPU
        assert "avx512_bf16" in checks[defect.target]["message"]
        pytest.skip(checks[defect.target]["message"])
    assert {c: r["outcome"] for c, r in control.items()} == dict.fromkeys(control, "passed")
    assert checks[defect.target]["outcome"] == "failed", checks[defect.target]
    unexpected = {
        c: r["message"][:200]
        for c, r in checks.items()
        if r["outcome"] in FAILING and c != defect.target and c not in defect.collateral
    }
    assert not unexpected
