"""The Hub the checks talk to: the embedded one (default) or another one (`--hub-endpoint`).

Checks publish what they need into fresh repos (`new_repo_id`) and read the server-side state
back with the real `huggingface_hub` client, so the same checks run against any Hub.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from functools import cached_property
from pathlib import Path
from typing import Any


class HubAccess:
    def __init__(self, prefix: str = "conformance") -> None:
        self.prefix = prefix
        self.created: list[str] = []
        self.shared: set[str] = set()

    @cached_property
    def api(self) -> Any:
        from huggingface_hub import HfApi

        return HfApi()

    @cached_property
    def user(self) -> str:
        return self.api.whoami()["name"]

    @property
    def other_token(self) -> str | None:
        """A valid token of another user (embedded Hub only), to check privacy."""
        tokens = dict(
            item.split(":", 1)
            for item in os.environ.get("OPTIMUM_CONFORMANCE_HUB_TOKENS", "").split(",")
            if ":" in item
        )
        others = [token for user, token in tokens.items() if user != self.user]
        return others[0] if others else None

    @cached_property
    def faults(self) -> Any:
        """The embedded Hub's handle (fault injection), or None when the checks talk to another Hub."""
        from huggingface_hub import constants

        from conformance.hub.handle import ENV_URL, EmbeddedHub

        url = os.environ.get(ENV_URL, "").rstrip("/")
        return EmbeddedHub.from_env() if url and url == constants.ENDPOINT.rstrip("/") else None

    def new_repo_id(self, label: str) -> str:
        name = f"{self.prefix}-{label}"[:80].strip("-.")  # the Hub allows 96 characters
        repo_id = f"{self.user}/{name}-{uuid.uuid4().hex[:8]}"
        self.created.append(repo_id)
        return repo_id

    def shared_repo(self, name: str, folder: Path) -> str:
        """A repo holding `folder` under a stable id (`name` must carry a content digest), uploaded
        once per process. Each worker uploads before it reads: a repo another worker has only just
        created may still be empty, and an upload of unchanged files makes no commit."""
        repo_id = f"{self.user}/{self.prefix}-{name}"[:96]
        if repo_id not in self.shared:
            if repo_id not in self.created:
                self.created.append(repo_id)
            self.publish(folder, repo_id)
            self.shared.add(repo_id)
        return repo_id

    def publish(
        self,
        folder: Path,
        repo_id: str,
        *,
        private: bool = False,
        revision: str | None = None,
        path_in_repo: str = "",
    ) -> str:
        """Upload `folder` (to `path_in_repo`) in one commit; returns the commit sha."""
        self.api.create_repo(repo_id, private=private, exist_ok=True)
        if revision:
            self.api.create_branch(repo_id, branch=revision, exist_ok=True)
        info = self.api.upload_folder(
            repo_id=repo_id, folder_path=folder, path_in_repo=path_in_repo or None, revision=revision
        )
        return info.oid

    def commits(self, repo_id: str, revision: str = "main") -> list[Any]:
        return list(self.api.list_repo_commits(repo_id, revision=revision))

    def files(self, repo_id: str, revision: str = "main") -> set[str]:
        return set(self.api.list_repo_files(repo_id, revision=revision))

    def cleanup(self) -> None:
        for repo_id in self.created:
            with contextlib.suppress(Exception):  # best effort: never hide the run's own result
                self.api.delete_repo(repo_id, missing_ok=True)
