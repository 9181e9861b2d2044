"""The real huggingface_hub client against the embedded Hub: push, pull, refs, visibility, errors."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.utils import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

pytestmark = pytest.mark.hub

BIG = 3 * 1024 * 1024 + 17  # multi-MB binary: goes through LFS (batch + PUT + verify)


def make_folder(root: Path) -> dict[str, bytes]:
    files = {
        "config.json": b'{"model_type": "tiny"}\n',
        "nested/deep/notes.txt": b"hello from a nested path\n",
        "nested/empty.txt": b"",
        "weights/model.bin": os.urandom(BIG),
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def test_create_repo_exist_ok(embedded_hub, api):
    rid = embedded_hub.new_repo_id()
    url = api.create_repo(rid)
    assert url.repo_id == rid
    assert url.startswith(embedded_hub.url)
    assert api.create_repo(rid, exist_ok=True).repo_id == rid
    with pytest.raises(HfHubHTTPError) as info:
        api.create_repo(rid)
    assert info.value.response.status_code == 409
    assert api.repo_exists(rid)


def test_upload_folder_then_download_byte_identical(embedded_hub, api, repo_id, tmp_path):
    files = make_folder(tmp_path / "src")
    info = api.upload_folder(folder_path=tmp_path / "src", repo_id=repo_id, commit_message="add model")

    server_files = embedded_hub.files(repo_id)
    assert set(server_files) == {".gitattributes", *files}
    assert server_files["weights/model.bin"]["lfs"] is True
    assert (
        server_files["weights/model.bin"]["sha256"] == hashlib.sha256(files["weights/model.bin"]).hexdigest()
    )
    assert server_files["config.json"]["lfs"] is False

    # One commit, and every place that names it agrees.
    state = embedded_hub.repo_state(repo_id)
    head = state["commits"][0]["id"]
    assert len(head) == 40 and state["commits"][0]["title"] == "add model"
    assert state["refs"]["refs/heads/main"] == head
    model = api.model_info(repo_id, files_metadata=True)
    assert model.sha == head
    assert api.list_repo_refs(repo_id).branches[0].target_commit == head
    if getattr(info, "oid", None):  # 0.36's upload_folder returns a URL string
        assert info.oid == head
    lfs_sibling = next(s for s in model.siblings if s.rfilename == "weights/model.bin")
    assert lfs_sibling.lfs.sha256 == server_files["weights/model.bin"]["sha256"]
    assert lfs_sibling.size == BIG

    assert sorted(api.list_repo_files(repo_id)) == sorted([".gitattributes", *files])
    assert api.file_exists(repo_id, "nested/deep/notes.txt")
    assert not api.file_exists(repo_id, "nested/deep/missing.txt")
    assert api.repo_exists(repo_id)

    snapshot = Path(snapshot_download(repo_id, cache_dir=tmp_path / "cache"))
    assert snapshot.name == head
    for rel, data in files.items():
        assert (snapshot / rel).read_bytes() == data, rel

    single = hf_hub_download(repo_id, "weights/model.bin", cache_dir=tmp_path / "cache2")
    assert Path(single).read_bytes() == files["weights/model.bin"]
    local = hf_hub_download(repo_id, "nested/deep/notes.txt", local_dir=tmp_path / "local")
    assert Path(local).read_bytes() == files["nested/deep/notes.txt"]


def test_tree_and_paths_info(api, repo_id):
    api.upload_file(path_or_fileobj=b"a", path_in_repo="dir/sub/a.txt", repo_id=repo_id)
    api.upload_file(path_or_fileobj=b"b", path_in_repo="dir/b.txt", repo_id=repo_id)
    top = {e.path for e in api.list_repo_tree(repo_id)}
    assert top == {".gitattributes", "dir"}
    inside = {e.path for e in api.list_repo_tree(repo_id, path_in_repo="dir")}
    assert inside == {"dir/sub", "dir/b.txt"}
    everything = {e.path for e in api.list_repo_tree(repo_id, recursive=True)}
    assert everything == {".gitattributes", "dir", "dir/sub", "dir/sub/a.txt", "dir/b.txt"}
    infos = api.get_paths_info(repo_id, ["dir/b.txt", "dir/sub", "missing"])
    assert sorted(i.path for i in infos) == ["dir/b.txt", "dir/sub"]


def test_branches_and_revisions(embedded_hub, api, repo_id, tmp_path):
    first = api.upload_file(path_or_fileobj=b"v1", path_in_repo="file.txt", repo_id=repo_id).oid
    api.upload_file(path_or_fileobj=b"v2", path_in_repo="file.txt", repo_id=repo_id)

    api.create_branch(repo_id, branch="dev")
    api.create_branch(repo_id, branch="dev", exist_ok=True)
    api.create_branch(repo_id, branch="feature/x", revision=first)
    api.upload_file(path_or_fileobj=b"dev only", path_in_repo="dev.txt", repo_id=repo_id, revision="dev")
    api.upload_file(path_or_fileobj=b"feature", path_in_repo="f.txt", repo_id=repo_id, revision="feature/x")

    cache = tmp_path / "cache"
    assert (
        Path(hf_hub_download(repo_id, "dev.txt", revision="dev", cache_dir=cache)).read_bytes() == b"dev only"
    )
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo_id, "dev.txt", cache_dir=cache)
    # "feature/x" travels %2F-encoded; it started from the first commit.
    assert (
        Path(hf_hub_download(repo_id, "file.txt", revision="feature/x", cache_dir=cache)).read_bytes()
        == b"v1"
    )
    assert Path(hf_hub_download(repo_id, "file.txt", revision=first, cache_dir=cache)).read_bytes() == b"v1"
    assert Path(hf_hub_download(repo_id, "file.txt", cache_dir=cache)).read_bytes() == b"v2"
    assert api.model_info(repo_id, revision=first).sha == first

    branches = {b.name for b in api.list_repo_refs(repo_id).branches}
    assert branches == {"main", "dev", "feature/x"}
    assert [c.title for c in api.list_repo_commits(repo_id, revision="dev")][-1] == "initial commit"
    api.delete_branch(repo_id, branch="feature/x")
    assert "refs/heads/feature/x" not in embedded_hub.repo_state(repo_id)["refs"]
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo_id, "file.txt", revision="feature/x", cache_dir=tmp_path / "c2")


def test_create_pr(embedded_hub, api, repo_id, tmp_path):
    info = api.upload_file(
        path_or_fileobj=b"proposal", path_in_repo="pr.txt", repo_id=repo_id, create_pr=True
    )
    assert info.pr_revision == "refs/pr/1"
    assert info.pr_url.endswith("/discussions/1")
    assert "pr.txt" not in api.list_repo_files(repo_id)
    assert "pr.txt" in api.list_repo_files(repo_id, revision="refs/pr/1")
    path = hf_hub_download(repo_id, "pr.txt", revision="refs/pr/1", cache_dir=tmp_path)
    assert Path(path).read_bytes() == b"proposal"
    prs = api.list_repo_refs(repo_id, include_pull_requests=True).pull_requests
    assert [p.ref for p in prs] == ["refs/pr/1"]

    # The discussions route (used by create_pull_request and the Xet pipeline's create_pr).
    pr = api.create_pull_request(repo_id, title="second", description="more")
    assert pr.num == 2 and pr.is_pull_request and pr.status == "open"
    api.upload_file(path_or_fileobj=b"more", path_in_repo="more.txt", repo_id=repo_id, revision="refs/pr/2")
    api.merge_pull_request(repo_id, 2)
    assert "more.txt" in api.list_repo_files(repo_id)
    assert api.get_discussion_details(repo_id, 2).status == "merged"
    assert embedded_hub.repo_state(repo_id)["discussions"]["1"]["status"] == "open"


def test_private_repo_is_invisible_to_others(embedded_hub, tmp_path):
    alice = HfApi(endpoint=embedded_hub.url, token=embedded_hub.token_for("alice"))
    bob = HfApi(endpoint=embedded_hub.url, token=embedded_hub.token_for("bob"))
    anonymous = HfApi(endpoint=embedded_hub.url, token=False)
    rid = embedded_hub.new_repo_id("secret", user="alice")
    alice.create_repo(rid, private=True)
    alice.upload_file(path_or_fileobj=b"top secret", path_in_repo="s.txt", repo_id=rid)

    assert alice.model_info(rid).private is True
    for other in (bob, anonymous):
        assert not other.repo_exists(rid)
        with pytest.raises(RepositoryNotFoundError):
            other.model_info(rid)
        with pytest.raises(RepositoryNotFoundError):
            other.list_repo_files(rid)
    for token in (embedded_hub.token_for("bob"), False):
        with pytest.raises(RepositoryNotFoundError):
            hf_hub_download(rid, "s.txt", token=token, cache_dir=tmp_path)
    # With the owner's token it downloads.
    path = hf_hub_download(rid, "s.txt", token=embedded_hub.token_for("alice"), cache_dir=tmp_path)
    assert Path(path).read_bytes() == b"top secret"

    # Bob may write only under "bob/".
    with pytest.raises(HfHubHTTPError) as info:
        bob.create_repo(embedded_hub.new_repo_id(user="alice"))
    assert info.value.response.status_code == 403
    public = embedded_hub.new_repo_id(user="alice")
    alice.create_repo(public)
    with pytest.raises(HfHubHTTPError) as info:
        bob.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=public)
    assert info.value.response.status_code == 403
    bob_repo = bob.create_repo(embedded_hub.new_repo_id(user="bob")).repo_id
    assert bob_repo.startswith("bob/")


def test_not_found_errors_are_typed(embedded_hub, api, repo_id, tmp_path):
    missing_repo = embedded_hub.new_repo_id("missing")
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(missing_repo)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(missing_repo, "config.json", cache_dir=tmp_path)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo_id, ".gitattributes", revision="no-such-branch", cache_dir=tmp_path)
    with pytest.raises(RevisionNotFoundError):
        api.model_info(repo_id, revision="no-such-branch")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo_id, "no-such-file.json", cache_dir=tmp_path)
    assert not api.repo_exists(missing_repo)
    assert not api.revision_exists(repo_id, "no-such-branch")


def test_gated_repo(embedded_hub, api, repo_id, tmp_path):
    api.upload_file(path_or_fileobj=b"gated", path_in_repo="g.txt", repo_id=repo_id)
    api.update_repo_settings(repo_id, gated="auto")
    bob = HfApi(endpoint=embedded_hub.url, token=embedded_hub.token_for("bob"))
    assert bob.repo_exists(repo_id)  # gated repos exist, their files are restricted
    with pytest.raises(GatedRepoError):
        hf_hub_download(repo_id, "g.txt", token=embedded_hub.token_for("bob"), cache_dir=tmp_path)
    assert Path(hf_hub_download(repo_id, "g.txt", cache_dir=tmp_path)).read_bytes() == b"gated"


def test_deletions_and_parent_commit(embedded_hub, api, repo_id, tmp_path):
    for rel in ("a/one.txt", "a/two.txt", "b/three.txt", "b/c/four.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    api.upload_folder(folder_path=tmp_path, repo_id=repo_id)
    head = embedded_hub.repo_state(repo_id)["revision"]
    api.delete_file("a/one.txt", repo_id=repo_id)
    api.delete_folder("b", repo_id=repo_id)
    assert sorted(api.list_repo_files(repo_id)) == [".gitattributes", "a/two.txt"]
    with pytest.raises(EntryNotFoundError):
        api.delete_file("a/one.txt", repo_id=repo_id)
    before = embedded_hub.repo_state(repo_id)
    # A stale parent commit is refused and changes nothing.
    with pytest.raises(HfHubHTTPError) as info:
        api.upload_file(path_or_fileobj=b"z", path_in_repo="z.txt", repo_id=repo_id, parent_commit=head)
    assert info.value.response.status_code == 412
    assert embedded_hub.repo_state(repo_id) == before
    api.delete_repo(repo_id)
    assert not api.repo_exists(repo_id)
    assert embedded_hub.repo_state(repo_id) is None
    api.delete_repo(repo_id, missing_ok=True)


def test_concurrent_uploads(embedded_hub, api, repo_id):
    errors: list[BaseException] = []
    payloads = {f"thread-{i}.bin": os.urandom(1024 * 1024 + i) for i in range(2)}

    def upload(path: str) -> None:
        try:
            api.upload_file(path_or_fileobj=payloads[path], path_in_repo=path, repo_id=repo_id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    commits = embedded_hub.commits(repo_id)
    assert len(commits) == 3  # initial + one per thread, serialized on the branch head
    for path, data in payloads.items():
        assert embedded_hub.file_bytes(repo_id, path) == data


def test_dataset_repo_round_trip(embedded_hub, api, tmp_path):
    rid = embedded_hub.new_repo_id("data")
    url = api.create_repo(rid, repo_type="dataset")
    assert url.repo_type == "dataset" and "/datasets/" in url
    table = os.urandom(1024 * 1024 + 1)
    api.upload_file(path_or_fileobj=table, path_in_repo="train.parquet", repo_id=rid, repo_type="dataset")
    assert embedded_hub.files(rid, repo_type="dataset")["train.parquet"]["lfs"] is True
    assert api.dataset_info(rid).sha == embedded_hub.commits(rid, repo_type="dataset")[0]["id"]
    folder = Path(snapshot_download(rid, repo_type="dataset", cache_dir=tmp_path))
    assert (folder / "train.parquet").read_bytes() == table
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(rid)  # same id, other type
