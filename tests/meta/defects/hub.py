"""Defects of loading from the Hub (`load.*` that need the embedded Hub): the hub meta run."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path

from conformance.backends import CLASS_SUFFIX
from tests.meta.defects import Drifts, defect, ignores, is_hub_id, reraise_as

RUN = "hub"

# Checks that compare outputs of a model loaded from the Hub with PyTorch.
HUB_PARITY = frozenset({
    "load.hub_subfolder", "load.config_root_fallback_hub", "load.token_private", "push.reload_equal",
    "load.subfolder_isolation", "load.force_download", "load.external_data", "load.trust_remote_code",
    "load.library_sentence_transformers", "load.export_task_from_class",
})  # fmt: skip


@defect("load.hub", collateral=HUB_PARITY | {"load.local_files_only"})
class HubDrift(Drifts):
    @classmethod
    def from_pretrained(cls, model_id, *args, **kwargs):
        model = super().from_pretrained(model_id, *args, **kwargs)
        if is_hub_id(model_id) and not kwargs.get("local_files_only"):
            model._drift = 1e-2
        return model


@defect(
    "load.hub_subfolder",
    collateral={
        "load.config_root_fallback_hub", "input.offline_missing_subfolder", "load.config_subfolder_preferred",
        "load.subfolder_isolation",
    },
)  # fmt: skip
class IgnoresSubfolderOnHub:
    @classmethod
    def from_pretrained(cls, model_id, *args, subfolder="", **kwargs):
        return super().from_pretrained(
            model_id, *args, subfolder="" if is_hub_id(model_id) else subfolder, **kwargs
        )


@defect("load.config_root_fallback_hub")
class NoRootFallbackOnHub:
    @classmethod
    def from_pretrained(cls, model_id, *args, subfolder="", **kwargs):
        if subfolder and is_hub_id(model_id) and not kwargs.get("local_files_only"):
            from huggingface_hub import HfApi

            if not HfApi().file_exists(model_id, f"{subfolder}/config.json"):
                raise FileNotFoundError(f"no config.json in {subfolder}")
        return super().from_pretrained(model_id, *args, subfolder=subfolder, **kwargs)


@defect("load.revision_branch", collateral={"load.revision_sha"})
class IgnoresRevision(ignores("revision")):
    pass


def _touch_network() -> None:
    with contextlib.suppress(OSError):
        socket.create_connection(("127.0.0.1", 9), timeout=0.2).close()


@defect("load.local_files_only", collateral={"load.local_files_only_uncached"})
class NetworkDespiteLocalFilesOnly:
    @classmethod
    def from_pretrained(cls, model_id, *args, **kwargs):
        if kwargs.get("local_files_only"):
            _touch_network()  # e.g. a HEAD request "just to check"
        return super().from_pretrained(model_id, *args, **kwargs)


@defect("load.local_files_only", collateral={"load.local_files_only_uncached"})
class AsksHubDespiteLocalFilesOnly:
    """Asks the Hub whether the repo still exists, over huggingface_hub's kept-alive connection."""

    @classmethod
    def from_pretrained(cls, model_id, *args, **kwargs):
        from huggingface_hub import HfApi

        if kwargs.get("local_files_only"):
            with contextlib.suppress(Exception):
                HfApi().repo_exists(str(model_id))
        return super().from_pretrained(model_id, *args, **kwargs)


@defect("load.offline_env")
class NetworkDespiteOfflineEnv:
    @classmethod
    def from_pretrained(cls, model_id, *args, **kwargs):
        if os.environ.get("HF_HUB_OFFLINE") == "1":
            _touch_network()
        return super().from_pretrained(model_id, *args, **kwargs)


@defect("load.local_files_only_uncached")
class SlowWhenUncached:
    """Backs off and retries before giving up on a local-only load that found nothing cached, though
    no retry can find it. (Only there: sleeping on every failed load would make each error clause
    of the meta run 6 s slower and prove nothing more.)"""

    @classmethod
    def from_pretrained(cls, model_id, *args, **kwargs):
        try:
            return super().from_pretrained(model_id, *args, **kwargs)
        except OSError:
            if kwargs.get("local_files_only"):
                time.sleep(6)
            raise


@defect("load.token_private")
class IgnoresToken(ignores("token")):
    pass


@defect("load.cache_dir")
class IgnoresCacheDir(ignores("cache_dir")):
    pass


@defect("load.config_subfolder_preferred")
class RootConfigWins:
    @classmethod
    def from_pretrained(cls, model_id, *args, subfolder="", config=None, **kwargs):
        if subfolder and is_hub_id(model_id) and config is None:
            from transformers import AutoConfig

            offline = {k: kwargs[k] for k in ("cache_dir", "local_files_only") if k in kwargs}
            config = AutoConfig.from_pretrained(model_id, **offline)  # the root one
        return super().from_pretrained(model_id, config, *args, subfolder=subfolder, **kwargs)


@defect("load.subfolder_isolation", collateral={"load.config_subfolder_preferred"})
class LeaksRootArtifacts:
    @classmethod
    def from_pretrained(cls, model_id, *args, subfolder="", **kwargs):
        if subfolder and is_hub_id(model_id) and not kwargs.get("local_files_only"):
            from huggingface_hub import HfApi

            if HfApi().file_exists(model_id, "model.onnx"):
                subfolder = ""
        return super().from_pretrained(model_id, *args, subfolder=subfolder, **kwargs)


@defect("load.revision_sha")
class ShaIgnored:
    @classmethod
    def from_pretrained(cls, model_id, *args, revision=None, **kwargs):
        if revision and len(revision) == 40:
            revision = None
        return super().from_pretrained(model_id, *args, revision=revision, **kwargs)


@defect("load.legacy_at_revision")
class IgnoresAtRevision:
    @classmethod
    def from_pretrained(cls, model_id, *args, **kwargs):
        return super().from_pretrained(str(model_id).split("@")[0], *args, **kwargs)


@defect("load.force_download")
class IgnoresForceDownload(ignores("force_download")):
    pass


@defect("load.default_artifact_deterministic")
class PicksFirstSorted:
    @classmethod
    def _choose_artifact(cls, files, subfolder, file_name):
        if file_name is not None:
            return super()._choose_artifact(files, subfolder, file_name)
        return sorted(n for n in files.in_folder(subfolder) if n.endswith(".onnx") and "/" not in n)[0]


@defect("load.library_unknown")
class UnknownLibraryAsKeyError(reraise_as(KeyError, ValueError, "model_index.json", matching="diffusers")):
    """A diffusers repo becomes a KeyError."""


@defect("load.external_data")
class FetchesOnlyOnnxData:
    """Fetches `*.onnx_data` companions only (upstream optimum #1736): other namings go missing."""

    @classmethod
    def _artifact_companions(cls, path):
        return [name for name in super()._artifact_companions(path) if name.endswith("_data")]


@defect("load.trust_remote_code")
class TrustsRemoteCodeSilently:
    @classmethod
    def from_pretrained(cls, *args, trust_remote_code=False, **kwargs):
        return super().from_pretrained(*args, trust_remote_code=True, **kwargs)


@defect("load.export_task_from_class", collateral={"input.arch_task_mismatch"})
class TaskFromConfig:
    """Exports for the task config.architectures names, whatever the class."""

    @classmethod
    def from_pretrained(cls, model_id, *args, **kwargs):
        if kwargs.get("export"):
            from transformers import AutoConfig

            from reference.onnxruntime import modeling as ort

            hub = {k: kwargs[k] for k in ("revision", "cache_dir", "subfolder", "token") if kwargs.get(k)}
            named = (AutoConfig.from_pretrained(model_id, **hub).architectures or [""])[0]
            suffix = next((s for s in CLASS_SUFFIX.values() if named.endswith(s)), "FeatureExtraction")
            return getattr(ort, f"ORTModelFor{suffix}").from_pretrained(model_id, *args, **kwargs)
        return super().from_pretrained(model_id, *args, **kwargs)


def _hub_file(model_id, name: str) -> str:
    """The text of `name` in Hub repo `model_id`; "" if it is not a plain repo id or has no such file."""
    from huggingface_hub import HfApi

    try:
        return Path(HfApi().hf_hub_download(model_id, name)).read_text() if is_hub_id(model_id) else ""
    except Exception:  # a missing local path, "repo@revision", no such file: not this defect's business
        return ""


@defect("load.library_sentence_transformers")
class RefusesSentenceTransformers:
    @classmethod
    def from_pretrained(cls, model_id, *args, **kwargs):
        if not kwargs.get("local_files_only") and _hub_file(model_id, "modules.json"):
            raise ValueError(f"{model_id}: unsupported library (not transformers)")
        return super().from_pretrained(model_id, *args, **kwargs)


@defect("load.library_timm", requires="timm")
class RefusesTimm:
    @classmethod
    def from_pretrained(cls, model_id, *args, **kwargs):
        if not kwargs.get("local_files_only") and '"architecture"' in _hub_file(model_id, "config.json"):
            raise ValueError(f"{model_id}: unsupported library (not transformers)")
        return super().from_pretrained(model_id, *args, **kwargs)
