"""Errors raised by the storage and route layers, turned into Hub-style HTTP responses.

The `huggingface_hub` client picks its exception class from the `X-Error-Code` header, so every
not-found error carries one (see notes/hub-protocol.md §3).
"""

from __future__ import annotations

from typing import Any


class HubError(Exception):
    """An error with the HTTP status, the `X-Error-Code` header and extra JSON fields to send."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


def repo_not_found(repo_id: str) -> HubError:
    # Same text for "absent" and "private, not yours": a private repo must not be detectable.
    return HubError(404, f"Repository Not Found for {repo_id}.", code="RepoNotFound")


def revision_not_found(revision: str) -> HubError:
    return HubError(404, f"Invalid rev id: {revision}", code="RevisionNotFound")


def entry_not_found(message: str, commit: str | None = None) -> HubError:
    headers = {"X-Repo-Commit": commit} if commit else None
    return HubError(404, message, code="EntryNotFound", headers=headers)


def bad_request(message: str) -> HubError:
    return HubError(400, message)


def unauthorized(message: str = "Invalid credentials in Authorization header") -> HubError:
    return HubError(401, message)


def forbidden(message: str) -> HubError:
    return HubError(403, message)
