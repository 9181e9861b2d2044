"""Control endpoints under `/_conformance/`, for tests running in other processes.

Everything but `health` needs the admin token (`Authorization: Bearer <admin token>`); with no
admin token configured the endpoints do not exist. Faults never apply to these routes.
"""

from __future__ import annotations

import hmac
import re
from urllib.parse import unquote

from .errors import HubError, bad_request, repo_not_found
from .faults import Fault
from .routes import repo_type_of
from .wire import SEG, Request, Response, Router, json_response

_REPO = rf"/_conformance/repos/(?P<type>models|datasets|spaces)/(?P<ns>{SEG})/(?P<name>{SEG})"


def register(router: Router) -> None:
    router.add("GET", r"/_conformance/health", health)
    router.add("GET POST DELETE", r"/_conformance/faults", faults)
    router.add("DELETE", r"/_conformance/faults/(?P<fault_id>[0-9a-f]+)", delete_fault)
    router.add("GET", r"/_conformance/repos", list_repos)
    router.add("GET", _REPO, repo_state)
    router.add("GET", _REPO + r"/file", repo_file)


def _require_admin(req: Request) -> None:
    expected = req.app.admin_token
    if not expected:
        raise HubError(404, "The control endpoint is disabled (no admin token configured)")
    token = req.bearer_token() or ""
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise HubError(401, "The control endpoint needs the admin token")


def health(req: Request) -> Response:
    return json_response({"ok": True, "url": req.app.url})


def faults(req: Request) -> Response:
    _require_admin(req)
    injector = req.app.faults
    if req.method == "GET":
        return json_response(injector.list())
    if req.method == "DELETE":
        injector.clear()
        return json_response({"cleared": True})
    data = req.json_object()
    try:
        fault = Fault.from_dict(data)
    except (TypeError, ValueError, re.error) as exc:
        raise bad_request(f"Invalid fault: {exc}") from None
    injector.add(fault)
    return json_response(fault.to_dict())


def delete_fault(req: Request, fault_id: str) -> Response:
    _require_admin(req)
    if not req.app.faults.remove(fault_id):
        raise HubError(404, f"No fault {fault_id}")
    return json_response({"removed": fault_id})


def list_repos(req: Request) -> Response:
    _require_admin(req)
    repos = req.app.storage.list_repos()
    return json_response(
        [{"type": r.type, "id": r.id, "private": r.private, "owner": r.owner} for r in repos]
    )


def _repo(req: Request, type: str, ns: str, name: str):
    repo_id = f"{unquote(ns)}/{unquote(name)}"
    repo = req.app.storage.get_repo(repo_type_of(type), repo_id)
    if repo is None:
        raise repo_not_found(repo_id)
    return repo


def repo_state(req: Request, type: str, ns: str, name: str) -> Response:
    """Server-side truth for assertions: refs, history and files at `revision` (default main)."""
    _require_admin(req)
    repo = _repo(req, type, ns, name)
    storage = req.app.storage
    head = storage.commit_at(repo, req.param("revision") or "main")
    history = [
        {"id": c.id, "parents": list(c.parents), "title": c.title, "message": c.message, "author": c.author}
        for c in storage.history(repo, head.id)
    ]
    return json_response(
        {
            "id": repo.id,
            "type": repo.type,
            "owner": repo.owner,
            "private": repo.private,
            "gated": repo.gated,
            "refs": repo.refs,
            "revision": head.id,
            "commits": history,
            "files": {p: e.to_json() for p, e in sorted(head.files.items())},
            "discussions": {
                n: {k: v for k, v in d.items() if k != "events"} for n, d in repo.discussions.items()
            },
        }
    )


def repo_file(req: Request, type: str, ns: str, name: str) -> Response:
    _require_admin(req)
    repo = _repo(req, type, ns, name)
    head = req.app.storage.commit_at(repo, req.param("revision") or "main")
    entry = head.files.get(req.param("path") or "")
    if entry is None:
        raise HubError(404, "No such file", code="EntryNotFound")
    return Response(200, {"Content-Type": "application/octet-stream"}, req.app.storage.read(entry))
