"""Defects of error handling on bad input (`input.*`, but input.hub_faults): the hub meta run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from huggingface_hub.errors import RepositoryNotFoundError

from tests.meta.defects import defect, ignores, reraise_as

RUN = "hub"


@defect("input.unknown_repo")
class UnknownRepoAsValueError(reraise_as(ValueError, RepositoryNotFoundError, "not found")):
    """An unknown repo becomes an unnamed ValueError."""


@defect("input.missing_local_path")
class MissingPathUnnamed:
    @classmethod
    def from_pretrained(cls, model_id, *args, **kwargs):
        if str(model_id).startswith("/") and not Path(model_id).exists():
            raise FileNotFoundError("model not found")
        return super().from_pretrained(model_id, *args, **kwargs)


@defect("input.dir_without_config", collateral={"load.library_unknown"})
class MissingConfigAsKeyError:
    @classmethod
    def from_pretrained(cls, model_id, *args, **kwargs):
        if Path(str(model_id)).is_dir() and not (Path(model_id) / "config.json").exists():
            raise KeyError("config")
        return super().from_pretrained(model_id, *args, **kwargs)


@defect("input.dir_without_weights")
class NoWeightsAsValueError:
    @classmethod
    def from_pretrained(cls, model_id, *args, **kwargs):
        folder = Path(str(model_id))
        if folder.is_dir() and [p.name for p in folder.iterdir()] == ["config.json"]:
            raise ValueError(f"nothing to load in {folder.name}")
        return super().from_pretrained(model_id, *args, **kwargs)


@defect("input.file_name_missing")
class FileNameAsKeyError:
    @classmethod
    def _from_pretrained(cls, *args, file_name=None, **kwargs):
        if file_name is not None and not file_name.endswith(".onnx"):
            raise KeyError(file_name)
        return super()._from_pretrained(*args, file_name=file_name, **kwargs)


@defect("input.arch_task_mismatch")
class MismatchAsRuntimeError(reraise_as(RuntimeError, ValueError, "export failed", hooks=("_export",))):
    """An architecture that cannot do the task fails the export with an unnamed RuntimeError."""


@defect("input.unknown_model_type")
class UnknownModelTypeUnnamed(reraise_as(ValueError, ValueError, "bad config", matching="model_type")):
    """An unknown model_type becomes a ValueError that does not name it."""


@defect("input.unknown_provider_or_device")
class ProviderAsRuntimeError(
    reraise_as(RuntimeError, ValueError, "session creation failed", hooks=("_load_runtime",))
):
    """An unknown provider becomes an unnamed RuntimeError."""


@defect("input.unknown_kwarg")
class SwallowsUnknownKwargs(ignores("not_an_option")):
    """An unknown keyword argument is dropped silently."""


@defect("input.missing_required_input")
class FillsMissingInputIds:
    def _feed(self, inputs):
        if inputs.get("input_ids") is None and "attention_mask" in inputs:
            inputs["input_ids"] = np.zeros_like(np.asarray(inputs["attention_mask"]))
        return super()._feed(inputs)


@defect("input.corrupt_artifact")
class CorruptUnnamed(
    reraise_as(
        RuntimeError, OSError, "failed to load the model", hooks=("_load_runtime", "_artifact_companions")
    )
):
    """A truncated or garbled artifact fails with an error that does not name the file."""


@defect("input.offline_missing_subfolder")
class OfflineSubfolderUnbound:
    @classmethod
    def from_pretrained(cls, model_id, *args, subfolder="", **kwargs):
        try:
            return super().from_pretrained(model_id, *args, subfolder=subfolder, **kwargs)
        except FileNotFoundError:
            if kwargs.get("local_files_only") and subfolder:
                raise UnboundLocalError(
                    "cannot access local variable 'all_files'"
                ) from None  # upstream's bug
            raise
