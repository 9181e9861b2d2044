"""`BackendSpec`: everything a backend author supplies to have a backend checked.

One small dataclass. Classes are named as "module:Class" strings (or given as classes), so a spec
can be imported without importing the runtime: the suite imports them lazily, per test, and a
missing runtime is an honest `not_run`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class BackendSpec:
    name: str
    """Short unique name used in test ids, records and reports, e.g. "reference-ort"."""

    classes: Mapping[str, str | type]
    """Task -> model class, as a class or "package.module:ClassName". Tasks use the names of the
    task families (`conformance.families.tasks()`): feature-extraction, text-classification,
    token-classification, question-answering, fill-mask, multiple-choice, image-classification,
    text-generation."""

    distribution: str | None = None
    """The installed distribution whose version is the backend's version (e.g. "optimum-onnx")."""

    runtime_packages: tuple[str, ...] = ()
    """Distributions whose versions go into the run record (e.g. ("onnxruntime",))."""

    artifacts: tuple[str, ...] = ()
    """File names `save_pretrained` writes for the model itself, main file first
    (e.g. ("openvino_model.xml", "openvino_model.bin")). Used by the manifest and file_name checks."""

    load_kwargs: Mapping[str, Any] = field(default_factory=dict)
    """Keyword arguments for every `from_pretrained` of the suite (e.g. an f32 precision hint)."""

    precisions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Precision tiers beyond fp32 the backend offers -> the `from_pretrained` kwargs that select
    one (they replace `load_kwargs` key by key), e.g. {"bf16": {"dtype": "bf16"}}. The precision.*
    checks judge each tier where the CPU computes in it (`conformance.hardware`)."""

    unsupported: Mapping[str, str] = field(default_factory=dict)
    """Check-id patterns (fnmatch) the backend declares absent -> reason, e.g. {"push.*": "no Hub"}."""

    runtime_probe: Callable[[], tuple[Mapping[str, Any], Callable[[Any], bool]]] | None = None
    """Returns (backend kwargs, predicate on the loaded model) proving that backend options reach
    the runtime. Called only when the check runs, so it may import the runtime."""

    invalid_runtime_kwargs: Mapping[str, Any] | None = None
    """Backend options naming a provider/device that does not exist (e.g. {"device": "NOSUCH"}),
    for the input.unknown_provider_or_device check."""

    expectations: str | Path | None = None
    """TOML file of expected deviations: [[expect]] test = "<pattern>", outcome, reason, link, and
    optionally versions (the upstream releases an entry applies to): `conformance.expectations`."""

    def model_class(self, task: str) -> type:
        """The class for `task`, imported now (ImportError if the runtime is missing)."""
        target = self.classes[task]
        if isinstance(target, str):
            module, _, attr = target.partition(":")
            return getattr(importlib.import_module(module), attr)
        return target

    @property
    def exports(self) -> bool:
        """Whether `from_pretrained(..., export=True)` is how the backend turns a PyTorch checkpoint
        into its model; False when it declares load.export unsupported (it loads the checkpoint as is)."""
        return not any(fnmatchcase("load.export", pattern) for pattern in self.unsupported)

    def precision_kwargs(self, precision: str) -> dict[str, Any]:
        """The `from_pretrained` kwargs of a precision tier ("fp32": `load_kwargs` as they are)."""
        return {**self.load_kwargs, **(self.precisions[precision] if precision != "fp32" else {})}

    def version(self) -> str | None:
        return _distribution_version(self.distribution) if self.distribution else None

    def runtime_versions(self) -> dict[str, str | None]:
        return {name: _distribution_version(name) for name in self.runtime_packages}


def _distribution_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
