"""Storage: content addressing, persistence across restarts, sharing a data dir, atomic commits."""

from __future__ import annotations

import hashlib
import threading

import pytest

from conformance.hub.errors import HubError
from conformance.hub.storage import (
    AddFile,
    DeleteFile,
    Storage,
    git_blob_sha1,
    lfs_pointer,
    validate_repo_path,
)

pytestmark = pytest.mark.hub


def test_git_blob_ids():
    # Same ids as `git hash-object`.
    assert git_blob_sha1(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    assert git_blob_sha1(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"
    assert lfs_pointer("ab" * 32, 5).startswith(b"version https://git-lfs.github.com/spec/v1\noid sha256:")


def test_content_addressed_and_persistent(tmp_path):
    storage = Storage(tmp_path)
    repo = storage.create_repo("model", "alice/persist", "alice", private=True)
    entry = storage.store_regular("a.txt", b"same bytes")
    again = storage.store_regular("b.txt", b"same bytes")
    assert entry.oid == again.oid == git_blob_sha1(b"same bytes")
    assert entry.sha256 == hashlib.sha256(b"same bytes").hexdigest()
    assert len(list((tmp_path / "objects" / "blob").rglob(entry.oid))) == 1
    data = b"\0" * 1000
    oid = hashlib.sha256(data).hexdigest()
    storage.store_lfs([data[:300], data[300:]], oid, len(data))
    commit, _ = storage.commit(
        "model",
        repo.id,
        "main",
        [AddFile(entry), AddFile(again), AddFile(storage.lfs_entry("w.bin", oid, len(data)))],
        author="alice",
        title="add",
    )

    reopened = Storage(tmp_path)  # a restart, or another process on the same directory
    repo2 = reopened.get_repo("model", "alice/persist")
    assert repo2 is not None and repo2.private and repo2.refs["refs/heads/main"] == commit.id
    head = reopened.commit_at(repo2, "main")
    assert head.id == commit.id and len(head.id) == 40
    assert reopened.read(head.files["w.bin"]) == data
    assert reopened.read(head.files["b.txt"]) == b"same bytes"
    assert [c.title for c in reopened.history(repo2, head.id)] == ["add", "initial commit"]


def test_failed_commit_changes_nothing(tmp_path):
    storage = Storage(tmp_path)
    repo = storage.create_repo("model", "alice/atomic", "alice", private=False)
    before = (tmp_path / "repos" / "models" / "alice" / "atomic" / "repo.json").read_bytes()
    ops = [AddFile(storage.store_regular("new.txt", b"new")), DeleteFile("missing.txt")]
    with pytest.raises(HubError) as info:
        storage.commit("model", repo.id, "main", ops, author="alice", title="half")
    assert info.value.code == "EntryNotFound"
    assert (tmp_path / "repos" / "models" / "alice" / "atomic" / "repo.json").read_bytes() == before
    assert "new.txt" not in storage.commit_at(storage.get_repo("model", repo.id), "main").files
    bad = storage.lfs_entry("w.bin", "0" * 64, 3)
    with pytest.raises(HubError):  # content not matching its oid is never stored
        storage.store_lfs([b"abc"], bad.sha256, 3)
    assert list((tmp_path / "tmp").iterdir()) == []
    assert storage.lfs_size("0" * 64) is None


def test_two_servers_share_a_data_dir(tmp_path):
    from huggingface_hub import HfApi

    from conformance.hub import HubServer

    tokens = {"alice": "hf_sharedDirToken123"}
    with HubServer(tmp_path, tokens=tokens) as one, HubServer(tmp_path, tokens=tokens) as two:
        api_one = HfApi(endpoint=one.url, token=tokens["alice"])
        api_two = HfApi(endpoint=two.url, token=tokens["alice"])
        api_one.create_repo("alice/shared")
        assert api_two.repo_exists("alice/shared")
        errors: list[BaseException] = []

        def commit(storage: Storage, name: str) -> None:
            try:
                for i in range(5):
                    entry = storage.store_regular(f"{name}-{i}.txt", f"{name} {i}".encode())
                    storage.commit(
                        "model", "alice/shared", "main", [AddFile(entry)], author="alice", title=name
                    )
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=commit, args=(s.storage, n)) for s, n in ((one, "one"), (two, "two"))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors
        files = api_two.list_repo_files("alice/shared")
        assert len([f for f in files if f.endswith(".txt")]) == 10
        assert len(list(api_one.list_repo_commits("alice/shared"))) == 11


def test_restart_keeps_repos(tmp_path):
    from huggingface_hub import HfApi

    from conformance.hub import HubServer

    tokens = {"alice": "hf_restartToken12345"}
    with HubServer(tmp_path, tokens=tokens) as server:
        api = HfApi(endpoint=server.url, token=tokens["alice"])
        api.create_repo("alice/kept", private=True)
        sha = api.model_info("alice/kept").sha
    with HubServer(tmp_path, tokens=tokens) as server:
        api = HfApi(endpoint=server.url, token=tokens["alice"])
        info = api.model_info("alice/kept")
        assert info.sha == sha and info.private


@pytest.mark.parametrize("path", ["a.txt", "dir/sub/file.bin", "weird name (1).txt", ".gitattributes"])
def test_valid_paths(path):
    assert validate_repo_path(path) == path


@pytest.mark.parametrize("path", ["", "../x", "a/..", "/abs", "a\\b", "a//b", "./a", ".git/HEAD", "a\0b", 3])
def test_invalid_paths(path):
    with pytest.raises(HubError) as info:
        validate_repo_path(path)
    assert info.value.status == 400
