"""Git LFS batch API (basic transfer): batch, upload (PUT) and verify.

The client PUTs contents *without* a token (presigned-URL style), so the upload URL itself is the
credential: it carries a random per-batch secret that only the authenticated batch call returns.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from typing import Any
from urllib.parse import unquote

from .errors import HubError, bad_request, forbidden
from .routes import repo_type_of, write_repo
from .storage import SHA256_RE
from .wire import SEG, URL_REPO, Request, Response, Router

LFS_JSON = "application/vnd.git-lfs+json"
_UPLOAD = rf"/_lfs/(?P<type>models|datasets|spaces)/(?P<ns>{SEG})/(?P<name>{SEG})/(?P<secret>{SEG})/(?P<oid>[0-9a-f]{{64}})"


class PendingUploads:
    """Secrets handed out by batch calls: secret -> (repo, {oid: size}), valid for `ttl` seconds."""

    def __init__(self, ttl: float = 3600.0) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[str, str, dict[str, int], float]] = {}

    def issue(self, repo_type: str, repo_id: str, objects: dict[str, int]) -> str:
        secret = secrets.token_urlsafe(24)
        now = time.monotonic()
        with self._lock:
            self._pending = {k: v for k, v in self._pending.items() if v[3] > now}
            self._pending[secret] = (repo_type, repo_id, dict(objects), now + self.ttl)
        return secret

    def size_for(self, repo_type: str, repo_id: str, secret: str, oid: str) -> int | None:
        with self._lock:
            entry = self._pending.get(secret)
        if entry is None or entry[3] < time.monotonic() or entry[:2] != (repo_type, repo_id):
            return None
        return entry[2].get(oid)


def register(router: Router) -> None:
    router.add("POST", URL_REPO + r"\.git/info/lfs/objects/batch", batch)
    router.add("PUT", _UPLOAD, upload)
    router.add("POST", _UPLOAD + "/verify", verify)


def _lfs_json(data: Any, status: int = 200) -> Response:
    return Response(status, {"Content-Type": LFS_JSON}, json.dumps(data).encode())


def batch(req: Request, ns: str, name: str, prefix: str | None = None) -> Response:
    repo = write_repo(req, repo_type_of(prefix=prefix), ns, name)
    data = req.json_object()
    if data.get("operation") != "upload":
        raise HubError(422, "Only the 'upload' operation is supported by this server")
    objects = data.get("objects")
    if not isinstance(objects, list) or len(objects) > 1000:
        raise bad_request("'objects' must be a list of at most 1000 entries")
    wanted: dict[str, int] = {}
    answers: list[dict[str, Any]] = []
    for obj in objects:
        oid, size = (obj.get("oid"), obj.get("size")) if isinstance(obj, dict) else (None, None)
        answer: dict[str, Any] = {"oid": oid, "size": size}
        if not isinstance(oid, str) or not SHA256_RE.match(oid) or not isinstance(size, int) or size < 0:
            answer["error"] = {"code": 422, "message": "Invalid oid or size"}
        elif size > req.app.max_body_bytes:
            answer["error"] = {"code": 413, "message": f"Object larger than the server limit ({size} bytes)"}
        elif req.app.storage.lfs_size(oid) != size:
            wanted[oid] = size  # no `actions` below = already stored, nothing to upload
        answers.append(answer)
    if wanted:
        secret = req.app.lfs_uploads.issue(repo.type, repo.id, wanted)
        base = f"{req.app.url}/_lfs/{repo.type}s/{repo.id}/{secret}"
        for answer in answers:
            if answer["oid"] in wanted and "error" not in answer:
                href = f"{base}/{answer['oid']}"
                answer["authenticated"] = True
                answer["actions"] = {
                    "upload": {"href": href, "header": {}, "expires_in": 3600},
                    "verify": {"href": f"{href}/verify", "header": {}, "expires_in": 3600},
                }
    return _lfs_json({"transfer": "basic", "objects": answers, "hash_algo": "sha256"})


def _pending_size(req: Request, type: str, ns: str, name: str, secret: str, oid: str) -> int:
    repo_id = f"{unquote(ns)}/{unquote(name)}"
    size = req.app.lfs_uploads.size_for(repo_type_of(type), repo_id, secret, oid)
    if size is None:
        raise forbidden("Invalid or expired upload URL")
    return size


def upload(req: Request, type: str, ns: str, name: str, secret: str, oid: str) -> Response:
    size = _pending_size(req, type, ns, name, secret, oid)
    # The content is checked against oid and size before it is kept (store_lfs).
    req.app.storage.store_lfs(req.iter_body(limit=size), oid, size)
    return Response(200)


def verify(req: Request, type: str, ns: str, name: str, secret: str, oid: str) -> Response:
    write_repo(req, repo_type_of(type), ns, name)
    size = _pending_size(req, type, ns, name, secret, oid)
    data = req.json_object()
    if data.get("oid") not in (None, oid) or data.get("size") not in (None, size):
        raise bad_request("verify: oid or size does not match the upload")
    if req.app.storage.lfs_size(oid) != size:
        raise HubError(404, f"LFS object {oid} was not uploaded")
    return _lfs_json({"message": "Verified"})
