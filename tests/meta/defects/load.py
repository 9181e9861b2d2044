"""Defects of loading from local folders and exporting (`load.*` without the Hub): the local run."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from tests.meta.defects import PARITY, RELOAD, defect, drifts_after

RUN = "local"


@defect("load.local_dir", collateral=(PARITY | RELOAD) - {"load.export", "load.auto_export"})
class LocalLoadDrift(drifts_after("_from_pretrained", 1e-2)):
    """Loading a local folder gives outputs off by 1e-2; exporting does not."""


@defect(
    "load.export",
    collateral=(PARITY | {"save.reload_equal"})
    - {"load.local_dir", "load.config_root_fallback", "load.file_name", "load.pipeline"},
)
class ExportDrift(drifts_after("_export", 1e-2)):
    """Exporting gives outputs off by 1e-2; loading a local folder does not."""


@defect("load.export_legacy_hook")
class IgnoresLegacyHook:
    @classmethod
    def _choose_hook(cls, export):
        return (cls._export if export else cls._from_pretrained), False


@defect("load.auto_export")
class NoAutoExport:
    @classmethod
    def from_pretrained(cls, model_id, *args, export=False, **kwargs):
        if not export and Path(model_id).is_dir() and not list(Path(model_id).rglob("*.onnx")):
            raise FileNotFoundError(f"no model.onnx in {model_id}")
        return super().from_pretrained(model_id, *args, export=export, **kwargs)


@defect("load.reexport")
class IgnoresReexport:
    @classmethod
    def from_pretrained(cls, model_id, *args, export=False, **kwargs):
        if export and Path(model_id).is_dir() and list(Path(model_id).glob("*.onnx")):
            export = False
        return super().from_pretrained(model_id, *args, export=export, **kwargs)


@defect("load.config_root_fallback", collateral={"save.flatten_subfolder"})
class NoRootFallback:
    @classmethod
    def from_pretrained(cls, model_id, *args, subfolder="", **kwargs):
        if subfolder and not (Path(model_id) / subfolder / "config.json").exists():
            raise FileNotFoundError(f"no config.json in {subfolder}")
        return super().from_pretrained(model_id, *args, subfolder=subfolder, **kwargs)


@defect("load.file_name", collateral={"input.file_name_missing"})
class IgnoresFileName:
    @classmethod
    def _from_pretrained(cls, *args, file_name=None, **kwargs):
        return super()._from_pretrained(*args, **kwargs)


@defect("load.config_object", collateral={"load.config_path"})
class IgnoresConfigObject:
    @classmethod
    def from_pretrained(cls, model_id, config=None, **kwargs):
        return super().from_pretrained(model_id, None, **kwargs)


@defect("load.config_path")
class IgnoresConfigPath:
    @classmethod
    def from_pretrained(cls, model_id, config=None, **kwargs):
        return super().from_pretrained(model_id, None if isinstance(config, str) else config, **kwargs)


@defect("load.instance_attributes", collateral={"load.pipeline"})
class DeviceAsString:
    @property
    def device(self):
        return "cpu"


@defect("load.pipeline")
class DeclaresMultiLabel:
    """Declares every classifier multi-label in the config it exposes (as an exporter that reads
    the task as "multi-label classification" would). Forward and its logits stay right, but
    transformers.pipeline reads `config.problem_type` and scores with a sigmoid, not a softmax."""

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        model = super().from_pretrained(*args, **kwargs)
        model.config.problem_type = "multi_label_classification"
        return model


@defect("load.call_is_forward")
class ForwardDiffersFromCall:
    def __call__(self, *args, **kwargs):
        return super().forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        result = super().forward(*args, **kwargs)
        for key, value in result.items():
            result[key] = value + 1e-2
        return result


@defect("load.backend_kwargs_reach_runtime", collateral={"input.unknown_provider_or_device"})
class SwallowsRuntimeKwargs:
    @classmethod
    def _load_runtime(cls, path, **kwargs):
        return super()._load_runtime(path)


@defect("load.no_temp_leftovers")
class LeavesExportFolderInTemp:
    """Exports into a `tempfile.mkdtemp()` folder, moves the files out and never removes the folder
    (a plain temp path where a TemporaryDirectory the model owns was needed)."""

    @classmethod
    def _export_artifacts(cls, model, spec, config, library, out_dir, **kwargs):
        scratch = Path(tempfile.mkdtemp(prefix="export-"))
        name = super()._export_artifacts(model, spec, config, library, scratch, **kwargs)
        for path in scratch.iterdir():
            shutil.move(path, out_dir / path.name)
        return name
