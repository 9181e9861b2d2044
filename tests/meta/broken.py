"""Deliberately broken backends: the reference ORT backend with exactly one defect each.

Each `Defect` names the clause that must catch it and the clauses it may legitimately break too
(a perturbed output breaks every parity comparison, not only parity.pytorch). The meta-tests run
the suite on all of them and check both: the suite is only as good as what it catches.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from conformance.backends import CLASS_SUFFIX
from conformance.spec import BackendSpec
from reference.onnxruntime import modeling as ort

# Checks that compare outputs of the (exported or reloaded) model with PyTorch.
PARITY = {
    "parity.pytorch", "parity.dynamic_shapes", "parity.default_inputs", "parity.input_dtypes",
    "parity.real_weights", "load.local_dir", "load.export", "load.export_legacy_hook", "load.auto_export",
    "load.reexport", "load.config_root_fallback", "load.file_name", "load.pipeline",
}  # fmt: skip
RELOAD = {"save.reload_equal", "save.flatten_subfolder", "save.into_source_dir"}
SAVES_EXPORT = {
    "save.reload_equal", "save.manifest", "save.preprocessors", "save.flatten_subfolder", "save.into_source_dir",
    "save.to_file_path", "save.overwrite", "save.after_export_gc", "save.atomic", "load.local_dir",
    "load.reexport", "load.config_root_fallback", "load.file_name", "load.config_object", "load.config_path",
    "load.instance_attributes", "load.pipeline", "load.backend_kwargs_reach_runtime",
}  # fmt: skip


def _shift(outputs: dict[str, np.ndarray], amount: float) -> dict[str, np.ndarray]:
    return {
        k: v + np.asarray(amount, dtype=v.dtype) if v.dtype.kind == "f" else v for k, v in outputs.items()
    }


class Perturbed:
    def _run(self, feed):
        return _shift(super()._run(feed), 1e-2)


class OtherOutputType:
    def _wrap(self, outputs, use_torch, return_dict):
        result = super()._wrap(outputs, use_torch, return_dict)
        return result if return_dict is False else dict(result)


class AlwaysTorch:
    def _wrap(self, outputs, use_torch, return_dict):
        return super()._wrap(outputs, True, return_dict)


class IgnoresReturnDict:
    def _wrap(self, outputs, use_torch, return_dict):
        return super()._wrap(outputs, use_torch, None)


class IgnoresMask:
    def _feed(self, inputs):
        feed = super()._feed(inputs)
        feed["attention_mask"] = np.ones_like(feed["attention_mask"])
        return feed


class StaticShapes:
    def _feed(self, inputs):
        feed = super()._feed(inputs)
        shape = feed[self.main_input_name].shape
        if getattr(self, "_first_shape", shape) != shape:
            raise ValueError(f"static shape {self._first_shape}, got {shape}")
        self._first_shape = shape
        return feed


class WrongDefaults:
    def _feed(self, inputs):
        if "token_type_ids" in self.input_names and inputs.get("token_type_ids") is None:
            inputs["token_type_ids"] = np.ones_like(np.asarray(inputs["input_ids"]))
        return super()._feed(inputs)


class StrictDtypes:
    def _feed(self, inputs):
        for name, value in inputs.items():
            dtype = getattr(value, "dtype", None)
            if dtype is not None and str(dtype).split(".")[-1] not in ("int64", "float32"):
                raise TypeError(f"{name} must be int64/float32, got {dtype}")
        return super()._feed(inputs)


class Nondeterministic:
    def _run(self, feed):
        self._calls = getattr(self, "_calls", 0) + 1
        return _shift(super()._run(feed), 1e-6 * (self._calls % 2))


class PerturbsTrainedWeights:
    def _run(self, feed):
        outputs = super()._run(feed)
        return _shift(outputs, 1e-2) if self.config.vocab_size > 10000 else outputs


class ReloadDrift:
    @classmethod
    def _from_pretrained(cls, *args, **kwargs):
        model = super()._from_pretrained(*args, **kwargs)
        model._drift = 5e-7  # between the reload tolerance (1e-7) and the parity tolerance (1e-4)
        return model

    def _run(self, feed):
        return _shift(super()._run(feed), getattr(self, "_drift", 0.0))


class ExtraFile:
    def _save_pretrained(self, save_directory):
        super()._save_pretrained(save_directory)
        (Path(save_directory) / "model.onnx.bak").write_bytes(b"leftover")


class DropsPreprocessors:
    def save_pretrained(self, *args, **kwargs):
        kept, self.preprocessors = self.preprocessors, []
        try:
            return super().save_pretrained(*args, **kwargs)
        finally:
            self.preprocessors = kept


class KeepsSubfolder:
    @classmethod
    def _from_pretrained(cls, *args, **kwargs):
        model = super()._from_pretrained(*args, **kwargs)
        model._subfolder = kwargs.get("subfolder", "")
        return model

    def _save_pretrained(self, save_directory):
        target = Path(save_directory) / getattr(self, "_subfolder", "")
        target.mkdir(parents=True, exist_ok=True)
        super()._save_pretrained(target)


class DeletesTargetFirst:
    def save_pretrained(self, save_directory, *args, **kwargs):
        shutil.rmtree(save_directory, ignore_errors=True)
        return super().save_pretrained(save_directory, *args, **kwargs)


class RefusesExistingFolder:
    def save_pretrained(self, save_directory, *args, **kwargs):
        if Path(save_directory).is_dir():
            raise FileExistsError(f"{save_directory} exists")
        return super().save_pretrained(save_directory, *args, **kwargs)


class LogsOnFilePath:
    def save_pretrained(self, save_directory, *args, **kwargs):
        if Path(save_directory).is_file():
            logging.getLogger(__name__).error("%s is a file", save_directory)  # upstream optimum's behaviour
            return None
        return super().save_pretrained(save_directory, *args, **kwargs)


class DropsExportDir:
    @classmethod
    def _export(cls, *args, **kwargs):
        model = super()._export(*args, **kwargs)
        model._export_dir.cleanup()  # the runtime is in memory; the files it was loaded from are gone
        return model


class WritesInPlace:
    def save_pretrained(self, save_directory, push_to_hub=False, **kwargs):
        target = Path(save_directory)
        target.mkdir(parents=True, exist_ok=True)
        self._save_config(target)  # upstream order: config, preprocessors, then the artifacts
        for preprocessor in self.preprocessors:
            preprocessor.save_pretrained(target)
        if not (target / self.default_file_name).exists() or not (target / self.default_file_name).samefile(
            self.model_path
        ):
            self._save_pretrained(target)


class LocalLoadDrift:
    @classmethod
    def _from_pretrained(cls, *args, **kwargs):
        model = super()._from_pretrained(*args, **kwargs)
        model._drift = 1e-2
        return model

    def _run(self, feed):
        return _shift(super()._run(feed), getattr(self, "_drift", 0.0))


class ExportDrift:
    @classmethod
    def _export(cls, *args, **kwargs):
        model = super()._export(*args, **kwargs)
        model._drift = 1e-2
        return model

    def _run(self, feed):
        return _shift(super()._run(feed), getattr(self, "_drift", 0.0))


class IgnoresLegacyHook:
    @classmethod
    def _choose_hook(cls, export):
        return (cls._export if export else cls._from_pretrained), False


class NoAutoExport:
    @classmethod
    def from_pretrained(cls, model_id, *args, export=False, **kwargs):
        if not export and Path(model_id).is_dir() and not list(Path(model_id).rglob("*.onnx")):
            raise FileNotFoundError(f"no model.onnx in {model_id}")
        return super().from_pretrained(model_id, *args, export=export, **kwargs)


class IgnoresReexport:
    @classmethod
    def from_pretrained(cls, model_id, *args, export=False, **kwargs):
        if export and Path(model_id).is_dir() and list(Path(model_id).glob("*.onnx")):
            export = False
        return super().from_pretrained(model_id, *args, export=export, **kwargs)


class NoRootFallback:
    @classmethod
    def from_pretrained(cls, model_id, *args, subfolder="", **kwargs):
        if subfolder and not (Path(model_id) / subfolder / "config.json").exists():
            raise FileNotFoundError(f"no config.json in {subfolder}")
        return super().from_pretrained(model_id, *args, subfolder=subfolder, **kwargs)


class IgnoresFileName:
    @classmethod
    def _from_pretrained(cls, *args, file_name=None, **kwargs):
        return super()._from_pretrained(*args, **kwargs)


class IgnoresConfigObject:
    @classmethod
    def from_pretrained(cls, model_id, config=None, **kwargs):
        return super().from_pretrained(model_id, None, **kwargs)


class IgnoresConfigPath:
    @classmethod
    def from_pretrained(cls, model_id, config=None, **kwargs):
        return super().from_pretrained(model_id, None if isinstance(config, str) else config, **kwargs)


class DeviceAsString:
    @property
    def device(self):
        return "cpu"


class ForwardDiffersFromCall:
    def __call__(self, *args, **kwargs):
        return super().forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        result = super().forward(*args, **kwargs)
        for key, value in result.items():
            result[key] = value + 1e-2
        return result


class SwallowsRuntimeKwargs:
    @classmethod
    def _load_runtime(cls, path, **kwargs):
        return super()._load_runtime(path)


@dataclass(frozen=True)
class Defect:
    mixin: type
    target: str
    collateral: frozenset[str] = frozenset()

    @property
    def spec(self) -> BackendSpec:
        return globals()[self.attr]

    @property
    def attr(self) -> str:
        return "BROKEN_" + self.mixin.__name__.upper()

    @property
    def name(self) -> str:
        return "broken-" + "".join(f"-{c.lower()}" if c.isupper() else c for c in self.mixin.__name__).lstrip(
            "-"
        )


DEFECTS = [
    Defect(Perturbed, "parity.pytorch", frozenset(PARITY)),
    Defect(OtherOutputType, "parity.output_type"),
    Defect(AlwaysTorch, "parity.tensor_type"),
    Defect(IgnoresReturnDict, "parity.return_dict_false"),
    Defect(IgnoresMask, "parity.batch_padding", frozenset(PARITY)),
    Defect(
        StaticShapes, "parity.dynamic_shapes", frozenset({"parity.batch_padding", "parity.default_inputs"})
    ),
    Defect(WrongDefaults, "parity.default_inputs"),
    Defect(StrictDtypes, "parity.input_dtypes"),
    Defect(
        Nondeterministic,
        "parity.determinism",
        frozenset(RELOAD | {"load.call_is_forward", "parity.return_dict_false"}),
    ),
    Defect(PerturbsTrainedWeights, "parity.real_weights"),
    Defect(ReloadDrift, "save.reload_equal", frozenset(RELOAD)),
    Defect(ExtraFile, "save.manifest"),
    Defect(DropsPreprocessors, "save.preprocessors"),
    Defect(KeepsSubfolder, "save.flatten_subfolder"),
    Defect(DeletesTargetFirst, "save.into_source_dir", frozenset({"save.overwrite", "save.atomic"})),
    Defect(RefusesExistingFolder, "save.overwrite", frozenset({"save.into_source_dir", "save.atomic"})),
    Defect(LogsOnFilePath, "save.to_file_path"),
    Defect(DropsExportDir, "save.after_export_gc", frozenset(SAVES_EXPORT)),
    Defect(WritesInPlace, "save.atomic"),
    Defect(
        LocalLoadDrift, "load.local_dir", frozenset(PARITY | RELOAD) - {"load.export", "load.auto_export"}
    ),
    Defect(
        ExportDrift,
        "load.export",
        frozenset(PARITY | {"save.reload_equal"})
        - {"load.local_dir", "load.config_root_fallback", "load.file_name", "load.pipeline"},
    ),
    Defect(IgnoresLegacyHook, "load.export_legacy_hook"),
    Defect(NoAutoExport, "load.auto_export"),
    Defect(IgnoresReexport, "load.reexport"),
    Defect(NoRootFallback, "load.config_root_fallback", frozenset({"save.flatten_subfolder"})),
    Defect(IgnoresFileName, "load.file_name"),
    Defect(IgnoresConfigObject, "load.config_object", frozenset({"load.config_path"})),
    Defect(IgnoresConfigPath, "load.config_path"),
    Defect(DeviceAsString, "load.instance_attributes", frozenset({"load.pipeline"})),
    Defect(ForwardDiffersFromCall, "load.call_is_forward"),
    Defect(SwallowsRuntimeKwargs, "load.backend_kwargs_reach_runtime"),
]


def _spec(defect: Defect) -> BackendSpec:
    classes: dict[str, Any] = {}
    for task, suffix in CLASS_SUFFIX.items():
        base = getattr(ort, f"ORTModelFor{suffix}")
        classes[task] = type(
            f"{defect.mixin.__name__}{base.__name__}", (defect.mixin, base), {"__module__": __name__}
        )
    return BackendSpec(
        name=defect.name, classes=classes, artifacts=("model.onnx",), runtime_probe=_ort_probe()
    )


def _ort_probe():
    from conformance.backends.reference import REFERENCE_ORT

    return REFERENCE_ORT.runtime_probe


for _defect in DEFECTS:
    globals()[_defect.attr] = _spec(_defect)


# Backends that take the process down or hang, for the crash and timeout outcomes. Only inputs of
# batch 3 (the dynamic-shapes check) trigger them, so every other check still runs and passes.
class AbortsOnBatch3:
    def _run(self, feed):
        if feed[self.main_input_name].shape[0] == 3:
            import os

            os.abort()
        return super()._run(feed)


class HangsOnBatch3:
    def _run(self, feed):
        if feed[self.main_input_name].shape[0] == 3:
            import time

            time.sleep(120)
        return super()._run(feed)


CRASHING = _spec(Defect(AbortsOnBatch3, "parity.dynamic_shapes"))
HANGING = _spec(Defect(HangsOnBatch3, "parity.dynamic_shapes"))
