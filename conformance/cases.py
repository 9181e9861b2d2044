"""What a check works with: a `Case` (backend x zoo model) and a per-test `CheckContext`.

The context imports the backend lazily, builds the zoo model, exports it once per worker (and
once per content key on disk), runs the PyTorch oracle, and tracks the stage and metrics that go
into the run record.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from conformance import hardware, tolerances, zoo
from conformance.engine.outcomes import not_run, unsupported
from conformance.families import Family
from conformance.spec import BackendSpec

COMPLETE = ".complete"
"""The marker a finished folder in the export cache holds (written last, so a crash leaves none)."""
LIVE_EXPORTS_KEPT = 4


@dataclass(frozen=True)
class Case:
    spec: BackendSpec
    model: zoo.ZooModel
    precision: str = "fp32"
    """The precision tier the model is loaded in (`BackendSpec.precisions`); fp32 for most checks."""
    not_applicable: str | None = None
    """Why the clause cannot run on this backend at all (no declared task offers what it needs):
    the case is a stand-in that records one not_run."""

    @property
    def id(self) -> str:
        tier = "" if self.precision == "fp32" else f"{self.precision}-"
        return f"{self.spec.name}-{tier}{self.model.task}-{self.model.arch}"

    @property
    def load_kwargs(self) -> dict[str, Any]:
        return self.spec.precision_kwargs(self.precision)

    @property
    def task(self) -> str:
        return self.model.task

    @property
    def arch(self) -> str:
        return self.model.arch


@dataclass
class SessionCache:
    """Per-worker caches: PyTorch oracles and exported models, keyed by case id."""

    export_root: Path | None
    oracles: dict[str, Any] = field(default_factory=dict)
    saved: dict[str, Path | None] = field(default_factory=dict)
    """Per case id: the folder of its saved export (None: the backend's save failed)."""
    export_cache_hits: dict[str, int] = field(default_factory=dict)
    inputs: dict[tuple, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[tuple, dict[str, Any]] = field(default_factory=dict)
    live: dict[str, Any] = field(default_factory=dict)
    """Per case id: the live export this process saved in `saved`, untouched since, for the one
    check that judges that save against it (`CheckContext.fresh_export_and_save`); the newest
    `LIVE_EXPORTS_KEPT` only (a worker runs a case's checks together)."""
    hub: Any = None  # conformance.hubaccess.HubAccess
    scratch: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="conformance-saved-")))


class CheckContext:
    """Helpers for one check on one case; records stage and metrics for the run record."""

    def __init__(self, case: Case, check: str, cache: SessionCache, tmp_path: Path) -> None:
        self.case = case
        self.check = check
        self.cache = cache
        self.tmp_path = tmp_path
        self.stage: str | None = None
        self.metrics: dict[str, Any] = {}
        for pattern, reason in case.spec.unsupported.items():
            if fnmatchcase(check, pattern):
                unsupported(reason)
        if case.not_applicable:
            not_run(case.not_applicable)
        if case.task not in case.spec.classes:
            unsupported(f"{case.spec.name} declares no class for {case.task}")
        if case.precision != "fp32":
            if case.precision not in case.spec.precisions:
                unsupported(f"{case.spec.name} declares no {case.precision} precision tier")
            missing = hardware.missing_native_support(case.precision)
            if missing:
                not_run(missing)

    # ------------------------------------------------------------------ stages
    @contextmanager
    def at(self, stage: str) -> Iterator[None]:
        """Mark the stage a failure inside the block belongs to."""
        previous, self.stage = self.stage, stage
        yield
        self.stage = previous

    # ------------------------------------------------------------------ backend and models
    @property
    def spec(self) -> BackendSpec:
        return self.case.spec

    def model_class(self, task: str | None = None) -> type:
        """The backend's class for this case's task (or `task`); not_run if it cannot be imported."""
        with self.at("import"):
            missing = [name for name, version in self.spec.runtime_versions().items() if version is None]
            if missing:  # e.g. optimum-intel's placeholder IPEX classes, which fail only when called
                not_run(f"{self.spec.name} needs {', '.join(missing)}, not installed here")
            try:
                return self.spec.model_class(task or self.case.task)
            except ImportError as error:
                not_run(f"{self.spec.name} cannot be imported here: {error}")

    def source_dir(self, arch: str | None = None, task: str | None = None) -> Path:
        """The zoo folder (PyTorch checkpoint + preprocessor) of this case, or of another model."""
        model = zoo.ZooModel(arch or self.case.arch, task or self.case.task)
        reason = model.missing_requirement()
        if reason:
            not_run(reason)
        return zoo.build(model.arch, model.task)

    def load(
        self, source: str | os.PathLike, cls: type | None = None, precision: str | None = None, **kwargs: Any
    ) -> Any:
        """`from_pretrained` with the spec's kwargs for the case's precision tier (or `precision`)."""
        options = self.spec.precision_kwargs(precision or self.case.precision)
        with self.at("load"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return (cls or self.model_class()).from_pretrained(source, **{**options, **kwargs})

    def export(
        self,
        source: str | os.PathLike | None = None,
        cls: type | None = None,
        precision: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """The model exported from a PyTorch checkpoint; a backend declaring no export step
        (load.export unsupported) loads the checkpoint as it is."""
        with self.at("export"):
            if self.spec.exports:
                kwargs["export"] = True
            return self.load(source or self.source_dir(), cls=cls, precision=precision, **kwargs)

    def exported(self, **variant: Any) -> Any:
        """A fresh instance of this case's exported model, loaded from the backend's own save of it.

        Every call loads anew: a check never sees state another check left in a live model (a
        pinned shape, a first-call compile, a broken session), so its verdict does not depend on
        which checks ran before it on the worker, nor on whether the export came from the disk
        cache. Loading costs 10-60 ms; the export runs once per worker and content key. A backend
        whose save fails is exported anew for every check instead.

        `variant`: export kwargs of another form of the model (`stateful=False`), cached the same
        way under its own key.
        """
        folder = self.exported_dir(**variant)
        if folder is None:
            return self.export(**variant)
        return self.load(folder)

    def exported_dir(self, **variant: Any) -> Path | None:
        """The folder holding this case's saved export (never to be modified: copy it with
        `saved_copy`), or None when the backend cannot save it."""
        key = self.case.id + "".join(f"-{name}={value}" for name, value in sorted(variant.items()))
        if key not in self.cache.saved:
            cached = self._disk_cache_dir(key, variant)
            hit = cached is not None and (cached / COMPLETE).is_file()
            target = cached or self.cache.scratch / key
            self.cache.saved[key] = cached if hit else self._saved_export(key, target, variant)
            self.cache.export_cache_hits[key] = int(hit)
        self.metrics["export_cache_hit"] = self.cache.export_cache_hits[key]
        return self.cache.saved[key]

    def saved_copy(self) -> Path:
        """A private folder holding the saved export of this case (safe to modify)."""
        folder = self.exported_dir()
        # A folder that does not exist yet, as a user's first save has.
        copy = Path(tempfile.mkdtemp(prefix="saved-", dir=self.tmp_path)) / self.case.id
        if folder is None:  # the backend's save fails: this check fails at the save, as a user would
            with self.at("save"):
                self.export().save_pretrained(copy)
        else:
            shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(COMPLETE))
        return copy

    def _disk_cache_dir(self, name: str, variant: dict[str, Any]) -> Path | None:
        if self.cache.export_root is None:
            return None
        cls = self.model_class()
        source = self.source_dir()
        content = [
            (source / COMPLETE).read_text(),
            self.spec.name,
            f"{cls.__module__}.{cls.__qualname__}",
            self.spec.version(),
            self.spec.runtime_versions(),
            repr(sorted(self.case.load_kwargs.items())),
        ]
        if variant:  # the plain export keeps the key it always had (warm caches stay warm)
            content.append(repr(sorted(variant.items())))
        key = json.dumps(content, sort_keys=True, default=str)
        return self.cache.export_root / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"

    def _saved_export(self, key: str, target: Path, variant: dict[str, Any]) -> Path | None:
        """Export once and save into `target` through a staging folder; None if the save fails."""
        model = self.export(**variant)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            model.save_pretrained(staging / "export")  # a folder that does not exist yet
            (staging / "export" / COMPLETE).write_text("ok")
            os.rename(staging / "export", target)
        except Exception:  # a backend whose save fails still gets checked, each check on a fresh export
            return target if (target / COMPLETE).is_file() else None  # filled first by another process?
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if not variant:
            self.cache.live[key] = model
        while len(self.cache.live) > LIVE_EXPORTS_KEPT:
            del self.cache.live[next(iter(self.cache.live))]
        return target

    def fresh_export_and_save(self) -> tuple[Any, Path]:
        """A model exported from the checkpoint and saved by the backend, untouched since, with the
        folder of that save: what a user has right after `from_pretrained(export=True)` and
        `save_pretrained`. The export this process made to fill the export cache, when it is still
        here and no check has had it; else a new export, saved into the check's own folder."""
        self.exported_dir()  # a cold cache: exports and saves once, keeping the live model
        model = self.cache.live.pop(self.case.id, None)
        self.metrics["export_reused"] = int(model is not None)
        if model is not None:
            return model, self.cache.saved[self.case.id]  # type: ignore[return-value]
        model = self.export()
        with self.at("save"):
            model.save_pretrained(self.tmp_path / "saved")
        return model, self.tmp_path / "saved"

    @property
    def hub(self) -> Any:
        return self.cache.hub

    def zoo_repo(self, layout: str, arch: str | None = None, task: str | None = None) -> tuple[str, Path]:
        """(repo id, local folder) of a zoo model in a shared Hub layout (`conformance.zoo_hub`)."""
        from conformance import zoo_hub

        source = self.source_dir(arch, task)
        folder, digest = zoo_hub.build_layout(layout, source, self.cache.scratch)
        with self.at("push"):
            return self.hub.shared_repo(f"zoo-{layout}-{source.name}-{digest}", folder), folder

    def published(self, label: str, folder: Path | None = None, **publish: Any) -> str:
        """A fresh Hub repo holding `folder` (default: the saved export of this case)."""
        repo_id = self.hub.new_repo_id(f"{self.case.id}-{label}")
        with self.at("push"):
            self.hub.publish(folder or self.saved_copy(), repo_id, **publish)
        return repo_id

    # ------------------------------------------------------------------ inputs and oracle
    def family(self, arch: str | None = None) -> Family:
        """The task family of this case (or of another zoo arch): it makes the inputs, runs the
        oracle and chooses the comparison."""
        return self.case.model.family if arch is None else zoo.ZooModel(arch, self.case.task).family

    def inputs(self, arch: str | None = None, **shape: Any) -> dict[str, Any]:
        """Fresh copies of cached sample inputs of the task family (tokenizing is slower than most checks)."""
        key = (arch or self.case.arch, self.case.task, tuple(sorted(shape.items())))
        if key not in self.cache.inputs:
            self.cache.inputs[key] = zoo.sample_inputs(
                self.source_dir(arch), self.case.task, family=self.family(arch), **shape
            )
        return {k: v.copy() for k, v in self.cache.inputs[key].items()}

    @contextmanager
    def in_oracle(
        self,
        arch: str | None = None,
        let_through: tuple[type[Exception], ...] = (),
        library: str = "transformers",
    ) -> Iterator[None]:
        """Run the PyTorch side (the oracle) inside: when `library` (the distribution that computes
        the expected outputs: transformers, or sentence-transformers on top of it) fails on this zoo
        model, the check cannot judge the backend here. That is a not_run naming the versions, never
        a failure of the backend (transformers 5.3's own xlm-roberta multiple-choice head once
        raised on the zoo model, and every backend "failed" parity). `let_through`: errors the check
        itself judges (transformers refusing a request the backend must refuse too)."""
        try:
            yield
        except let_through:
            raise
        except Exception as error:
            from importlib.metadata import version

            libraries = dict.fromkeys((library, "transformers", "torch"))
            versions = ", ".join(f"{name} {version(name)}" for name in libraries)
            not_run(
                f"the PyTorch oracle fails on {arch or self.case.arch} {self.case.task} ({versions}), "
                f"so the backend cannot be compared here: {type(error).__name__}: {str(error)[:300]}"
            )

    def oracle_model(self, arch: str | None = None) -> Any:
        key = f"{arch or self.case.arch}-{self.case.task}"
        if key not in self.cache.oracles:
            source = self.source_dir(arch)
            with self.in_oracle(arch):
                self.cache.oracles[key] = self.family(arch).load_oracle(source, self.case.task)
        return self.cache.oracles[key]

    def oracle(self, inputs: dict[str, Any], arch: str | None = None) -> dict[str, Any]:
        """PyTorch outputs for numpy `inputs`, cached by their bytes."""
        key = (arch or self.case.arch, self.case.task, self._digest(inputs))
        if key not in self.cache.outputs:
            net = self.oracle_model(arch)
            with self.in_oracle(arch):
                self.cache.outputs[key] = self.family(arch).oracle(net, inputs)
        return self.cache.outputs[key]

    def generate_oracle(
        self,
        inputs: dict[str, Any],
        config: Any,
        arch: str | None = None,
        let_through: tuple[type[Exception], ...] = (),
    ) -> dict[str, Any]:
        """PyTorch `generate()` outputs for numpy `inputs` and the GenerationConfig `config`
        (`Family.generate_oracle`), cached by the inputs' bytes and the config."""
        key = (arch or self.case.arch, self.case.task, self._digest(inputs), config.to_json_string())
        if key not in self.cache.outputs:
            net = self.oracle_model(arch)
            with self.in_oracle(arch, let_through):
                self.cache.outputs[key] = self.family(arch).generate_oracle(net, inputs, config)
        return self.cache.outputs[key]

    @staticmethod
    def _digest(inputs: dict[str, Any]) -> str:
        digest = hashlib.sha256()
        for name in sorted(inputs):
            digest.update(name.encode() + inputs[name].tobytes() + str(inputs[name].shape).encode())
        return digest.hexdigest()

    def run(self, model: Any, inputs: dict[str, Any], **kwargs: Any) -> Any:
        with self.at("infer"):
            return model(**inputs, **kwargs)

    def tolerance(self, dtype: str | None = None) -> tolerances.Tolerance:
        """The registry's tolerance for this case, in its precision tier unless `dtype` is given."""
        return tolerances.lookup(self.spec.name, self.case.task, self.case.arch, dtype or self.case.precision)
