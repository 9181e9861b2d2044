"""Clients with Xet enabled: regular-only mode works; the LFS-mode server fails clearly (or, on clients
< 1.20 that negotiate the transfer, still uses LFS)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from huggingface_hub import HfApi, constants, snapshot_download

from conformance.hub import HubServer

pytestmark = pytest.mark.hub


@pytest.fixture
def xet_enabled(monkeypatch):
    # is_xet_available() re-reads this attribute on every call.
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)


@pytest.fixture
def regular_only_hub(embedded_hub, use_endpoint, tmp_path):
    with HubServer(tmp_path / "data", tokens=embedded_hub.tokens, regular_only=True) as server:
        use_endpoint(server.url)
        yield server


def test_regular_only_mode_with_xet_enabled(embedded_hub, regular_only_hub, xet_enabled, tmp_path):
    server = regular_only_hub
    api = HfApi(endpoint=server.url, token=embedded_hub.token)
    folder = tmp_path / "src"
    (folder / "nested").mkdir(parents=True)
    files = {
        "model.bin": os.urandom(2 * 1024 * 1024),
        "nested/config.json": b"{}",
        "w.safetensors": b"\0" * 99,
    }
    for rel, data in files.items():
        (folder / rel).write_bytes(data)
    rid = embedded_hub.new_repo_id("xet")
    api.create_repo(rid)
    api.upload_folder(folder_path=folder, repo_id=rid)

    repo = server.storage.get_repo("model", rid)
    head = server.storage.commit_at(repo, "main")
    assert not any(entry.lfs for entry in head.files.values())  # every file inlined as regular
    snapshot = Path(snapshot_download(rid, endpoint=server.url, cache_dir=tmp_path / "cache"))
    for rel, data in files.items():
        assert (snapshot / rel).read_bytes() == data

    # create_pr goes through the discussions route when the upload pipeline is used (Xet clients >= 1.20).
    (folder / "pr.txt").write_bytes(b"proposal")
    info = api.upload_folder(folder_path=folder, repo_id=rid, create_pr=True, commit_message="propose")
    pr_ref = next(ref for ref in server.storage.get_repo("model", rid).refs if ref.startswith("refs/pr/"))
    if hasattr(info, "pr_revision"):
        assert info.pr_revision == pr_ref
    assert "pr.txt" in api.list_repo_files(rid, revision=pr_ref)
    assert "pr.txt" not in api.list_repo_files(rid)


def test_xet_client_against_lfs_mode(embedded_hub, api, repo_id, xet_enabled):
    before = embedded_hub.repo_state(repo_id)
    data = os.urandom(2 * 1024 * 1024)
    try:
        api.upload_file(path_or_fileobj=data, path_in_repo="model.bin", repo_id=repo_id)
    except Exception as exc:
        # Clients >= 1.20 ask for a Xet token: the server says 501 and nothing is committed.
        assert "xet-write-token" in str(exc) and "501" in str(exc)
        assert embedded_hub.repo_state(repo_id) == before
    else:
        # Older clients offer "xet" in the LFS batch; the server picks "basic".
        assert embedded_hub.files(repo_id)["model.bin"]["lfs"] is True
        assert embedded_hub.file_bytes(repo_id, "model.bin") == data
