"""load.* from a Hub and push.*: real HTTP, the real huggingface_hub client, server-side verification."""

from __future__ import annotations

import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from conformance.cases import CheckContext
from conformance.catalogue import clause
from conformance.checks.helpers import (
    RELOAD_ATOL,
    add_other_artifacts,
    as_torch,
    edit_config,
    files,
    max_difference,
    move_artifacts,
    parity_of,
)

pytestmark = pytest.mark.hub  # needs a Hub: the embedded one, or --hub-endpoint

IGNORED_ON_HUB = {".gitattributes", "README.md"}


@contextmanager
def network_blocked() -> Iterator[list]:
    """Any socket connection fails, and is recorded: "no network" means none at all."""
    attempts: list = []
    _drop_pooled_connections()  # a kept-alive connection would carry a request without connect()
    original, original_ex = socket.socket.connect, socket.socket.connect_ex

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise ConnectionRefusedError(f"network blocked by the conformance check: {address!r}")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign, assignment]
    try:
        yield attempts
    finally:
        socket.socket.connect, socket.socket.connect_ex = original, original_ex  # type: ignore[method-assign]


@contextmanager
def background_work_awaited(timeout: float = 30.0) -> Iterator[None]:
    """On exit, wait for the threads the body started: their requests are the body's, not the next step's.

    transformers, for one, starts a safetensors auto-conversion thread on an online load of a
    pytorch_model.bin repo; its Hub request would otherwise be charged to an offline load that follows.
    (With the embedded Hub it is switched off, or its outside call refused: `conformance.hub.loopback`.)
    Daemon threads are fire-and-forget by contract and are not waited for.
    """
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + timeout
    for thread in set(threading.enumerate()) - before:
        if not thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))


def _drop_pooled_connections() -> None:
    from huggingface_hub import utils

    reset = getattr(utils, "reset_sessions", None) or getattr(utils, "close_session", None)
    if reset is not None:
        reset()


@contextmanager
def offline_env() -> Iterator[None]:
    """HF_HUB_OFFLINE=1 as a process started with it sees it (huggingface_hub reads it at import)."""
    import os

    from huggingface_hub import constants

    saved_env, saved_constant = os.environ.get("HF_HUB_OFFLINE"), constants.HF_HUB_OFFLINE
    # huggingface_hub keeps one HTTP session per thread and decides at its creation whether it is
    # offline: sessions made before must not serve the offline body, and one made inside it (it
    # refuses every request) must not outlive it, or the next push in this thread fails.
    _drop_pooled_connections()
    os.environ["HF_HUB_OFFLINE"], constants.HF_HUB_OFFLINE = "1", True
    # transformers 4.x reads it once at import too (transformers.utils.hub.is_offline_mode).
    transformers_hub = sys.modules.get("transformers.utils.hub")
    saved_transformers = getattr(transformers_hub, "_is_offline_mode", None)
    if saved_transformers is not None:
        transformers_hub._is_offline_mode = True  # type: ignore[union-attr]
    try:
        yield
    finally:
        if saved_transformers is not None:
            transformers_hub._is_offline_mode = saved_transformers  # type: ignore[union-attr]
        constants.HF_HUB_OFFLINE = saved_constant
        if saved_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = saved_env
        _drop_pooled_connections()


@clause("load.hub", "core", "loads from a Hub repo id", requires=("forward",))
def test_load_hub(check: CheckContext) -> None:
    repo_id = check.published("root")
    parity_of(check, check.load(repo_id, cache_dir=check.tmp_path / "cache"))


@clause("load.hub_subfolder", "core", "loads from a subfolder of a Hub repo", requires=("forward",))
def test_load_hub_subfolder(check: CheckContext) -> None:
    folder = check.saved_copy()
    repo_id = check.published("subfolder", folder, path_in_repo="backend")
    parity_of(check, check.load(repo_id, subfolder="backend", cache_dir=check.tmp_path / "cache"))


@clause(
    "load.config_root_fallback_hub",
    "core",
    "Hub repo: artifacts in a subfolder, config.json only at the root",
    requires=("forward",),
)
def test_load_config_root_fallback_hub(check: CheckContext) -> None:
    folder = check.saved_copy()
    move_artifacts(check, folder, check.exported(), "backend")
    repo_id = check.published("root-config", folder)
    parity_of(check, check.load(repo_id, subfolder="backend", cache_dir=check.tmp_path / "cache"))


def _repo_with_branch(check: CheckContext, label: str) -> str:
    """A repo whose branch "v2" differs from main by a config marker: id2label[0] == "on-branch"."""
    folder = check.saved_copy()
    repo_id = check.published(label, folder)
    edit_config(folder, id2label={"0": "on-branch", "1": "b", "2": "c"})
    with check.at("push"):
        check.hub.publish(folder, repo_id, revision="v2")
    return repo_id


@clause("load.revision_branch", "core", "revision= loads a branch")
def test_load_revision_branch(check: CheckContext) -> None:
    repo_id = _repo_with_branch(check, "branch")
    cache = check.tmp_path / "cache"
    on_branch = check.load(repo_id, revision="v2", cache_dir=cache)
    on_main = check.load(repo_id, cache_dir=cache)
    with check.at("load"):
        assert on_branch.config.id2label[0] == "on-branch", "revision='v2' did not load the branch"
        assert on_main.config.id2label[0] != "on-branch", "the default revision loaded the branch"


def _offline(check: CheckContext, how: str) -> None:
    repo_id = check.published("offline")
    cache = check.tmp_path / "cache"
    with background_work_awaited():
        online = check.load(repo_id, cache_dir=cache)
    with network_blocked() as attempts:
        if how == "argument":
            offline = check.load(repo_id, cache_dir=cache, local_files_only=True)
        else:
            with offline_env():
                offline = check.load(repo_id, cache_dir=cache)
        names = list(check.oracle(check.inputs()))
        error = max_difference(
            check.run(offline, as_torch(check.inputs())), check.run(online, as_torch(check.inputs())), names
        )
    with check.at("load"):
        assert not attempts, f"offline loading opened {len(attempts)} connection(s): {attempts[:3]}"
        assert error <= RELOAD_ATOL


@clause(
    "load.local_files_only",
    "core",
    "local_files_only=True loads from the cache with no connection at all",
    requires=("forward",),
)
def test_load_local_files_only(check: CheckContext) -> None:
    _offline(check, "argument")


@clause(
    "load.offline_env",
    "core",
    "HF_HUB_OFFLINE=1 loads from the cache with no connection at all",
    requires=("forward",),
)
def test_load_offline_env(check: CheckContext) -> None:
    _offline(check, "environment")


@clause(
    "load.local_files_only_uncached",
    "strict",
    "nothing cached + local_files_only: typed error, fast, no network",
)
def test_load_local_files_only_uncached(check: CheckContext) -> None:
    """Nothing cached + local_files_only: a typed error, fast, without any connection."""
    start = time.monotonic()
    with network_blocked() as attempts, check.at("load"), pytest.raises(OSError) as raised:
        check.model_class().from_pretrained(
            f"{check.hub.user}/never-downloaded", cache_dir=check.tmp_path / "empty", local_files_only=True
        )
    elapsed = time.monotonic() - start
    check.metrics.update(seconds=round(elapsed, 3), error=type(raised.value).__name__)
    with check.at("load"):
        assert not attempts, f"local_files_only=True opened connection(s): {attempts[:3]}"
        assert elapsed < 5, f"took {elapsed:.1f}s"


@clause(
    "load.token_private",
    "core",
    "a private repo loads with its owner's token, not with another's",
    requires=("forward",),
)
def test_load_token_private(check: CheckContext) -> None:
    repo_id = check.published("private", private=True)
    parity_of(check, check.load(repo_id, cache_dir=check.tmp_path / "owner"))
    other = check.hub.other_token
    if other is None:
        return
    with check.at("load"), pytest.raises(Exception):  # noqa: B017 (any refusal; the type is input.* business)
        check.load(repo_id, token=other, cache_dir=check.tmp_path / "other", force_download=True)


@clause("load.cache_dir", "core", "cache_dir= is where the files are downloaded")
def test_load_cache_dir(check: CheckContext) -> None:
    repo_id = check.published("cache-dir")
    cache = check.tmp_path / "my-cache"
    check.load(repo_id, cache_dir=cache)
    with check.at("load"):
        stored = list(cache.glob(f"models--{repo_id.replace('/', '--')}/snapshots/*/*"))
        assert stored, f"nothing was downloaded into cache_dir {cache}"


# ---------------------------------------------------------------------- push


def _push(
    check: CheckContext, label: str, folder: Path | None = None, **kwargs: object
) -> tuple[str, Path, object]:
    folder = folder or check.saved_copy()
    model = check.load(folder)
    repo_id = check.hub.new_repo_id(f"{check.case.id}-{label}")
    with check.at("push"):
        result = model.push_to_hub(folder, repo_id, **kwargs)
    return repo_id, folder, result


@clause(
    "push.reload_equal",
    "core",
    "push then load from the Hub gives the same outputs (1e-7)",
    requires=("forward",),
)
def test_push_reload_equal(check: CheckContext) -> None:
    repo_id, folder, _ = _push(check, "push")
    inputs = as_torch(check.inputs())
    again = check.load(repo_id, cache_dir=check.tmp_path / "cache")
    error = max_difference(
        check.run(again, inputs), check.run(check.load(folder), inputs), list(check.oracle(check.inputs()))
    )
    check.metrics.update(max_abs_err=error, atol=RELOAD_ATOL)
    with check.at("reload"):
        assert error <= RELOAD_ATOL


@clause("push.manifest", "core", "the repo holds exactly the saved files")
def test_push_manifest(check: CheckContext) -> None:
    repo_id, folder, _ = _push(check, "manifest")
    with check.at("push"):
        on_hub = check.hub.files(repo_id) - IGNORED_ON_HUB
        assert on_hub == files(folder), f"the repo holds {sorted(on_hub)}, the folder {sorted(files(folder))}"


@clause("push.paths_preserved", "strict", "nested files keep their relative paths")
def test_push_paths_preserved(check: CheckContext) -> None:
    folder = check.saved_copy()
    (folder / "docs").mkdir()
    (folder / "docs" / "notes.txt").write_text("nested")
    repo_id, _, _ = _push(check, "paths", folder)
    with check.at("push"):
        assert "docs/notes.txt" in check.hub.files(repo_id), "the nested file lost its folder on push"


@clause("push.single_commit", "strict", "one push is one commit, and push_to_hub returns its URL")
def test_push_single_commit(check: CheckContext) -> None:
    repo_id, _, url = _push(check, "one-commit")
    with check.at("push"):
        commits = check.hub.commits(repo_id)
        mine = [c for c in commits if c.title != "initial commit"]
        check.metrics.update(commits=len(mine))
        assert len(mine) == 1, f"one push made {len(mine)} commits"
        assert isinstance(url, str) and mine[0].commit_id in url, (
            f"push_to_hub returned {url!r}, not the commit URL"
        )


@clause("push.private_token", "core", "private=True makes a repo only its owner sees")
def test_push_private_token(check: CheckContext) -> None:
    from huggingface_hub import HfApi

    repo_id, _, _ = _push(check, "private", private=True, token=None)
    with check.at("push"):
        assert HfApi().model_info(repo_id).private, "private=True made a public repo"
        other = check.hub.other_token
        if other is not None:
            assert not HfApi(token=other).repo_exists(repo_id), "another user can see the private repo"


@clause("push.revision_pr_message", "strict", "revision=, create_pr= and commit_message= are honoured")
def test_push_revision_pr_message(check: CheckContext) -> None:
    from huggingface_hub import HfApi

    folder = check.saved_copy()
    repo_id, _, _ = _push(check, "revision", folder)
    (folder / "NOTES.md").write_text("on a branch")
    model = check.load(folder)
    with check.at("push"):
        model.push_to_hub(folder, repo_id, revision="dev", commit_message="to dev")
        assert check.hub.commits(repo_id, "dev")[0].title == "to dev"
        (folder / "NOTES.md").write_text("in a PR")
        model.push_to_hub(folder, repo_id, create_pr=True, commit_message="as a PR")
        prs = HfApi().list_repo_refs(repo_id, include_pull_requests=True).pull_requests
        assert prs, "create_pr=True opened no pull request"
        assert check.hub.commits(repo_id, prs[-1].ref)[0].title == "as a PR"


@clause("push.via_save_pretrained", "core", "save_pretrained(push_to_hub=True, repository_id=...) pushes")
def test_push_via_save_pretrained(check: CheckContext) -> None:
    model = check.exported()
    repo_id = check.hub.new_repo_id(f"{check.case.id}-via-save")
    with check.at("push"):
        model.save_pretrained(check.tmp_path / "out", push_to_hub=True, repository_id=repo_id)
        assert "config.json" in check.hub.files(repo_id)
        assert set(check.spec.artifacts) <= check.hub.files(repo_id)


# ---------------------------------------------------------------------- sharper loading clauses


@clause(
    "load.config_subfolder_preferred",
    "strict",
    "with config.json in the subfolder and the root, the subfolder's wins",
)
def test_load_config_subfolder_preferred(check: CheckContext) -> None:
    folder = check.saved_copy()
    (folder / "backend").mkdir()
    for name in [*check.spec.artifacts, "config.json"] if check.spec.artifacts else ["config.json"]:
        shutil.copy(folder / name, folder / "backend" / name)
    edit_config(folder, id2label={"0": "root", "1": "root", "2": "root"})
    edit_config(folder / "backend", id2label={"0": "subfolder", "1": "subfolder", "2": "subfolder"})
    repo_id = check.published("both-configs", folder)
    model = check.load(repo_id, subfolder="backend", cache_dir=check.tmp_path / "cache")
    with check.at("load"):
        assert model.config.id2label[0] == "subfolder", "the root config.json won over the subfolder's"


@clause(
    "load.subfolder_isolation",
    "strict",
    "artifacts at the root do not leak into a subfolder load",
    requires=("forward",),
)
def test_load_subfolder_isolation(check: CheckContext) -> None:
    """Root artifacts (another model) must not leak into a subfolder load."""
    folder = check.saved_copy()
    move_artifacts(check, folder, check.exported(), "backend")
    shutil.copy(folder / "config.json", folder / "backend" / "config.json")
    add_other_artifacts(check, folder)  # DistilBERT's graph at the root, under the standard name
    repo_id = check.published("isolation", folder)
    parity_of(check, check.load(repo_id, subfolder="backend", cache_dir=check.tmp_path / "cache"))


@clause("load.revision_sha", "strict", "revision=<commit sha> loads that commit")
def test_load_revision_sha(check: CheckContext) -> None:
    folder = check.saved_copy()
    repo_id = check.hub.new_repo_id("sha")
    with check.at("push"):
        first = check.hub.publish(folder, repo_id)
        edit_config(folder, id2label={"0": "newer", "1": "b", "2": "c"})
        check.hub.publish(folder, repo_id)
    model = check.load(repo_id, revision=first, cache_dir=check.tmp_path / "cache")
    with check.at("load"):
        assert model.config.id2label[0] != "newer", "revision=<sha> loaded the newest commit instead"


@clause("load.legacy_at_revision", "core", "the legacy 'org/name@revision' form loads that revision")
def test_load_legacy_at_revision(check: CheckContext) -> None:
    repo_id = _repo_with_branch(check, "legacy-at")
    model = check.load(f"{repo_id}@v2", cache_dir=check.tmp_path / "cache")
    with check.at("load"):
        assert model.config.id2label[0] == "on-branch", "'repo@v2' did not load branch v2"


@clause(
    "load.force_download",
    "strict",
    "force_download=True replaces damaged cached files",
    requires=("forward",),
)
def test_load_force_download(check: CheckContext) -> None:
    """A damaged file in the cache is replaced when force_download=True."""
    repo_id = check.published("force")
    cache = check.tmp_path / "cache"
    check.load(repo_id, cache_dir=cache)
    for blob in cache.glob(f"models--{repo_id.replace('/', '--')}/blobs/*"):
        blob.write_bytes(b"damaged")
    parity_of(check, check.load(repo_id, cache_dir=cache, force_download=True))


@clause(
    "load.default_artifact_deterministic",
    "strict",
    "the standard artifact name wins over other artifacts",
    requires=("forward",),
)
def test_load_default_artifact_deterministic(check: CheckContext) -> None:
    """With the standard artifact and another one side by side, the standard one loads."""
    folder = check.saved_copy()
    add_other_artifacts(check, folder, prefix="a_")  # "a_model.onnx" sorts before "model.onnx"
    for _ in range(2):
        parity_of(check, check.load(folder))


@clause("load.library_unknown", "core", "a folder of an unsupported library is refused with an error")
def test_load_library_unknown(check: CheckContext) -> None:
    folder = check.tmp_path / "diffusers-like"
    folder.mkdir()
    (folder / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    with check.at("load"), pytest.raises((ValueError, OSError)) as raised:
        check.load(folder)
    check.metrics.update(error=type(raised.value).__name__)
