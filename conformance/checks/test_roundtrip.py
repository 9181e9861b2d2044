"""save.*: save_pretrained and reload, locally (the push.* clauses live with the Hub checks)."""

from __future__ import annotations

import gc
import itertools
import shutil
from collections.abc import Callable
from typing import Any

import numpy as np
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
    # that every load adds. The export that filled the export cache serves when no check has had it.
    model, saved = check.fresh_export_and_save()
    error = _reload_difference(check, model, saved)
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


# Words for the inputs a saved preprocessor must encode as the shipped one does: mixed case and
# punctuation (lower-casing, splitting), a word outside the vocabulary (unknown / word pieces).
_TEXT = "Hello WORLD, Paris is a GOOD City! The cat's xyzzy-Movie"
_SHORT = "paris is a city"
# Odd picture sizes (width x height), none the model's own: the resize, crop and rescale all act.
_PICTURE_SIZES = ((17, 33), (300, 200))


@clause(
    "save.preprocessors_behave",
    "core",
    "the saved tokenizer / image processor, reloaded with transformers' Auto classes, encodes varied inputs "
    "exactly as the shipped one (core: one that encodes differently silently changes every prediction)",
    sample="family",
)
def test_save_preprocessors_behave(check: CheckContext) -> None:
    import transformers

    from conformance.families import PREPROCESSORS

    kind = check.case.model.spec.preprocessor
    if kind is None:
        not_run(f"the zoo's {check.case.arch} ships no preprocessor ({check.case.model.spec.library} model)")
    preprocessor = PREPROCESSORS[kind]
    source = check.source_dir()
    folder = check.saved_copy()
    if not (folder / preprocessor.marker_file).is_file():
        not_run(
            f"the save holds no {kind.replace('_', ' ')} ({preprocessor.marker_file}): save.preprocessors "
            "judges whether one is saved"
        )
    compared = []
    for auto_class in dict.fromkeys((preprocessor.auto_class, "AutoProcessor")):
        load = getattr(transformers, auto_class).from_pretrained
        try:
            shipped = load(source)
        except Exception:  # an Auto class that cannot load the zoo's own folder here judges nothing
            continue
        with check.at("reload"):
            reloaded = load(folder)
        samples = _text_samples(shipped) if kind == "tokenizer" else _picture_samples()
        differ = _encodings_differ(shipped, reloaded, samples)
        compared.append(auto_class)
        check.metrics.update(encodings=len(samples), auto_classes=compared)
        with check.at("save"):
            assert not differ, (
                f"the saved {kind.replace('_', ' ')}, reloaded with {auto_class}, encodes "
                f"{len(differ)} of {len(samples)} inputs differently from the one the model ships: "
                + "; ".join(differ[:4])
            )
    if not compared:
        not_run(f"no Auto class of transformers {transformers.__version__} loads the zoo's {kind}")


def _text_samples(tokenizer: Any) -> dict[str, Callable[[Any], Any]]:
    """Named calls, each encoding (or decoding) one input with a tokenizer. The long text is twice
    the shipped maximum length (truncation=True and padding="max_length" go by the saved one); the
    shipped special tokens are written into a text (each must stay one special token)."""
    limit = tokenizer.model_max_length if tokenizer.model_max_length < 100_000 else 512
    long = " ".join(itertools.islice(itertools.cycle(f"{_TEXT} {_SHORT}".split()), 2 * limit))
    words = itertools.cycle(_SHORT.split())
    specials = " ".join(f"{token} {next(words)}" for token in tokenizer.all_special_tokens)
    batch = [_TEXT, _SHORT, specials]

    def padded(**options: Any) -> Callable[[Any], Any]:
        return lambda t: t(batch, return_tensors="np", **options)

    return {
        "a mixed-case text": lambda t: t(_TEXT),
        "a text with special tokens": lambda t: t(specials, return_special_tokens_mask=True),
        "a long text, truncation=True": lambda t: t(long, truncation=True),
        "a text pair": lambda t: t(_TEXT, specials),
        "a long text pair, truncation=True": lambda t: t(long, _SHORT, truncation=True),
        "a batch, padding=True": padded(padding=True),
        "a left-padded batch": padded(padding=True, padding_side="left"),
        "a right-padded batch": padded(padding=True, padding_side="right"),
        'a batch, padding="max_length", truncation=True': padded(padding="max_length", truncation=True),
        "the special tokens decoded": lambda t: t.decode(t(specials)["input_ids"]),
        "the special tokens decoded, skip_special_tokens=True": lambda t: t.decode(
            t(specials)["input_ids"], skip_special_tokens=True
        ),
    }


def _picture_samples() -> dict[str, Callable[[Any], Any]]:
    """Named calls, each processing pictures with an image processor: odd sizes, a grayscale picture
    converted to RGB, a numpy array and PIL images, one at a time and as a batch."""
    from PIL import Image

    rng = np.random.default_rng(0)
    pictures = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for w, h in _PICTURE_SIZES]
    gray = Image.fromarray(rng.integers(0, 256, (40, 50), dtype=np.uint8)).convert("RGB")
    images = [pictures[0], Image.fromarray(pictures[1]), gray]
    samples: dict[str, Callable[[Any], Any]] = {
        f"a {w}x{h} picture": (lambda p, image=image: p(images=image, return_tensors="np"))
        for (w, h), image in zip(_PICTURE_SIZES, images)
    }
    samples["a grayscale picture converted to RGB"] = lambda p: p(images=gray, return_tensors="np")
    samples["the three as a batch"] = lambda p: p(images=images, return_tensors="np")
    return samples


def _encodings_differ(shipped: Any, reloaded: Any, samples: dict[str, Callable[[Any], Any]]) -> list[str]:
    """What differs between the shipped and the reloaded preprocessor, per sample: the names of the
    outputs, their dtypes, shapes and values (exactly), or an error only the reloaded one raises."""
    found = []
    for name, call in samples.items():
        expected = _as_arrays(call(shipped))
        try:
            got = _as_arrays(call(reloaded))
        except Exception as error:  # the shipped one encodes it: an error is a difference
            found.append(f"{name}: {type(error).__name__}: {str(error)[:200]}")
            continue
        if set(got) != set(expected):
            found.append(f"{name}: outputs {sorted(got)}, shipped {sorted(expected)}")
            continue
        problems = []
        for key in expected:
            a, b = got[key], expected[key]
            if a.dtype != b.dtype or a.shape != b.shape:
                problems.append(f"{key} is {a.dtype}{list(a.shape)}, shipped {b.dtype}{list(b.shape)}")
            elif not np.array_equal(a, b):
                where = tuple(int(i) for i in np.argwhere(a != b)[0])
                problems.append(f"{key}{list(where)} is {a[where]!r}, shipped {b[where]!r}")
        if problems:
            found.append(f"{name}: {', '.join(problems)}")
    return found


def _as_arrays(encoded: Any) -> dict[str, np.ndarray]:
    if isinstance(encoded, str):
        return {"text": np.asarray(encoded)}
    return {key: np.asarray(value) for key, value in dict(encoded).items()}


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
    # Loaded before the try: a model that does not load fails here, not as the refusal this wants.
    model = check.exported()
    with check.at("save"):
        try:
            model.save_pretrained(target)
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
