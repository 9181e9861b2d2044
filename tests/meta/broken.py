"""Deliberately broken backends: the reference ORT backend with exactly one defect each.

Each `Defect` names the clause that must catch it and the clauses it may legitimately break too
(a perturbed output breaks every parity comparison, not only parity.pytorch). The meta-tests run
the suite on all of them and check both: the suite is only as good as what it catches.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from conformance.backends import CLASS_SUFFIX, ort_thread_probe
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


# ---------------------------------------------------------------------- Hub, push and bad input


from huggingface_hub.errors import RepositoryNotFoundError  # noqa: E402 (Hub defects start here)


def _is_hub_id(model_id) -> bool:
    return not Path(str(model_id)).exists()


class HubDrift:
    @classmethod
    def from_pretrained(cls, model_id, *args, **kwargs):
        model = super().from_pretrained(model_id, *args, **kwargs)
        if _is_hub_id(model_id) and not kwargs.get("local_files_only"):
            model._drift = 1e-2
        return model

    def _run(self, feed):
        return _shift(super()._run(feed), getattr(self, "_drift", 0.0))


class IgnoresSubfolderOnHub:
    @classmethod
    def from_pretrained(cls, model_id, *args, subfolder="", **kwargs):
        return super().from_pretrained(
            model_id, *args, subfolder="" if _is_hub_id(model_id) else subfolder, **kwargs
        )


class NoRootFallbackOnHub:
    @classmethod
    def from_pretrained(cls, model_id, *args, subfolder="", **kwargs):
        if subfolder and _is_hub_id(model_id) and not kwargs.get("local_files_only"):
            from huggingface_hub import HfApi

            if not HfApi().file_exists(model_id, f"{subfolder}/config.json"):
                raise FileNotFoundError(f"no config.json in {subfolder}")
        return super().from_pretrained(model_id, *args, subfolder=subfolder, **kwargs)


class IgnoresRevision:
    @classmethod
    def from_pretrained(cls, model_id, *args, revision=None, **kwargs):
        return super().from_pretrained(model_id, *args, **kwargs)


def _touch_network() -> None:
    import contextlib
    import socket

    with contextlib.suppress(OSError):
        socket.create_connection(("127.0.0.1", 9), timeout=0.2).close()


class NetworkDespiteLocalFilesOnly:
    @classmethod
    def from_pretrained(cls, model_id, *args, **kwargs):
        if kwargs.get("local_files_only"):
            _touch_network()  # e.g. a HEAD request "just to check"
        return super().from_pretrained(model_id, *args, **kwargs)


class AsksHubDespiteLocalFilesOnly:
    """Asks the Hub whether the repo still exists, over huggingface_hub's kept-alive connection."""

    @classmethod
    def from_pretrained(cls, model_id, *args, **kwargs):
        import contextlib

        from huggingface_hub import HfApi

        if kwargs.get("local_files_only"):
            with contextlib.suppress(Exception):
                HfApi().repo_exists(str(model_id))
        return super().from_pretrained(model_id, *args, **kwargs)


class NetworkDespiteOfflineEnv:
    @classmethod
    def from_pretrained(cls, model_id, *args, **kwargs):
        import os

        if os.environ.get("HF_HUB_OFFLINE") == "1":
            _touch_network()
        return super().from_pretrained(model_id, *args, **kwargs)


class SlowWhenUncached:
    @classmethod
    def from_pretrained(cls, model_id, *args, **kwargs):
        try:
            return super().from_pretrained(model_id, *args, **kwargs)
        except OSError:
            import time

            time.sleep(6)  # retries before giving up
            raise


class IgnoresToken:
    @classmethod
    def from_pretrained(cls, model_id, *args, token=None, **kwargs):
        return super().from_pretrained(model_id, *args, **kwargs)


class IgnoresCacheDir:
    @classmethod
    def from_pretrained(cls, model_id, *args, cache_dir=None, **kwargs):
        return super().from_pretrained(model_id, *args, **kwargs)


class PushesOtherWeights:
    def push_to_hub(self, save_directory, repository_id, **kwargs):
        import tempfile

        import onnx
        from onnx import numpy_helper

        copy = Path(tempfile.mkdtemp())
        shutil.copytree(save_directory, copy, dirs_exist_ok=True)
        proto = onnx.load(str(copy / "model.onnx"))
        weights = next(t for t in proto.graph.initializer if t.data_type == onnx.TensorProto.FLOAT)
        weights.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weights) + 0.5, weights.name))
        onnx.save(proto, str(copy / "model.onnx"))
        return super().push_to_hub(copy, repository_id, **kwargs)


class PushSkipsTokenizer:
    def push_to_hub(self, save_directory, repository_id, **kwargs):
        import tempfile

        copy = Path(tempfile.mkdtemp())
        shutil.copytree(save_directory, copy, dirs_exist_ok=True, ignore=shutil.ignore_patterns("tokenizer*"))
        return super().push_to_hub(copy, repository_id, **kwargs)


class FlattensPaths:
    def push_to_hub(self, save_directory, repository_id, **kwargs):
        import tempfile

        flat = Path(tempfile.mkdtemp())
        for path in Path(save_directory).rglob("*"):
            if path.is_file():
                shutil.copy(path, flat / path.name)  # upstream optimum: path_in_repo = basename
        return super().push_to_hub(flat, repository_id, **kwargs)


class CommitPerFile:
    def push_to_hub(self, save_directory, repository_id, private=None, token=None, **kwargs):
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repository_id, private=private, exist_ok=True)
        for path in sorted(Path(save_directory).rglob("*")):
            if path.is_file():
                api.upload_file(
                    path_or_fileobj=path,
                    path_in_repo=path.relative_to(save_directory).as_posix(),
                    repo_id=repository_id,
                )
        return None


class IgnoresPrivate:
    def push_to_hub(self, save_directory, repository_id, private=None, **kwargs):
        return super().push_to_hub(save_directory, repository_id, **kwargs)


class IgnoresPushOptions:
    def push_to_hub(self, save_directory, repository_id, private=None, token=None, **kwargs):
        return super().push_to_hub(save_directory, repository_id, private=private, token=token)


class SaveIgnoresPushFlag:
    def save_pretrained(self, save_directory, push_to_hub=False, **kwargs):
        return super().save_pretrained(save_directory)


def _reraise_as(kind: type, when: type, message: str | None = None):
    """A mixin whose from_pretrained turns `when` errors into `kind` (with `message` if given)."""

    class Reraise:
        @classmethod
        def from_pretrained(cls, *args, **kwargs):
            try:
                return super().from_pretrained(*args, **kwargs)
            except when as error:
                raise kind(message or str(error)) from None

    return Reraise


class UnknownRepoAsValueError(_reraise_as(ValueError, RepositoryNotFoundError, "not found")):
    """An unknown repo becomes an unnamed ValueError."""


class MissingPathUnnamed:
    @classmethod
    def from_pretrained(cls, model_id, *args, **kwargs):
        if str(model_id).startswith("/") and not Path(model_id).exists():
            raise FileNotFoundError("model not found")
        return super().from_pretrained(model_id, *args, **kwargs)


class MissingConfigAsKeyError:
    @classmethod
    def from_pretrained(cls, model_id, *args, **kwargs):
        if Path(str(model_id)).is_dir() and not (Path(model_id) / "config.json").exists():
            raise KeyError("config")
        return super().from_pretrained(model_id, *args, **kwargs)


class NoWeightsAsValueError:
    @classmethod
    def from_pretrained(cls, model_id, *args, **kwargs):
        folder = Path(str(model_id))
        if folder.is_dir() and [p.name for p in folder.iterdir()] == ["config.json"]:
            raise ValueError(f"nothing to load in {folder.name}")
        return super().from_pretrained(model_id, *args, **kwargs)


class FileNameAsKeyError:
    @classmethod
    def _from_pretrained(cls, *args, file_name=None, **kwargs):
        if file_name is not None and not file_name.endswith(".onnx"):
            raise KeyError(file_name)
        return super()._from_pretrained(*args, file_name=file_name, **kwargs)


class MismatchAsRuntimeError:
    @classmethod
    def _export(cls, *args, **kwargs):
        try:
            return super()._export(*args, **kwargs)
        except ValueError:
            raise RuntimeError("export failed") from None


class UnknownModelTypeUnnamed:
    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        try:
            return super().from_pretrained(*args, **kwargs)
        except ValueError as error:
            if "model_type" in str(error):
                raise ValueError("bad config") from None
            raise


class ProviderAsRuntimeError:
    @classmethod
    def _load_runtime(cls, path, **kwargs):
        try:
            return super()._load_runtime(path, **kwargs)
        except ValueError:
            raise RuntimeError("session creation failed") from None


class SwallowsUnknownKwargs:
    @classmethod
    def from_pretrained(cls, model_id, *args, **kwargs):
        kwargs.pop("not_an_option", None)
        return super().from_pretrained(model_id, *args, **kwargs)


class FillsMissingInputIds:
    def _feed(self, inputs):
        if inputs.get("input_ids") is None and "attention_mask" in inputs:
            inputs["input_ids"] = np.zeros_like(np.asarray(inputs["attention_mask"]))
        return super()._feed(inputs)


class CorruptUnnamed:
    @classmethod
    def _load_runtime(cls, path, **kwargs):
        try:
            return super()._load_runtime(path, **kwargs)
        except OSError:
            raise RuntimeError("failed to load the model") from None

    @classmethod
    def _artifact_companions(cls, path):
        try:
            return super()._artifact_companions(path)
        except OSError:
            raise RuntimeError("failed to load the model") from None


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


class RootConfigWins:
    @classmethod
    def from_pretrained(cls, model_id, *args, subfolder="", config=None, **kwargs):
        if subfolder and _is_hub_id(model_id) and config is None:
            from transformers import AutoConfig

            offline = {k: kwargs[k] for k in ("cache_dir", "local_files_only") if k in kwargs}
            config = AutoConfig.from_pretrained(model_id, **offline)  # the root one
        return super().from_pretrained(model_id, config, *args, subfolder=subfolder, **kwargs)


class LeaksRootArtifacts:
    @classmethod
    def from_pretrained(cls, model_id, *args, subfolder="", **kwargs):
        if subfolder and _is_hub_id(model_id) and not kwargs.get("local_files_only"):
            from huggingface_hub import HfApi

            if HfApi().file_exists(model_id, "model.onnx"):
                subfolder = ""
        return super().from_pretrained(model_id, *args, subfolder=subfolder, **kwargs)


class ShaIgnored:
    @classmethod
    def from_pretrained(cls, model_id, *args, revision=None, **kwargs):
        if revision and len(revision) == 40:
            revision = None
        return super().from_pretrained(model_id, *args, revision=revision, **kwargs)


class IgnoresAtRevision:
    @classmethod
    def from_pretrained(cls, model_id, *args, **kwargs):
        return super().from_pretrained(str(model_id).split("@")[0], *args, **kwargs)


class IgnoresForceDownload:
    @classmethod
    def from_pretrained(cls, model_id, *args, force_download=False, **kwargs):
        return super().from_pretrained(model_id, *args, **kwargs)


class PicksFirstSorted:
    @classmethod
    def _choose_artifact(cls, files, subfolder, file_name):
        if file_name is not None:
            return super()._choose_artifact(files, subfolder, file_name)
        return sorted(n for n in files.in_folder(subfolder) if n.endswith(".onnx") and "/" not in n)[0]


class UnknownLibraryAsKeyError:
    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        try:
            return super().from_pretrained(*args, **kwargs)
        except ValueError as error:
            if "diffusers" in str(error):
                raise KeyError("model_index.json") from None
            raise


class FetchesOnlyOnnxData:
    """Fetches `*.onnx_data` companions only (upstream optimum #1736): other namings go missing."""

    @classmethod
    def _artifact_companions(cls, path):
        return [name for name in super()._artifact_companions(path) if name.endswith("_data")]


class TrustsRemoteCodeSilently:
    @classmethod
    def from_pretrained(cls, *args, trust_remote_code=False, **kwargs):
        return super().from_pretrained(*args, trust_remote_code=True, **kwargs)


class TaskFromConfig:
    """Exports for the task config.architectures names, whatever the class."""

    @classmethod
    def from_pretrained(cls, model_id, *args, **kwargs):
        if kwargs.get("export"):
            from transformers import AutoConfig

            hub = {k: kwargs[k] for k in ("revision", "cache_dir", "subfolder", "token") if kwargs.get(k)}
            named = (AutoConfig.from_pretrained(model_id, **hub).architectures or [""])[0]
            suffix = next((s for s in CLASS_SUFFIX.values() if named.endswith(s)), "FeatureExtraction")
            return getattr(ort, f"ORTModelFor{suffix}").from_pretrained(model_id, *args, **kwargs)
        return super().from_pretrained(model_id, *args, **kwargs)


def _hub_file(model_id, name: str) -> str:
    """The text of `name` in Hub repo `model_id`; "" if it is not a plain repo id or has no such file."""
    from huggingface_hub import HfApi

    try:
        return Path(HfApi().hf_hub_download(model_id, name)).read_text() if _is_hub_id(model_id) else ""
    except Exception:  # a missing local path, "repo@revision", no such file: not this defect's business
        return ""


class RefusesSentenceTransformers:
    @classmethod
    def from_pretrained(cls, model_id, *args, **kwargs):
        if not kwargs.get("local_files_only") and _hub_file(model_id, "modules.json"):
            raise ValueError(f"{model_id}: unsupported library (not transformers)")
        return super().from_pretrained(model_id, *args, **kwargs)


class RefusesTimm:
    @classmethod
    def from_pretrained(cls, model_id, *args, **kwargs):
        if not kwargs.get("local_files_only") and '"architecture"' in _hub_file(model_id, "config.json"):
            raise ValueError(f"{model_id}: unsupported library (not transformers)")
        return super().from_pretrained(model_id, *args, **kwargs)


class RetriesPushForever:
    def push_to_hub(self, *args, **kwargs):
        import time

        while True:
            try:
                return super().push_to_hub(*args, **kwargs)
            except Exception:
                time.sleep(0.5)


class SwallowsPushErrors:
    def push_to_hub(self, *args, **kwargs):
        try:
            return super().push_to_hub(*args, **kwargs)
        except Exception as error:
            logging.getLogger(__name__).warning("push failed: %s", error)
            return None


class DownloadsInPlace:
    """Streams Hub files straight into the cache's snapshot folder, and trusts whatever is there."""

    @classmethod
    def from_pretrained(cls, model_id, *args, cache_dir=None, **kwargs):
        if not _is_hub_id(model_id) or kwargs.get("local_files_only") or cache_dir is None:
            return super().from_pretrained(model_id, *args, cache_dir=cache_dir, **kwargs)
        import urllib.request

        from huggingface_hub import HfApi, constants

        snapshot = Path(cache_dir) / f"models--{model_id.replace('/', '--')}" / "snapshots" / "in-place"
        for name in HfApi().list_repo_files(model_id):
            target = snapshot / name
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            url = f"{constants.ENDPOINT}/{model_id}/resolve/main/{name}"
            with urllib.request.urlopen(url, timeout=10) as response, open(target, "wb") as out:
                shutil.copyfileobj(response, out)
        return super().from_pretrained(snapshot, *args, **kwargs)


@dataclass(frozen=True)
class Defect:
    mixin: type
    target: str
    collateral: frozenset[str] = frozenset()
    requires: str | None = None  # a module the target clause needs: shown only where it imports

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
    Defect(IgnoresFileName, "load.file_name", frozenset({"input.file_name_missing"})),
    Defect(IgnoresConfigObject, "load.config_object", frozenset({"load.config_path"})),
    Defect(IgnoresConfigPath, "load.config_path"),
    Defect(DeviceAsString, "load.instance_attributes", frozenset({"load.pipeline"})),
    Defect(ForwardDiffersFromCall, "load.call_is_forward"),
    Defect(
        SwallowsRuntimeKwargs,
        "load.backend_kwargs_reach_runtime",
        frozenset({"input.unknown_provider_or_device"}),
    ),
]
HUB_PARITY = {
    "load.hub_subfolder",
    "load.config_root_fallback_hub",
    "load.token_private",
    "push.reload_equal",
    "load.subfolder_isolation",
    "load.force_download",
    "load.external_data",
    "load.trust_remote_code",
    "load.library_sentence_transformers",
    "load.export_task_from_class",
}
HUB_DEFECTS = [
    Defect(HubDrift, "load.hub", frozenset(HUB_PARITY | {"load.local_files_only"})),
    Defect(
        IgnoresSubfolderOnHub,
        "load.hub_subfolder",
        frozenset(
            {
                "load.config_root_fallback_hub",
                "input.offline_missing_subfolder",
                "load.config_subfolder_preferred",
                "load.subfolder_isolation",
            }
        ),
    ),
    Defect(NoRootFallbackOnHub, "load.config_root_fallback_hub"),
    Defect(IgnoresRevision, "load.revision_branch", frozenset({"load.revision_sha"})),
    Defect(
        NetworkDespiteLocalFilesOnly, "load.local_files_only", frozenset({"load.local_files_only_uncached"})
    ),
    Defect(
        AsksHubDespiteLocalFilesOnly, "load.local_files_only", frozenset({"load.local_files_only_uncached"})
    ),
    Defect(NetworkDespiteOfflineEnv, "load.offline_env"),
    Defect(SlowWhenUncached, "load.local_files_only_uncached", frozenset({"input.unknown_repo"})),
    Defect(IgnoresToken, "load.token_private"),
    Defect(IgnoresCacheDir, "load.cache_dir"),
    Defect(PushesOtherWeights, "push.reload_equal"),
    Defect(PushSkipsTokenizer, "push.manifest"),
    Defect(FlattensPaths, "push.paths_preserved"),
    Defect(CommitPerFile, "push.single_commit", frozenset({"push.revision_pr_message"})),
    Defect(IgnoresPrivate, "push.private_token"),
    Defect(IgnoresPushOptions, "push.revision_pr_message"),
    Defect(SaveIgnoresPushFlag, "push.via_save_pretrained"),
    Defect(UnknownRepoAsValueError, "input.unknown_repo"),
    Defect(MissingPathUnnamed, "input.missing_local_path"),
    Defect(MissingConfigAsKeyError, "input.dir_without_config", frozenset({"load.library_unknown"})),
    Defect(NoWeightsAsValueError, "input.dir_without_weights"),
    Defect(FileNameAsKeyError, "input.file_name_missing"),
    Defect(MismatchAsRuntimeError, "input.arch_task_mismatch"),
    Defect(UnknownModelTypeUnnamed, "input.unknown_model_type"),
    Defect(ProviderAsRuntimeError, "input.unknown_provider_or_device"),
    Defect(SwallowsUnknownKwargs, "input.unknown_kwarg"),
    Defect(FillsMissingInputIds, "input.missing_required_input"),
    Defect(CorruptUnnamed, "input.corrupt_artifact"),
    Defect(OfflineSubfolderUnbound, "input.offline_missing_subfolder"),
    Defect(RootConfigWins, "load.config_subfolder_preferred"),
    Defect(LeaksRootArtifacts, "load.subfolder_isolation", frozenset({"load.config_subfolder_preferred"})),
    Defect(ShaIgnored, "load.revision_sha"),
    Defect(IgnoresAtRevision, "load.legacy_at_revision"),
    Defect(IgnoresForceDownload, "load.force_download"),
    Defect(PicksFirstSorted, "load.default_artifact_deterministic"),
    Defect(UnknownLibraryAsKeyError, "load.library_unknown"),
    Defect(FetchesOnlyOnnxData, "load.external_data"),
    Defect(TrustsRemoteCodeSilently, "load.trust_remote_code"),
    Defect(TaskFromConfig, "load.export_task_from_class", frozenset({"input.arch_task_mismatch"})),
    Defect(RefusesSentenceTransformers, "load.library_sentence_transformers"),
    Defect(RefusesTimm, "load.library_timm", requires="timm"),
]
# input.hub_faults waits out huggingface_hub's retry back-off (~25 s per backend): its own meta run.
FAULT_DEFECTS = [
    Defect(RetriesPushForever, "input.hub_faults"),
    Defect(SwallowsPushErrors, "input.hub_faults"),
    Defect(DownloadsInPlace, "input.hub_faults"),
]


def _spec(defect: Defect) -> BackendSpec:
    classes: dict[str, Any] = {}
    for task, suffix in CLASS_SUFFIX.items():
        base = getattr(ort, f"ORTModelFor{suffix}")
        classes[task] = type(
            f"{defect.mixin.__name__}{base.__name__}", (defect.mixin, base), {"__module__": __name__}
        )
    return BackendSpec(
        name=defect.name,
        classes=classes,
        artifacts=("model.onnx",),
        runtime_probe=ort_thread_probe,
        invalid_runtime_kwargs={"provider": "NoSuchExecutionProvider"},
    )


for _defect in DEFECTS + HUB_DEFECTS + FAULT_DEFECTS:
    globals()[_defect.attr] = _spec(_defect)


# Precision-tier defects, on the reference OpenVINO backend (its bf16 tier is an ov_config hint).
class CompilesInF32:
    """Keeps the caller's ov_config but compiles in f32: a bf16 tier never computes in bf16."""

    def compile(self):
        requested = self.ov_config
        self.ov_config = {**requested, "INFERENCE_PRECISION_HINT": "f32"}
        try:
            return super().compile()
        finally:
            self.ov_config = requested


class NoisyInBf16:
    """In bf16, outputs off by up to 8 % (a broken reduced-precision kernel): inside the zoo
    tolerance where values are small, but it bends trained embeddings."""

    def _run(self, feed):
        outputs = super()._run(feed)
        if self.ov_config.get("INFERENCE_PRECISION_HINT") != "bf16":
            return outputs
        rng = np.random.default_rng(0)
        return {
            k: v * (1 + rng.uniform(-0.08, 0.08, v.shape)).astype(v.dtype) if v.dtype.kind == "f" else v
            for k, v in outputs.items()
        }


def _ov_spec(defect: Defect) -> BackendSpec:
    from conformance.backends.reference import REFERENCE_OV
    from reference import openvino as ov

    classes = {
        task: type(f"{defect.mixin.__name__}{suffix}", (defect.mixin, getattr(ov, f"OVModelFor{suffix}")), {})
        for task, suffix in CLASS_SUFFIX.items()
    }
    return replace(REFERENCE_OV, name=defect.name, classes=classes)


PRECISION_DEFECTS = [
    Defect(CompilesInF32, "precision.applied"),
    Defect(NoisyInBf16, "precision.trained_embeddings"),
]
for _defect in PRECISION_DEFECTS:
    globals()[_defect.attr] = _ov_spec(_defect)


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
