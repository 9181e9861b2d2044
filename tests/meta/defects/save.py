"""Defects of saving (`save.*`): the local meta run; save.no_token needs the Hub, so the hub run."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from tests.meta.defects import RELOAD, defect, drifts_after

RUN = "local"

# Checks that save (or reload) the exported model: all of them break when its files are gone.
SAVES_EXPORT = frozenset({
    "save.reload_equal", "save.manifest", "save.preprocessors", "save.flatten_subfolder", "save.into_source_dir",
    "save.to_file_path", "save.overwrite", "save.after_export_gc", "save.atomic", "load.local_dir",
    "load.reexport", "load.config_root_fallback", "load.file_name", "load.config_object", "load.config_path",
    "load.instance_attributes", "load.pipeline", "load.backend_kwargs_reach_runtime", "load.no_temp_leftovers",
    "save.preprocessors_behave",
})  # fmt: skip


@defect("save.reload_equal", collateral=RELOAD)
class ReloadDrift(drifts_after("_from_pretrained", 5e-7)):
    """A reload is off by 5e-7: between the reload tolerance (1e-7) and the parity one (1e-4)."""


@defect("save.manifest")
class ExtraFile:
    def _save_pretrained(self, save_directory):
        super()._save_pretrained(save_directory)
        (Path(save_directory) / "model.onnx.bak").write_bytes(b"leftover")


# Its save holds no preprocessor: save.preprocessors_behave is an honest not_run pointing at save.preprocessors.
@defect("save.preprocessors", collateral={"save.preprocessors_behave"})
class DropsPreprocessors:
    def save_pretrained(self, *args, **kwargs):
        kept, self.preprocessors = self.preprocessors, []
        try:
            return super().save_pretrained(*args, **kwargs)
        finally:
            self.preprocessors = kept


@defect("save.preprocessors_behave")
class SavesStaticLengthTokenizer:
    """Saves its tokenizer with model_max_length set to a static export length (8), as a backend that
    pins shapes might: the files are all there and load, but truncation=True now cuts at 8 tokens."""

    def save_pretrained(self, *args, **kwargs):
        tokenizers = [p for p in self.preprocessors if hasattr(p, "model_max_length")]
        kept = [tokenizer.model_max_length for tokenizer in tokenizers]
        for tokenizer in tokenizers:
            tokenizer.model_max_length = 8
        try:
            return super().save_pretrained(*args, **kwargs)
        finally:
            for tokenizer, length in zip(tokenizers, kept):
                tokenizer.model_max_length = length


@defect("save.flatten_subfolder")
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


@defect("save.into_source_dir", collateral={"save.overwrite", "save.atomic"})
class DeletesTargetFirst:
    def save_pretrained(self, save_directory, *args, **kwargs):
        shutil.rmtree(save_directory, ignore_errors=True)
        return super().save_pretrained(save_directory, *args, **kwargs)


@defect("save.overwrite", collateral={"save.into_source_dir", "save.atomic"})
class RefusesExistingFolder:
    def save_pretrained(self, save_directory, *args, **kwargs):
        if Path(save_directory).is_dir():
            raise FileExistsError(f"{save_directory} exists")
        return super().save_pretrained(save_directory, *args, **kwargs)


@defect("save.to_file_path")
class LogsOnFilePath:
    def save_pretrained(self, save_directory, *args, **kwargs):
        if Path(save_directory).is_file():
            logging.getLogger(__name__).error("%s is a file", save_directory)  # upstream optimum's behaviour
            return None
        return super().save_pretrained(save_directory, *args, **kwargs)


@defect("save.after_export_gc", collateral=SAVES_EXPORT)
class DropsExportDir:
    @classmethod
    def _export(cls, *args, **kwargs):
        model = super()._export(*args, **kwargs)
        model._export_dir.cleanup()  # the runtime is in memory; the files it was loaded from are gone
        return model


@defect("save.atomic")
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


@defect("save.no_token", run="hub")
class RecordsLoadKwargs:
    """Writes its from_pretrained arguments, token= included, into the config.json it saves (a
    "how was this loaded" field: the kind of leak users report)."""

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        model = super().from_pretrained(*args, **kwargs)
        model._load_kwargs = {name: str(value) for name, value in kwargs.items()}
        return model

    def _save_config(self, save_directory):
        super()._save_config(save_directory)
        path = Path(save_directory) / "config.json"
        config = json.loads(path.read_text())
        path.write_text(json.dumps({**config, "load_kwargs": getattr(self, "_load_kwargs", {})}, indent=2))
