"""save.*: save_pretrained and reload, locally (the push.* clauses live with the Hub checks)."""

from __future__ import annotations

import gc
import shutil

import pytest

from conformance.cases import CheckContext
from conformance.catalogue import clause
from conformance.checks.helpers import (
    CONFIG_FILES,
    RELOAD_ATOL,
    artifact_files,
    as_torch,
    files,
    max_difference,
    move_artifacts,
    preprocessor_files,
    snapshot,
)
from conformance.engine.outcomes import not_run


def _reload_difference(check: CheckContext, model: object, folder: object) -> float:
    inputs = as_torch(check.inputs())
    names = list(check.oracle(check.inputs()))
    before = check.run(model, inputs)
    with check.at("reload"):
        again = check.load(folder)
    return max_difference(check.run(again, inputs), before, names)


@clause(
    "save.reload_equal",
    "core",
    "save then reload gives the same outputs (1e-7)",
    sample="arch",
    requires=("forward",),
)
def test_save_reload_equal(check: CheckContext) -> None:
    # A fresh export, as a user saves it: `exported()` is itself a reload, which would hide a drift
    # that every load adds.
    model = check.export()
    with check.at("save"):
        model.save_pretrained(check.tmp_path / "saved")
    error = _reload_difference(check, model, check.tmp_path / "saved")
    check.metrics.update(max_abs_err=error, atol=RELOAD_ATOL)
    with check.at("reload"):
        assert error <= RELOAD_ATOL, f"reloaded model differs by {error:.3g}"


@clause(
    "save.manifest",
    "core",
    "the saved folder holds config, artifacts, preprocessors and nothing else",
    sample="family",
)
def test_save_manifest(check: CheckContext) -> None:
    model = check.exported()
    target = check.tmp_path / "saved"
    with check.at("save"):
        model.save_pretrained(target)
    saved = files(target)
    allowed = {"config.json"} | preprocessor_files(model, check.tmp_path / "preprocessors")
    if getattr(model, "can_generate", lambda: False)():
        allowed.add("generation_config.json")
    expected_artifacts = set(check.spec.artifacts)
    with check.at("save"):
        assert "config.json" in saved, f"no config.json saved; saved {sorted(saved)}"
        missing = expected_artifacts - saved
        assert not missing, f"artifacts missing from the save: {sorted(missing)}; saved {sorted(saved)}"
        if expected_artifacts:
            extra = saved - allowed - expected_artifacts
            extra = {name for name in extra if not name.endswith("_data")}  # external data is the artifact's
            assert not extra, f"unexpected files in the save: {sorted(extra)}"


@clause(
    "save.preprocessors",
    "strict",
    "the tokenizer / image processor is saved beside the model",
    sample="family",
)
def test_save_preprocessors(check: CheckContext) -> None:
    import transformers

    from conformance.families import PREPROCESSORS

    target = check.tmp_path / "saved"
    with check.at("save"):
        check.exported().save_pretrained(target)
    preprocessor = PREPROCESSORS[check.case.model.spec.preprocessor]
    with check.at("save"):
        assert (target / preprocessor.marker_file).is_file(), (
            f"no {preprocessor.marker_file}: the {preprocessor.kind.replace('_', ' ')} was not saved"
        )
        getattr(transformers, preprocessor.auto_class).from_pretrained(target)


@clause(
    "save.flatten_subfolder",
    "strict",
    "a model loaded from a subfolder saves flat and reloads",
    requires=("forward",),
)
def test_save_flatten_subfolder(check: CheckContext) -> None:
    folder = check.saved_copy()
    model = check.exported()
    names = move_artifacts(check, folder, model, "backend")
    loaded = check.load(folder, subfolder="backend")
    flat = check.tmp_path / "flat"
    with check.at("save"):
        loaded.save_pretrained(flat)
        assert not (flat / "backend").exists(), "the save kept the subfolder instead of saving flat"
        assert set(names) <= files(flat), (
            f"artifacts {names} not at the root of the save: {sorted(files(flat))}"
        )
    error = _reload_difference(check, loaded, flat)
    with check.at("reload"):
        assert error <= RELOAD_ATOL


@clause(
    "save.into_source_dir",
    "strict",
    "saving into the folder the model was loaded from works",
    requires=("forward",),
)
def test_save_into_source_dir(check: CheckContext) -> None:
    folder = check.saved_copy()
    model = check.load(folder)
    with check.at("save"):
        model.save_pretrained(folder)
    error = _reload_difference(check, model, folder)
    with check.at("reload"):
        assert error <= RELOAD_ATOL, f"reloaded model differs by {error:.3g}"


@clause("save.to_file_path", "strict", "saving to an existing file path raises")
def test_save_to_file_path(check: CheckContext) -> None:
    target = check.tmp_path / "a-file"
    target.write_text("keep me")
    with check.at("save"):
        try:
            check.exported().save_pretrained(target)
        except Exception:
            pass
        else:
            raise AssertionError("save_pretrained to an existing file path returned without raising")
        assert target.read_text() == "keep me", "the file was changed"


@clause(
    "save.overwrite",
    "strict",
    "saving twice into a folder works and keeps unrelated files",
    requires=("forward",),
)
def test_save_overwrite(check: CheckContext) -> None:
    model = check.exported()
    target = check.tmp_path / "saved"
    with check.at("save"):
        model.save_pretrained(target)
        (target / "NOTES.md").write_text("user notes")
        model.save_pretrained(target)
        assert (target / "NOTES.md").read_text() == "user notes", "the second save removed an unrelated file"
    _reload_difference(check, model, target)


@clause(
    "save.after_export_gc",
    "core",
    "a model exported on the fly can be saved after garbage collection",
    requires=("forward",),
)
def test_save_after_export_gc(check: CheckContext) -> None:
    model = check.export()
    gc.collect()
    with check.at("save"):
        model.save_pretrained(check.tmp_path / "saved")
    _reload_difference(check, model, check.tmp_path / "saved")


@clause("save.atomic", "strict", "a save that fails leaves the target folder exactly as it was")
def test_save_atomic(check: CheckContext) -> None:
    """A save whose artifact step fails leaves the target exactly as it was."""
    cls = check.model_class()
    if not hasattr(cls, "_save_pretrained"):
        not_run(f"{cls.__name__} has no _save_pretrained hook to make fail")

    class FailingSave(cls):  # type: ignore[misc, valid-type]
        def _save_pretrained(self, *args, **kwargs):
            super()._save_pretrained(*args, **kwargs)
            raise OSError("simulated failure while writing artifacts")

    model = check.load(check.saved_copy(), cls=FailingSave)
    target = check.tmp_path / "existing"
    shutil.copytree(check.saved_copy(), target)
    (target / "config.json").write_text('{"marker": "old config"}')
    before = snapshot(target)
    with check.at("save"):
        with pytest.raises(OSError, match="simulated failure"):
            model.save_pretrained(target)
        after = snapshot(target)
        changed = sorted(n for n in set(before) | set(after) if before.get(n) != after.get(n))
        assert not changed, f"a failed save changed {changed}"


__all__ = ["CONFIG_FILES", "artifact_files"]
