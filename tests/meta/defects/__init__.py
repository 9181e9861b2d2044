"""Deliberately broken backends: a reference backend with exactly one defect each.

A defect is a mixin class declared, in the module of its clause family, with the clause that must
catch it and the clauses it may legitimately break too (a perturbed output breaks every parity
comparison, not only parity.pytorch):

    @defect("parity.pytorch", collateral=PARITY)
    class Perturbed:
        def _run(self, feed): ...

`@defect` registers it and puts its backend spec into the declaring module as `BROKEN_<MIXIN>`,
so `--backend tests.meta.defects.parity:BROKEN_PERTURBED` selects it. The meta run a defect
belongs to (`RUNS`) is the declaring module's `RUN`; `run=` overrides it. The meta-tests run the
suite on all of them and check both sides: the suite is only as good as what it catches.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from conformance.backends import CLASS_SUFFIX, ort_thread_probe
from conformance.spec import BackendSpec

# The meta runs of tests/meta/test_meta.py (`meta_results`), each selecting its own clauses.
RUNS = ("local", "hub", "faults", "precision", "gen", "gen-ov")
BASES = ("ort", "ov")

# Checks that compare outputs of the (exported or reloaded) model with PyTorch.
PARITY = frozenset({
    "parity.pytorch", "parity.dynamic_shapes", "parity.large_shapes", "parity.new_inputs_same_shapes",
    "parity.default_inputs",
    "parity.input_dtypes", "parity.real_weights", "load.local_dir", "load.export", "load.export_legacy_hook",
    "load.auto_export", "load.reexport", "load.config_root_fallback", "load.file_name", "load.pipeline",
})  # fmt: skip
# Checks that compare a reloaded save with the model it came from.
RELOAD = frozenset({"save.reload_equal", "save.flatten_subfolder", "save.into_source_dir"})


@dataclass(frozen=True)
class Defect:
    mixin: type
    target: str
    collateral: frozenset[str] = frozenset()
    requires: str | None = None  # a module the target clause needs: shown only where it imports
    run: str = "local"  # one of RUNS

    @property
    def attr(self) -> str:
        return "BROKEN_" + self.mixin.__name__.upper()

    @property
    def name(self) -> str:
        return "broken-" + kebab(self.mixin.__name__)

    @property
    def selector(self) -> str:
        """The --backend value that selects this defect."""
        return f"{self.mixin.__module__}:{self.attr}"

    @property
    def spec(self) -> BackendSpec:
        return getattr(sys.modules[self.mixin.__module__], self.attr)


_DEFECTS: dict[str, Defect] = {}


def defect(
    target: str,
    *,
    collateral: Iterable[str] = (),
    requires: str | None = None,
    run: str | None = None,
    base: str = "ort",
) -> Callable[[type], type]:
    """Declare the decorated mixin a defect that clause `target` must catch.

    collateral  clauses it may break too; nothing else may fail
    requires    a module the target clause needs (the defect is skipped where it does not import)
    run         the meta run (one of RUNS); default: the declaring module's `RUN`
    base        the reference backend it breaks: "ort" (onnxruntime) or "ov" (OpenVINO)
    """

    def declare(mixin: type) -> type:
        module = sys.modules[mixin.__module__]
        declared = Defect(mixin, target, frozenset(collateral), requires, run or getattr(module, "RUN", ""))
        if declared.run not in RUNS or base not in BASES:
            raise ValueError(
                f"{mixin.__name__}: run {declared.run!r} (pass run= or set RUN in {module.__name__}) "
                f"or base {base!r} is not one of {RUNS} / {BASES}"
            )
        if declared.attr in _DEFECTS:
            raise ValueError(f"{mixin.__name__}: a defect named {declared.attr} is already declared")
        _DEFECTS[declared.attr] = declared
        setattr(module, declared.attr, ort_spec(mixin) if base == "ort" else ov_spec(mixin))
        return mixin

    return declare


def all_defects() -> list[Defect]:
    """Every declared defect: imports every module of this package, in name order."""
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        importlib.import_module(f"{__name__}.{module}")
    return list(_DEFECTS.values())


def kebab(name: str) -> str:
    return "".join(f"-{c.lower()}" if c.isupper() else c for c in name).lstrip("-")


def ort_spec(mixin: type) -> BackendSpec:
    """The reference ORT backend with `mixin` before each task class."""
    from reference.onnxruntime import modeling as ort

    classes: dict[str, Any] = {}
    for task, suffix in CLASS_SUFFIX.items():
        base = getattr(ort, f"ORTModelFor{suffix}")
        classes[task] = type(
            f"{mixin.__name__}{base.__name__}", (mixin, base), {"__module__": mixin.__module__}
        )
    return BackendSpec(
        name="broken-" + kebab(mixin.__name__),
        classes=classes,
        artifacts=("model.onnx",),
        runtime_probe=ort_thread_probe,
        invalid_runtime_kwargs={"provider": "NoSuchExecutionProvider"},
    )


def ov_spec(mixin: type) -> BackendSpec:
    """The reference OpenVINO backend with `mixin` before each task class."""
    from conformance.backends.reference import REFERENCE_OV
    from reference import openvino as ov

    classes = {
        task: type(
            f"{mixin.__name__}{suffix}",
            (mixin, getattr(ov, f"OVModelFor{suffix}")),
            {"__module__": mixin.__module__},
        )
        for task, suffix in CLASS_SUFFIX.items()
    }
    return replace(REFERENCE_OV, name="broken-" + kebab(mixin.__name__), classes=classes)


def shift(outputs: dict[str, np.ndarray], amount: float) -> dict[str, np.ndarray]:
    """Every float output plus `amount`."""
    return {
        k: v + np.asarray(amount, dtype=v.dtype) if v.dtype.kind == "f" else v for k, v in outputs.items()
    }


class Drifts:
    """Outputs shifted by the instance's `_drift` (0 unless a defect's load hook sets it)."""

    def _run(self, feed):
        return shift(super()._run(feed), getattr(self, "_drift", 0.0))


def drifts_after(hook: str, amount: float) -> type:
    """A mixin whose models returned by class method `hook` (`_from_pretrained`, `_export`) have
    their outputs shifted by `amount`."""

    def load(cls, *args, **kwargs):
        model = getattr(super(mixin, cls), hook)(*args, **kwargs)
        model._drift = amount
        return model

    mixin = type("DriftsAfter", (Drifts,), {hook: classmethod(load)})
    return mixin


def ignores(keyword: str) -> type:
    """A mixin whose from_pretrained drops keyword argument `keyword` (and ignores what it asks)."""

    class Ignores:
        @classmethod
        def from_pretrained(cls, *args, **kwargs):
            kwargs.pop(keyword, None)
            return super().from_pretrained(*args, **kwargs)

    return Ignores


def reraise_as(
    kind: type, when: type, message: str | None = None, matching: str = "", hooks=("from_pretrained",)
) -> type:
    """A mixin whose class methods `hooks` turn `when` errors whose text contains `matching` into
    `kind`, with `message` if given, else the original text."""

    def wrap(hook: str) -> classmethod:
        def reraising(cls, *args, **kwargs):
            try:
                return getattr(super(mixin, cls), hook)(*args, **kwargs)
            except when as error:
                if matching not in str(error):
                    raise
                raise kind(message or str(error)) from None

        return classmethod(reraising)

    mixin = type("Reraise", (), {hook: wrap(hook) for hook in hooks})
    return mixin


def is_hub_id(model_id) -> bool:
    return not Path(str(model_id)).exists()
