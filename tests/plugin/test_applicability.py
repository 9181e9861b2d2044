"""Clauses follow the tasks a backend declares: which cases each sampling level picks, and a
fill-mask-only (text-generation-only) backend that gets the common loading, save, push and input
clauses on fill-mask (a causal LM)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from conformance import catalogue
from conformance.backends.reference import REFERENCE_ORT, REFERENCE_OV
from conformance.engine.collect import cases_of
from conformance.engine.state import State

ROOT = Path(__file__).resolve().parents[2]
FILL_MASK_ONLY = dataclasses.replace(
    REFERENCE_ORT, name="fill-mask-only", classes={"fill-mask": REFERENCE_ORT.classes["fill-mask"]}
)
TEXT_GENERATION_ONLY = dataclasses.replace(
    REFERENCE_ORT,
    name="text-generation-only",
    classes={"text-generation": REFERENCE_ORT.classes["text-generation"]},
)
COMMON = (
    "load.hub", "load.local_files_only", "load.revision_branch", "load.hub_subfolder", "save.reload_equal",
    "save.atomic", "push.reload_equal", "push.single_commit", "input.unknown_kwarg", "input.corrupt_artifact",
    "load.pipeline",
)  # fmt: skip


def picked(clause_id: str, *specs, archs=None, tasks=None) -> list[tuple[str, str, str, str | None]]:
    state = State(list(specs), {}, (archs, tasks), None, cache=None)  # type: ignore[arg-type]
    declared = catalogue.clauses()[clause_id]
    return [(c.spec.name, c.task, c.arch, c.not_applicable) for c in cases_of(declared, state)]


def test_representative_follows_the_declared_tasks() -> None:
    assert picked("load.hub", REFERENCE_ORT, FILL_MASK_ONLY, TEXT_GENERATION_ONLY) == [
        ("reference-ort", "text-classification", "bert", None),  # the encoder family's representative
        ("fill-mask-only", "fill-mask", "bert", None),  # its representative arch, on the declared task
        ("text-generation-only", "text-generation", "llama", None),  # the causal-LM family's
    ]


def test_family_sampling_is_one_case_per_family_the_backend_has() -> None:
    assert picked("load.pipeline", REFERENCE_ORT) == [
        ("reference-ort", "text-classification", "bert", None),
        ("reference-ort", "image-classification", "vit", None),
        ("reference-ort", "text-generation", "llama", None),
    ]
    assert picked("load.pipeline", FILL_MASK_ONLY) == [("fill-mask-only", "fill-mask", "bert", None)]


def test_arch_sampling_runs_every_model_and_requirements_filter_them() -> None:
    everything = picked("parity.pytorch", FILL_MASK_ONLY)
    assert len(everything) == len({(task, arch) for _, task, arch, _ in everything}) > 50
    text_only = picked("parity.batch_padding", FILL_MASK_ONLY)  # requires a tokenizer
    assert text_only and all(
        arch not in ("vit", "convnext", "resnet", "timm-resnet") for _, _, arch, _ in text_only
    )


def test_a_clause_no_declared_task_can_take_is_one_not_run_case() -> None:
    ((name, task, arch, reason),) = picked("load.library_timm", FILL_MASK_ONLY)
    assert (name, task, arch) == ("fill-mask-only", "image-classification", "timm-resnet")
    assert reason and "library:timm" in reason and "declares no task" in reason


def test_filters_that_leave_nothing_give_no_case() -> None:
    assert picked("load.hub", FILL_MASK_ONLY, archs=["bert"], tasks=["image-classification"]) == []
    ((*_, reason),) = picked("load.hub", FILL_MASK_ONLY, tasks=["text-classification"])
    assert "declares no task" in reason  # selected away from its own tasks: said, not silent


def test_a_backend_alone_collects_the_tier_cases_it_gets_beside_others() -> None:
    """A result's id does not depend on which backends run with it: the record's repro command
    (`--backend reference-ort -k '...bf16...'`) collects its case in a run of that backend alone."""
    bf16 = [("reference-ort", "text-classification", "bert", None)]
    assert picked("precision.applied", REFERENCE_ORT, archs=["bert"], tasks=["text-classification"]) == bf16
    beside = picked(
        "precision.applied", REFERENCE_ORT, REFERENCE_OV, archs=["bert"], tasks=["text-classification"]
    )
    assert [case for case in beside if case[0] == "reference-ort"] == bf16
    state = State([REFERENCE_ORT], {}, (["bert"], ["text-classification"]), None, cache=None)  # type: ignore[arg-type]
    (case,) = cases_of(catalogue.clauses()["precision.applied"], state)
    assert (case.precision, case.id) == ("bf16", "reference-ort-bf16-text-classification-bert")


def test_an_unknown_clause_is_an_error() -> None:
    with pytest.raises(catalogue.CatalogueError, match=r"unknown clause 'load\.nothing'"):
        catalogue.level("load.nothing")

    def test_parity_undeclared(check) -> None: ...

    with pytest.raises(catalogue.CatalogueError, match="declares no clause"):
        catalogue.clause_of(test_parity_undeclared)
    with pytest.raises(catalogue.CatalogueError, match="must be named test_load_other"):
        catalogue.clause("load.other", "core", "a doc")(test_parity_undeclared)


@pytest.mark.parametrize(("task", "arch"), [("fill-mask", "bert"), ("text-generation", "llama")])
def test_a_one_task_backend_runs_the_common_clauses_on_its_task(
    pytester: pytest.Pytester, task: str, arch: str
) -> None:
    pytester.makepyfile(
        specs=f"""
        import dataclasses
        from conformance.backends.reference import REFERENCE_ORT
        SPEC = dataclasses.replace(REFERENCE_ORT, name="{task}-only",
                                   classes={{"{task}": REFERENCE_ORT.classes["{task}"]}})
        """
    )
    record = pytester.path / "record.jsonl"
    names = " or ".join(f"test_{c.replace('.', '_')}[" for c in COMMON)
    pytester.runpytest_subprocess(
        "--pyargs", "conformance", "-p", "no:cacheprovider", "--backend", "specs:SPEC", "--results", str(record),
        "--export-cache", "none", "--arch", arch, "-k", names,
    )  # fmt: skip
    results = [json.loads(line) for line in record.read_text().splitlines()]
    ran = {(r["check"], r["task"]): r["outcome"] for r in results if r["type"] == "result"}
    on_its_task = {check: ran.get((check, task)) for check in COMMON}
    assert on_its_task == dict.fromkeys(COMMON, "passed"), on_its_task
    others = {outcome for (check, other), outcome in ran.items() if other != task}
    assert others <= {"unsupported"}  # save.reload_equal samples every model: the other tasks are absent


@pytest.fixture(autouse=True)
def importable_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
