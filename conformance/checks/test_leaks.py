"""What a backend must leave nowhere: Hub tokens in the files it writes (save.no_token), files in
the system temp folder or handles on the model files once the model is gone (load.no_temp_leftovers)."""

from __future__ import annotations

import gc
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from unittest import mock

import pytest

from conformance.cases import CheckContext
from conformance.catalogue import clause
from conformance.checks.helpers import as_torch, files
from conformance.engine.outcomes import not_run
from conformance.hub.auth import new_token


@contextmanager
def logged_in(token: str, stored: str, home: Path) -> Iterator[None]:
    """`HF_TOKEN` is `token`, and the Hub login's token files (under `home`, as `hf auth login`
    writes them) hold `stored`. huggingface_hub never sends the stored token while `HF_TOKEN` is
    set, so it need not be valid: only a backend that reads the login files itself can leak it."""
    from huggingface_hub import constants

    home.mkdir(parents=True, exist_ok=True)
    (home / "token").write_text(stored)
    (home / "stored_tokens").write_text(f"[conformance]\nhf_token = {stored}\n")
    with (
        mock.patch.dict(os.environ, HF_TOKEN=token),
        mock.patch.object(constants, "HF_TOKEN_PATH", str(home / "token")),
        mock.patch.object(constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens")),
    ):
        yield


def token_leaks(folder: Path, tokens: dict[str, str]) -> list[str]:
    """Where a token of `tokens` (label -> token) is in a file under `folder`, in words that show
    no token: "config.json holds the stored login token (hf_***)"."""
    found = []
    for name in sorted(files(folder)):
        content = (folder / name).read_bytes()
        found += [
            f"{name} holds {label} ({token[:3]}***)"
            for label, token in tokens.items()
            if token.encode() in content
        ]
    return found


@pytest.mark.hub
@clause(
    "save.no_token",
    "core",
    "no Hub token (token=, HF_TOKEN, the stored login) is in any byte a save writes or a push uploads "
    "(core: saved models are shared, and a token in one gives its account away)",
)
def test_save_no_token(check: CheckContext) -> None:
    from huggingface_hub import get_token, snapshot_download

    given = get_token()
    if not given:
        not_run("no Hub token here: the check loads a private repo with one")
    repo_id = check.published("private-no-token", private=True)
    # token= and HF_TOKEN are the same token: the Hub knows no other token of the repo's owner, and a
    # backend that reads the token from the environment instead must still load (load.token_private
    # judges that). The stored login token is a fresh one of its own.
    tokens = {"the token= and HF_TOKEN token": given, "the stored login token": new_token()}
    saved = check.tmp_path / "saved"
    with logged_in(given, tokens["the stored login token"], check.tmp_path / "hf-home"):
        model = check.load(repo_id, token=given, cache_dir=check.tmp_path / "cache")
        with check.at("save"):
            model.save_pretrained(saved)
        pushed = check.hub.new_repo_id(f"{check.case.id}-no-token")
        with check.at("push"):
            model.push_to_hub(saved, pushed, token=given)
            on_hub = Path(snapshot_download(pushed, cache_dir=check.tmp_path / "pushed"))
    with check.at("save"):
        leaks = token_leaks(saved, tokens)
        assert not leaks, "a token is in the saved files: " + "; ".join(leaks)
    with check.at("push"):
        leaks = token_leaks(on_hub, tokens)
        assert not leaks, "a token is in the pushed repo: " + "; ".join(leaks)


@contextmanager
def temp_folder(folder: Path) -> Iterator[None]:
    """The system temp folder is `folder`, for Python (`tempfile`) and native code (TMPDIR) alike."""
    with mock.patch.dict(os.environ, TMPDIR=str(folder)), mock.patch.object(tempfile, "tempdir", str(folder)):
        yield


def open_handles(folders: list[Path]) -> list[str] | None:
    """Files under `folders` this process holds open or memory-mapped; None where /proc does not show it."""
    proc = Path("/proc/self")
    if not (proc / "maps").is_file():
        return None
    mapped = (line.split(None, 5) for line in (proc / "maps").read_text().splitlines())
    targets = {fields[5] for fields in mapped if len(fields) == 6}
    for fd in (proc / "fd").iterdir():
        with suppress(OSError):  # closed since the listing (the listing's own fd, for one)
            targets.add(os.readlink(fd))
    roots = [f"{folder.resolve()}{os.sep}" for folder in folders]
    return sorted(t for t in targets if t.startswith(tuple(roots)))


@clause(
    "load.no_temp_leftovers",
    "core",
    "after export, load, save and del + gc.collect() nothing is left in the temp folder and no file "
    "handle is open on the model files (core: the model owns its files, and leaks fill /tmp in services)",
    requires=("forward",),
)
def test_load_no_temp_leftovers(check: CheckContext) -> None:
    """The memory maps and open files a live model may hold on its weights (OpenVINO maps its .bin)
    must go with it: after `del` and a collection, none may remain."""
    inputs = as_torch(check.inputs())  # tokenizing is the harness's work, not the backend's
    source, folder = check.source_dir(), check.saved_copy()
    # A first load outside the watched folder: what a runtime writes once per process is not a
    # leftover of this model (onnxruntime writes $TMPDIR/.ses when it is imported).
    check.load(folder)
    temp, saved = check.tmp_path / "temp", check.tmp_path / "saved"
    temp.mkdir()
    with temp_folder(temp):
        exported = check.export(source)
        check.run(exported, inputs)
        loaded = check.load(folder)
        check.run(loaded, inputs)
        with check.at("save"):
            loaded.save_pretrained(saved)
        del exported, loaded
        gc.collect()
        left = sorted(p.relative_to(temp).as_posix() for p in temp.rglob("*"))
    handles = open_handles([temp, saved, folder])
    check.metrics.update(
        temp_leftovers=len(left), open_handles="not seen" if handles is None else len(handles)
    )
    with check.at("load"):
        top = sorted({name.split("/")[0] for name in left})
        assert not left, f"left in the temp folder: {len(left)} files and folders, under {top[:5]}"
        shown = [os.path.relpath(h, check.tmp_path.resolve()) for h in handles or []][:5]
        assert not handles, f"open or mapped after del + gc.collect(): {len(handles)} model files, {shown}"
