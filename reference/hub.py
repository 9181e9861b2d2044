"""Where a model's files are: a local directory, the Hub at a revision, or the local Hub cache.

`ModelFiles` is the one listing every loading step works from, so the Hub is asked once per
`from_pretrained` and offline loading never opens a socket.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

CONFIG_NAME = "config.json"
WEIGHTS_PATTERN = re.compile(r"(model|pytorch_model)(-\d+-of-\d+)?\.(safetensors|bin)(\.index\.json)?$")
SENTENCE_TRANSFORMERS_MARKERS = ("modules.json", "config_sentence_transformers.json")
PREPROCESSOR_FILES = frozenset(
    {
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "added_tokens.json",
        "vocab.txt",
        "vocab.json",
        "merges.txt",
        "spiece.model",
        "sentencepiece.bpe.model",
        "tokenizer.model",
        "chat_template.jinja",
        "preprocessor_config.json",
        "processor_config.json",
    }
)
_TRUE = {"1", "true", "yes", "on"}
_SHA = re.compile(r"^[0-9a-f]{40}$")


def is_offline() -> bool:
    """HF_HUB_OFFLINE read at call time (huggingface_hub reads it only at import)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        return True
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def split_legacy_revision(model_id: str | os.PathLike, revision: str | None) -> tuple[str, str | None]:
    """Accept the deprecated "org/name@rev" form for Hub ids only: a local path is never split."""
    model_id = Path(model_id).as_posix() if isinstance(model_id, os.PathLike) else model_id
    if not isinstance(model_id, str):
        raise TypeError(f"model_id must be a str or os.PathLike, got {type(model_id).__name__}")
    if os.path.exists(model_id) or model_id.count("@") != 1:
        return model_id, revision
    repo_id, _, legacy = model_id.partition("@")
    if revision is not None and revision != legacy:
        raise ValueError(
            f"Two revisions given: {legacy!r} in {model_id!r} and revision={revision!r}. Pass only revision=."
        )
    warnings.warn(
        f"'{model_id}': the 'repo@revision' form is deprecated; use from_pretrained({repo_id!r}, "
        f"revision={legacy!r}).",
        FutureWarning,
        stacklevel=3,
    )
    return repo_id, legacy


@dataclass(frozen=True)
class ModelFiles:
    """The files of one model repository at one revision, as relative POSIX paths."""

    model_id: str
    files: frozenset[str]
    local_dir: Path | None  # the directory holding the files (local model or cached snapshot)
    revision: str | None = None
    commit: str | None = None  # resolved commit sha, when known
    from_hub: bool = False
    cache_dir: str | None = None
    token: bool | str | None = None

    @property
    def where(self) -> str:
        """Human-readable location for error messages."""
        if not self.from_hub:
            return f"local directory {self.model_id!r}"
        at = f" at revision {self.revision!r}" if self.revision else ""
        cached = " (local cache, offline)" if self.local_dir is not None else ""
        return f"Hub repo {self.model_id!r}{at}{cached}"

    def in_folder(self, subfolder: str = "") -> list[str]:
        """Files under `subfolder`, relative to it, sorted."""
        prefix = f"{subfolder.strip('/')}/" if subfolder.strip("/") else ""
        return sorted(name[len(prefix) :] for name in self.files if name.startswith(prefix))

    def has(self, path: str) -> bool:
        return _join(path) in self.files

    def require_subfolder(self, subfolder: str) -> None:
        if subfolder.strip("/") and not self.in_folder(subfolder):
            raise FileNotFoundError(
                f"Subfolder {subfolder!r} not found in {self.where}: it holds no files there. "
                f"Check subfolder=, or the revision."
            )

    def fetch(self, path: str, *, force_download: bool = False, local_files_only: bool = False) -> Path:
        """A local path to `path` (relative to the repo root), downloading it when needed."""
        path = _join(path)
        if path not in self.files:
            raise FileNotFoundError(f"{path!r} not found in {self.where}.")
        if self.local_dir is not None:
            return self.local_dir / path
        from huggingface_hub import hf_hub_download

        return Path(
            hf_hub_download(
                self.model_id,
                path,
                revision=self.revision,
                cache_dir=self.cache_dir,
                token=self.token,
                force_download=force_download,
                local_files_only=local_files_only,
            )
        )

    def read_json(self, path: str, **fetch_kwargs: Any) -> dict[str, Any]:
        file = self.fetch(path, **fetch_kwargs)
        try:
            return json.loads(file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path} in {self.where} is not valid JSON: {error}") from error


def _join(*parts: str) -> str:
    return str(PurePosixPath(*[p.strip("/") for p in parts if p and p.strip("/")]))


def list_model_files(
    model_id: str,
    *,
    revision: str | None = None,
    token: bool | str | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
) -> ModelFiles:
    """List a model's files: walk a local directory, ask the Hub once, or read the cache offline."""
    if os.path.isdir(model_id):
        return ModelFiles(model_id, _walk(Path(model_id)), Path(model_id))
    _check_repo_id(model_id)
    cache_dir = os.fspath(cache_dir) if cache_dir is not None else None
    if local_files_only or is_offline():
        snapshot = cached_snapshot(model_id, revision, cache_dir)
        return ModelFiles(
            model_id,
            _walk(snapshot),
            snapshot,
            revision=revision,
            commit=snapshot.name,
            from_hub=True,
            cache_dir=cache_dir,
            token=token,
        )
    from huggingface_hub import HfApi

    info = HfApi().model_info(model_id, revision=revision, token=token)
    files = frozenset(sibling.rfilename for sibling in info.siblings or ())
    return ModelFiles(
        model_id,
        files,
        None,
        revision=revision,
        commit=info.sha,
        from_hub=True,
        cache_dir=cache_dir,
        token=token,
    )


def _walk(root: Path) -> frozenset[str]:
    skip = {".git", ".cache"}  # git metadata, and huggingface_hub's local_dir bookkeeping
    files = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = [d for d in dirnames if d not in skip]
        rel = Path(dirpath).relative_to(root)
        files.update((rel / name).as_posix() for name in filenames)
    return frozenset(f[2:] if f.startswith("./") else f for f in files)


def _check_repo_id(model_id: str) -> None:
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(model_id)
    except HFValidationError as error:
        raise FileNotFoundError(
            f"{model_id!r} is neither a local directory nor a valid Hub repo id ({error}). "
            "Check the path exists, or use the 'org/name' form for the Hub."
        ) from None


def cached_snapshot(repo_id: str, revision: str | None, cache_dir: str | None) -> Path:
    """The cached snapshot folder of `repo_id` at `revision`, without any network access."""
    from huggingface_hub import constants
    from huggingface_hub.errors import LocalEntryNotFoundError

    cache = Path(cache_dir or constants.HF_HUB_CACHE)
    repo_cache = cache / f"models--{repo_id.replace('/', '--')}"
    revision = revision or "main"
    commit = revision
    if not _SHA.match(revision):
        ref = repo_cache / "refs" / revision
        commit = ref.read_text().strip() if ref.is_file() else ""
    snapshot = repo_cache / "snapshots" / commit
    if commit and snapshot.is_dir():
        return snapshot
    raise LocalEntryNotFoundError(
        f"{repo_id!r} at revision {revision!r} is not in the local cache ({cache}), and the Hub may not be "
        "used (local_files_only=True or HF_HUB_OFFLINE=1). Load it once online with the same cache_dir, "
        "or drop local_files_only."
    )


def config_folder(files: ModelFiles, subfolder: str) -> str:
    """Where config.json is: the subfolder first, then the repository root."""
    if subfolder.strip("/") and files.has(_join(subfolder, CONFIG_NAME)):
        return subfolder.strip("/")
    if files.has(CONFIG_NAME):
        return ""
    looked = f"{subfolder!r} and the root" if subfolder.strip("/") else "the root"
    raise FileNotFoundError(
        f"No {CONFIG_NAME} in {files.where} (looked in {looked}). A model folder needs its config: "
        "save it with save_pretrained, or pass config=."
    )


def refuse_unsupported_library(files: ModelFiles, folder: str) -> None:
    """A diffusers pipeline is recognised and refused before anything asks for its config."""
    if "model_index.json" in set(files.in_folder(folder)) | set(files.in_folder("")):
        raise ValueError(
            f"{files.where} is a diffusers pipeline (model_index.json); supported libraries are "
            "transformers, timm and sentence-transformers."
        )


def infer_library(files: ModelFiles, folder: str, config_dict: dict[str, Any]) -> str:
    """transformers, timm or sentence_transformers; anything else is a ValueError."""
    refuse_unsupported_library(files, folder)
    names = set(files.in_folder(folder)) | set(files.in_folder(""))
    if any(m in names for m in SENTENCE_TRANSFORMERS_MARKERS) or any(
        n.startswith("sentence_") for n in names
    ):
        return "sentence_transformers"
    if "architecture" in config_dict or "pretrained_cfg" in config_dict:
        return "timm"
    if "model_type" in config_dict:
        return "transformers"
    raise ValueError(
        f"Cannot tell which library the model in {files.where} comes from: its {CONFIG_NAME} has no "
        "'model_type' (transformers) nor 'architecture' (timm), and no sentence-transformers marker "
        "files. Supported libraries: transformers, timm, sentence-transformers."
    )


def weights_folder(files: ModelFiles, subfolder: str) -> str | None:
    """Folder holding PyTorch weights: the subfolder, else the root, else None."""
    for folder in dict.fromkeys([subfolder.strip("/"), ""]):
        if any(WEIGHTS_PATTERN.match(name) for name in files.in_folder(folder) if "/" not in name):
            return folder
    return None


def preprocessor_folder(files: ModelFiles, folders: Iterable[str]) -> str | None:
    for folder in dict.fromkeys(folders):
        if any(name in PREPROCESSOR_FILES for name in files.in_folder(folder) if "/" not in name):
            return folder
    return None
