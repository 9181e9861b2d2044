"""Loading from and pushing to a Hub: the embedded Hub, the real huggingface_hub client, real HTTP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

from conformance import zoo
from tests.refimpl.backends import load

TASK = "text-classification"


def logits(model: object, folder: Path) -> np.ndarray:
    return model(**zoo.sample_inputs(folder, TASK)).logits


@pytest.fixture
def pushed(backend: str, exported_copy, embedded_hub) -> tuple[str, Path, str]:
    """(repo id, local folder, commit url) of a saved model pushed once."""
    folder = exported_copy()
    repo_id = embedded_hub.new_repo_id(f"{backend}-push")
    url = load(backend, TASK, folder).push_to_hub(folder, repo_id)
    return repo_id, folder, url


def test_push_is_one_commit_with_every_file(pushed, embedded_hub) -> None:
    repo_id, folder, url = pushed
    commits = embedded_hub.commits(repo_id)
    assert url.endswith(commits[0]["id"])
    user_commits = [c for c in commits if c["title"] != "initial commit"]
    assert len(user_commits) == 1
    local = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert local <= set(embedded_hub.files(repo_id))


def test_load_from_hub_equals_local_and_then_offline(backend: str, pushed, no_network_later) -> None:
    repo_id, folder, _ = pushed
    online = load(backend, TASK, repo_id)
    np.testing.assert_allclose(logits(online, folder), logits(load(backend, TASK, folder), folder), atol=1e-7)
    attempts = no_network_later()
    offline = load(backend, TASK, repo_id, local_files_only=True)
    np.testing.assert_allclose(logits(offline, folder), logits(online, folder), atol=1e-7)
    assert attempts == []


def test_nested_paths_are_preserved(backend: str, exported_copy, embedded_hub) -> None:
    folder = exported_copy()
    (folder / "docs").mkdir()
    (folder / "docs" / "notes.txt").write_text("nested")
    repo_id = embedded_hub.new_repo_id("nested")
    load(backend, TASK, folder).push_to_hub(folder, repo_id)
    assert embedded_hub.file_bytes(repo_id, "docs/notes.txt") == b"nested"


def test_push_to_branch_and_pr_with_message(backend: str, pushed, embedded_hub) -> None:
    repo_id, folder, _ = pushed
    model = load(backend, TASK, folder)
    (folder / "README.md").write_text("dev")  # an identical upload makes no commit (client rule)
    model.push_to_hub(folder, repo_id, revision="dev", commit_message="to dev")
    assert embedded_hub.commits(repo_id, "dev")[0]["title"] == "to dev"
    assert load(backend, TASK, repo_id, revision="dev").config.model_type == "bert"
    (folder / "README.md").write_text("pr")
    model.push_to_hub(folder, repo_id, create_pr=True, commit_message="as a PR")
    refs = HfApi().list_repo_refs(repo_id, include_pull_requests=True)
    assert [pr.ref for pr in refs.pull_requests] == ["refs/pr/1"]
    assert embedded_hub.commits(repo_id, "refs/pr/1")[0]["title"] == "as a PR"


def test_save_pretrained_with_push(backend: str, exported_copy, embedded_hub, tmp_path: Path) -> None:
    model = load(backend, TASK, exported_copy())
    repo_id = embedded_hub.new_repo_id("via-save")
    url = model.save_pretrained(tmp_path / "out", push_to_hub=True, repository_id=repo_id)
    assert url and embedded_hub.commits(repo_id)[0]["id"] in url
    assert "config.json" in embedded_hub.files(repo_id)


def test_private_repo_needs_the_owner_token(backend: str, exported_copy, embedded_hub) -> None:
    folder = exported_copy()
    repo_id = embedded_hub.new_repo_id("private")
    load(backend, TASK, folder).push_to_hub(folder, repo_id, private=True)
    assert load(backend, TASK, repo_id).config.model_type == "bert"  # HF_TOKEN is the owner's
    with pytest.raises(RepositoryNotFoundError):
        load(backend, TASK, repo_id, token=embedded_hub.token_for("bob"), force_download=True)


def test_hub_errors_are_typed(backend: str, pushed, embedded_hub) -> None:
    repo_id, _, _ = pushed
    with pytest.raises(RepositoryNotFoundError):
        load(backend, TASK, embedded_hub.new_repo_id("missing"))
    with pytest.raises(RevisionNotFoundError):
        load(backend, TASK, repo_id, revision="no-such-branch")
    with pytest.raises(FileNotFoundError, match="Subfolder 'nope'"):
        load(backend, TASK, repo_id, subfolder="nope")


def test_push_needs_a_saved_folder(backend: str, exported_copy, embedded_hub, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="save_pretrained"):
        load(backend, TASK, exported_copy()).push_to_hub(tmp_path / "empty", embedded_hub.new_repo_id("x"))
