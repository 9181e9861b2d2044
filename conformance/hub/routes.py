"""The Hub API: repos, info, tree, preupload, commit, resolve, refs, branches, discussions.

Wire formats and the client's expectations are in notes/hub-protocol.md §2. Every handler takes
the `Request` and the raw (percent-encoded) path groups of its pattern.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import Any
from urllib.parse import unquote

from .auth import NAME_RE
from .errors import HubError, bad_request, entry_not_found, forbidden, repo_not_found, unauthorized
from .storage import (
    REPO_TYPES,
    AddFile,
    Commit,
    DeleteFile,
    DeleteFolder,
    FileEntry,
    Operation,
    Repo,
    lfs_patterns,
    matches_any,
    validate_repo_path,
)
from .wire import API_REPO, SEG, URL_REPO, Request, Response, Router, json_response

PLURAL_TO_TYPE = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
XET_MESSAGE = (
    "This embedded Hub does not implement Xet storage. Set HF_HUB_DISABLE_XET=1 in the client's "
    "environment (LFS uploads), or start the server in regular-only mode "
    "(`optimum-conformance hub serve --regular-only`, HubServer(regular_only=True))."
)


def register(router: Router) -> None:
    router.add("GET", r"/api/whoami(?:-v2)?", whoami)
    router.add("POST", r"/api/repos/create", create_repo)
    router.add("DELETE", r"/api/repos/delete", delete_repo)
    router.add("POST", r"/api/validate-yaml", validate_yaml)
    router.add("GET POST", r"/api/telemetry/.*", lambda req: json_response({}))
    router.add("GET", API_REPO, repo_info)
    router.add("GET", API_REPO + rf"/revision/(?P<rev>{SEG})", repo_info)
    router.add("GET", API_REPO + rf"/tree/(?P<rev>{SEG})(?:/(?P<path>.*))?", tree)
    router.add("POST", API_REPO + rf"/paths-info/(?P<rev>{SEG})", paths_info)
    router.add("POST", API_REPO + rf"/preupload/(?P<rev>{SEG})", preupload)
    router.add("POST", API_REPO + rf"/commit/(?P<rev>{SEG})", commit)
    router.add("GET", API_REPO + r"/refs", refs)
    router.add("POST DELETE", API_REPO + rf"/branch/(?P<branch>{SEG})", branch)
    router.add("GET", API_REPO + rf"/commits/(?P<rev>{SEG})", commits)
    router.add("PUT", API_REPO + r"/settings", settings)
    router.add("GET POST", API_REPO + r"/discussions", discussions)
    router.add("GET", API_REPO + r"/discussions/(?P<num>\d+)", discussion_details)
    router.add(
        "POST", API_REPO + r"/discussions/(?P<num>\d+)/(?P<action>comment|status|merge)", discussion_action
    )
    router.add("GET POST", API_REPO + rf"/xet-(?P<kind>read|write)-token/(?P<rev>{SEG})", xet_token)
    router.add("GET", URL_REPO + rf"/resolve/(?P<rev>{SEG})/(?P<path>.+)", resolve)


# ---------------------------------------------------------------------- access helpers
def repo_type_of(plural: str | None = None, prefix: str | None = None) -> str:
    if plural is not None:
        return PLURAL_TO_TYPE[plural]
    return {"datasets": "dataset", "spaces": "space"}.get(prefix or "", "model")


def read_repo(req: Request, repo_type: str, ns: str, name: str) -> Repo:
    """The repo if it exists and the caller may see it; otherwise the same 404 either way."""
    repo_id = f"{unquote(ns)}/{unquote(name)}"
    user = req.user  # a wrong token fails here (401) even for public repos
    repo = req.app.storage.get_repo(repo_type, repo_id)
    if repo is None or (repo.private and user != repo.owner):
        raise repo_not_found(repo_id)
    return repo


def write_repo(req: Request, repo_type: str, ns: str, name: str) -> Repo:
    user = req.require_user()
    repo = read_repo(req, repo_type, ns, name)
    if user != repo.owner:
        raise forbidden(f"You don't have write access to {repo_type} repo {repo.id}")
    return repo


def repo_url(req: Request, repo: Repo) -> str:
    return f"{req.app.url}/{URL_PREFIX[repo.type]}{repo.id}"


# ---------------------------------------------------------------------- account and repos
def whoami(req: Request) -> Response:
    user = req.user
    if user is None:
        raise unauthorized("Invalid user token")
    return json_response(
        {
            "type": "user",
            "id": hashlib.sha1(user.encode()).hexdigest()[:24],
            "name": user,
            "fullname": user,
            "email": None,
            "emailVerified": False,
            "isPro": False,
            "canPay": False,
            "avatarUrl": "",
            "orgs": [],
            "auth": {"type": "access_token", "accessToken": {"displayName": "conformance", "role": "write"}},
        }
    )


def create_repo(req: Request) -> Response:
    user = req.require_user()
    data = req.json_object()
    name, org = data.get("name"), data.get("organization")
    repo_type = data.get("type") or "model"
    if repo_type not in REPO_TYPES:
        raise bad_request(f"Invalid repo type {repo_type!r}")
    if not isinstance(name, str) or not NAME_RE.match(name) or name.endswith(".git"):
        raise bad_request(f"Invalid repo name {name!r}: use letters, digits, '-', '_', '.' (max 96)")
    if org is not None and (not isinstance(org, str) or not NAME_RE.match(org)):
        raise bad_request(f"Invalid organization {org!r}")
    ns = org or user
    if ns != user:
        raise forbidden(f'You don\'t have the rights to create a {repo_type} under the namespace "{ns}"')
    visibility = data.get("visibility")
    private = visibility in ("private", "protected") if visibility else bool(data.get("private"))
    repo_id = f"{ns}/{name}"
    url = f"{req.app.url}/{URL_PREFIX[repo_type]}{repo_id}"
    try:
        repo = req.app.storage.create_repo(repo_type, repo_id, user, private)
    except HubError as exc:
        exc.extra["url"] = url  # the client reads `url` from a 409 when exist_ok=True
        raise
    return json_response({"url": url, "name": repo_id, "id": repo.uid})


def delete_repo(req: Request) -> Response:
    user = req.require_user()
    data = req.json_object()
    repo_type = data.get("type") or "model"
    if repo_type not in REPO_TYPES or not isinstance(data.get("name"), str):
        raise bad_request("Invalid repo type or name")
    ns = data.get("organization") or user
    repo = write_repo(req, repo_type, str(ns), data["name"])
    req.app.storage.delete_repo(repo_type, repo.id)
    return json_response({})


def settings(req: Request, type: str, ns: str, name: str) -> Response:
    repo = write_repo(req, repo_type_of(type), ns, name)
    data = req.json_object()
    private = data.get("private")
    if data.get("visibility"):
        private = data["visibility"] in ("private", "protected")
    gated = data.get("gated")
    if gated is not None and gated not in (False, "auto", "manual"):
        raise bad_request("gated must be false, 'auto' or 'manual'")
    req.app.storage.update_settings(repo.type, repo.id, private=private, gated=gated)
    return json_response({})


def validate_yaml(req: Request) -> Response:
    data = req.json_object()
    if not isinstance(data.get("content"), str):
        raise bad_request("'content' must be a string")
    return json_response({"errors": [], "warnings": []})


# ---------------------------------------------------------------------- reading
def file_json(entry: FileEntry, last_commit: Commit | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "file", "oid": entry.oid, "size": entry.size, "path": entry.path}
    if entry.lfs:
        data["lfs"] = {"oid": entry.sha256, "size": entry.size, "pointerSize": entry.pointer_size}
    if last_commit is not None:
        data["lastCommit"] = {"id": last_commit.id, "title": last_commit.title, "date": last_commit.date}
    return data


def dir_json(path: str, files: dict[str, FileEntry], last_commit: Commit | None = None) -> dict[str, Any]:
    prefix = path + "/"
    listing = "\n".join(f"{p} {e.oid}" for p, e in sorted(files.items()) if p.startswith(prefix))
    data: dict[str, Any] = {"type": "directory", "oid": hashlib.sha1(listing.encode()).hexdigest(), "size": 0}
    data["path"] = path
    if last_commit is not None:
        data["lastCommit"] = {"id": last_commit.id, "title": last_commit.title, "date": last_commit.date}
    return data


def _last_commit(history: list[Commit], path: str) -> Commit:
    """The newest commit of `history` (first-parent, newest first) that changed `path`."""

    def view(commit: Commit) -> Any:
        if path in commit.files:
            return commit.files[path]
        return sorted((p, e) for p, e in commit.files.items() if p.startswith(path + "/"))

    for commit, parent in zip(history, [*history[1:], None]):
        if parent is None or view(commit) != view(parent):
            return commit
    return history[0]


def repo_info(req: Request, type: str, ns: str, name: str, rev: str | None = None) -> Response:
    repo = read_repo(req, repo_type_of(type), ns, name)
    commit = req.app.storage.commit_at(repo, unquote(rev) if rev else repo.default_branch)
    with_blobs = req.flag("blobs")
    siblings = []
    for entry in sorted(commit.files.values(), key=lambda e: e.path):
        sibling: dict[str, Any] = {"rfilename": entry.path}
        if with_blobs:
            sibling.update(size=entry.size, blobId=entry.oid)
            if entry.lfs:
                sibling["lfs"] = {
                    "sha256": entry.sha256,
                    "size": entry.size,
                    "pointerSize": entry.pointer_size,
                }
        siblings.append(sibling)
    info = {
        "_id": repo.uid,
        "id": repo.id,
        "author": repo.id.split("/")[0],
        "sha": commit.id,
        "lastModified": commit.date,
        "createdAt": repo.created_at,
        "private": repo.private,
        "gated": repo.gated,
        "disabled": False,
        "downloads": 0,
        "likes": 0,
        "tags": [],
        "siblings": siblings,
        "usedStorage": sum(e.size for e in commit.files.values()),
    }
    return json_response(info)


def tree(req: Request, type: str, ns: str, name: str, rev: str, path: str | None = None) -> Response:
    repo = read_repo(req, repo_type_of(type), ns, name)
    head = req.app.storage.commit_at(repo, unquote(rev))
    base = unquote(path or "").strip("/")
    recursive, expand = req.flag("recursive"), req.flag("expand")
    prefix = base + "/" if base else ""
    below = {p: e for p, e in head.files.items() if p.startswith(prefix)}
    if base and not below:
        raise entry_not_found(f"Entry not found: {base}", commit=head.id)
    files: list[str] = []
    dirs: set[str] = set()
    for p in below:
        rest = p[len(prefix) :].split("/")
        if recursive:
            files.append(p)
            dirs.update(prefix + "/".join(rest[:i]) for i in range(1, len(rest)))
        elif len(rest) == 1:
            files.append(p)
        else:
            dirs.add(prefix + rest[0])

    history = req.app.storage.history(repo, head.id) if expand else []

    def last(p: str) -> Commit | None:
        return _last_commit(history, p) if expand else None

    entries = [dir_json(d, head.files, last(d)) for d in sorted(dirs)]
    entries += [file_json(head.files[f], last(f)) for f in sorted(files)]
    return json_response(entries)


def paths_info(req: Request, type: str, ns: str, name: str, rev: str) -> Response:
    repo = read_repo(req, repo_type_of(type), ns, name)
    head = req.app.storage.commit_at(repo, unquote(rev))
    form = req.form()
    expand = str((form.get("expand") or ["false"])[-1]).lower() in ("1", "true")
    history = req.app.storage.history(repo, head.id) if expand else []
    entries = []
    for raw in form.get("paths", []):
        p = str(raw).strip("/")
        last = _last_commit(history, p) if expand else None
        if p in head.files:
            entries.append(file_json(head.files[p], last))
        elif p and any(f.startswith(p + "/") for f in head.files):
            entries.append(dir_json(p, head.files, last))
    return json_response(entries)


def refs(req: Request, type: str, ns: str, name: str) -> Response:
    repo = read_repo(req, repo_type_of(type), ns, name)
    branches = [
        {"name": ref.removeprefix("refs/heads/"), "ref": ref, "targetCommit": target}
        for ref, target in sorted(repo.refs.items())
        if ref.startswith("refs/heads/")
    ]
    data: dict[str, Any] = {"branches": branches, "converts": [], "tags": []}
    if req.flag("include_prs"):
        data["pullRequests"] = [
            {"name": ref, "ref": ref, "targetCommit": target}
            for ref, target in sorted(repo.refs.items(), key=lambda kv: (len(kv[0]), kv[0]))
            if ref.startswith("refs/pr/")
        ]
    return json_response(data)


def commits(req: Request, type: str, ns: str, name: str, rev: str) -> Response:
    repo = read_repo(req, repo_type_of(type), ns, name)
    head = req.app.storage.commit_at(repo, unquote(rev))
    items = [
        {
            "id": c.id,
            "title": c.title,
            "message": c.message,
            "date": c.date,
            "authors": [{"user": c.author, "avatar": ""}],
        }
        for c in req.app.storage.history(repo, head.id)
    ]
    return json_response(items)


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """(offset, length) for a single `bytes=` range; None to serve the whole file."""
    if not header:
        return None
    m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if not m or (not m.group(1) and not m.group(2)):
        return None  # multi-range or garbage: ignore, as servers may
    if m.group(1):
        start = int(m.group(1))
        end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
    else:
        start, end = max(size - int(m.group(2)), 0), size - 1
    if start >= size or end < start:
        raise HubError(416, "Requested range not satisfiable", headers={"Content-Range": f"bytes */{size}"})
    return start, end - start + 1


def resolve(req: Request, ns: str, name: str, rev: str, path: str, prefix: str | None = None) -> Response:
    repo = read_repo(req, repo_type_of(prefix=prefix), ns, name)
    if repo.gated and req.user != repo.owner:
        raise HubError(
            403,
            f"Access to {repo.type} {repo.id} is restricted. You must have access to it and be authenticated.",
            code="GatedRepo",
        )
    head = req.app.storage.commit_at(repo, unquote(rev))
    file_path = unquote(path)
    entry = head.files.get(file_path)
    if entry is None:
        raise entry_not_found(f"Entry not found: {file_path} at {head.id}", commit=head.id)
    headers = {
        "X-Repo-Commit": head.id,
        "ETag": f'"{entry.oid}"',
        "Accept-Ranges": "bytes",
        "Content-Type": "application/octet-stream",
    }
    if entry.lfs:
        headers["X-Linked-Etag"] = f'"{entry.sha256}"'
        headers["X-Linked-Size"] = str(entry.size)
    file = req.app.storage.object_path(entry)
    wanted = _range(req.headers.get("Range"), entry.size) if req.method == "GET" else None
    if wanted is None:
        return Response(200, headers, file=file, offset=0, length=entry.size)
    offset, length = wanted
    headers["Content-Range"] = f"bytes {offset}-{offset + length - 1}/{entry.size}"
    return Response(206, headers, file=file, offset=offset, length=length)


def xet_token(req: Request, type: str, ns: str, name: str, kind: str, rev: str) -> Response:
    raise HubError(501, XET_MESSAGE)


# ---------------------------------------------------------------------- writing
def _upload_mode(req: Request, repo: Repo, head: Commit, path: str, size: int, sample: bytes) -> str:
    if req.app.regular_only or size == 0:
        return "regular"
    attributes = head.files.get(".gitattributes")
    patterns = lfs_patterns(req.app.storage.read(attributes)) if attributes else []
    if matches_any(path, patterns) or size >= req.app.lfs_threshold or b"\0" in sample:
        return "lfs"
    return "regular"


def preupload(req: Request, type: str, ns: str, name: str, rev: str) -> Response:
    repo = write_repo(req, repo_type_of(type), ns, name)
    head = req.app.storage.commit_at(repo, unquote(rev))
    data = req.json_object()
    files = data.get("files")
    if not isinstance(files, list) or len(files) > 1000:
        raise bad_request("'files' must be a list of at most 1000 entries")
    ignore = [line.strip() for line in str(data.get("gitIgnore") or "").splitlines() if line.strip()]
    answers = []
    for item in files:
        if not isinstance(item, dict):
            raise bad_request("each file must be an object")
        path = validate_repo_path(item.get("path"))
        size = item.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise bad_request(f"Invalid size for {path!r}")
        try:
            sample = base64.b64decode(item.get("sample") or "", validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise bad_request(f"Invalid base64 sample for {path!r}") from None
        mode = _upload_mode(req, repo, head, path, size, sample)
        existing = head.files.get(path)
        oid = None
        if existing is not None:
            oid = existing.sha256 if existing.lfs else existing.oid
        answers.append(
            {"path": path, "uploadMode": mode, "shouldIgnore": matches_any(path, ignore), "oid": oid}
        )
    return json_response({"files": answers, "commitOid": head.id})


def _parse_commit(req: Request, body: bytes) -> tuple[dict[str, Any], list[Operation]]:
    """NDJSON lines -> (header, operations); contents are stored (invisibly) on the way."""
    storage = req.app.storage
    header: dict[str, Any] | None = None
    operations: list[Operation] = []
    for number, line in enumerate(body.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise bad_request(f"Invalid NDJSON: line {number} is not JSON") from None
        if not isinstance(item, dict) or not isinstance(item.get("value"), dict):
            raise bad_request(f"Invalid NDJSON: line {number} needs a 'key' and an object 'value'")
        key, value = item.get("key"), item["value"]
        if header is None:
            if key != "header":
                raise bad_request("Invalid NDJSON: the first line must be the header")
            header = value
            continue
        if key == "file":
            path = validate_repo_path(value.get("path"))
            encoding = str(value.get("encoding") or "base64").lower()
            content = value.get("content")
            if not isinstance(content, str):
                raise bad_request(f"Missing content for {path!r}")
            if encoding == "base64":
                try:
                    data = base64.b64decode(content, validate=True)
                except (binascii.Error, ValueError):
                    raise bad_request(f"Invalid base64 content for {path!r}") from None
            elif encoding in ("utf-8", "utf8"):
                data = content.encode()
            else:
                raise bad_request(f"Unknown encoding {encoding!r}")
            operations.append(AddFile(storage.store_regular(path, data)))
        elif key == "lfsFile":
            path = validate_repo_path(value.get("path"))
            oid, size = value.get("oid"), value.get("size")
            stored = storage.lfs_size(oid) if isinstance(oid, str) else None
            if stored is None:
                raise bad_request(
                    f"LFS object {oid} for {path!r} was not uploaded; upload it before committing"
                )
            if size is not None and size != stored:
                raise bad_request(f"LFS object {oid} has size {stored}, not {size}")
            operations.append(AddFile(storage.lfs_entry(path, oid, stored)))
        elif key == "deletedFile":
            operations.append(DeleteFile(validate_repo_path(value.get("path"))))
        elif key == "deletedFolder":
            operations.append(DeleteFolder(validate_repo_path(str(value.get("path") or "").rstrip("/"))))
        else:
            raise bad_request(f"Invalid NDJSON: unknown key {key!r} on line {number}")
    if header is None:
        raise bad_request("Invalid NDJSON: empty commit payload")
    return header, operations


def commit(req: Request, type: str, ns: str, name: str, rev: str) -> Response:
    repo = write_repo(req, repo_type_of(type), ns, name)
    body = req.body(limit=req.app.max_body_bytes)
    header, operations = _parse_commit(req, body)
    summary, description = header.get("summary"), header.get("description") or ""
    parent = header.get("parentCommit")
    if not isinstance(summary, str) or not summary.strip() or not isinstance(description, str):
        raise bad_request("The header needs a non-empty 'summary' and a string 'description'")
    if parent is not None and not (isinstance(parent, str) and re.fullmatch(r"[0-9a-f]{5,40}", parent)):
        raise bad_request("'parentCommit' must be a commit id")
    new, pr_num = req.app.storage.commit(
        repo.type,
        repo.id,
        unquote(rev),
        operations,
        author=req.require_user(),
        title=summary.strip(),
        message=description,
        parent_commit=parent,
        create_pr=req.flag("create_pr"),
    )
    url = repo_url(req, repo)
    data: dict[str, Any] = {"success": True, "commitOid": new.id, "commitUrl": f"{url}/commit/{new.id}"}
    data["hookOutput"] = ""
    if pr_num is not None:
        data["pullRequestUrl"] = f"{url}/discussions/{pr_num}"
    return json_response(data)


def branch(req: Request, type: str, ns: str, name: str, branch: str) -> Response:
    repo = write_repo(req, repo_type_of(type), ns, name)
    branch_name = unquote(branch)
    if req.method == "DELETE":
        req.app.storage.delete_branch(repo.type, repo.id, branch_name)
        return json_response({})
    data = req.json_object()
    start = data.get("startingPoint")
    if start is not None and not isinstance(start, str):
        raise bad_request("'startingPoint' must be a string")
    req.app.storage.create_branch(repo.type, repo.id, branch_name, start)
    return json_response({})


# ---------------------------------------------------------------------- discussions / pull requests
def _discussion_summary(repo: Repo, disc: dict[str, Any]) -> dict[str, Any]:
    return {
        "num": disc["num"],
        "title": disc["title"],
        "author": {"name": disc["author"]},
        "createdAt": disc["createdAt"],
        "status": disc["status"],
        "repo": {"name": repo.id, "type": repo.type},
        "isPullRequest": disc["isPullRequest"],
    }


def _event_json(event: dict[str, Any]) -> dict[str, Any]:
    return {**event, "author": {"name": event["author"]}}


def discussions(req: Request, type: str, ns: str, name: str) -> Response:
    if req.method == "POST":
        repo = write_repo(req, repo_type_of(type), ns, name)
        data = req.json_object()
        title = data.get("title")
        if not isinstance(title, str) or not title.strip():
            raise bad_request("A discussion needs a non-empty title")
        num = req.app.storage.create_discussion(
            repo.type,
            repo.id,
            title=title.strip(),
            description=str(data.get("description") or ""),
            author=req.require_user(),
            pull_request=bool(data.get("pullRequest")),
        )
        return json_response({"num": num, "url": f"{repo_url(req, repo)}/discussions/{num}"})
    repo = read_repo(req, repo_type_of(type), ns, name)
    wanted_type, wanted_status = req.param("type", "all"), req.param("status", "all")
    items = []
    for disc in sorted(repo.discussions.values(), key=lambda d: -d["num"]):
        if wanted_type == "pull_request" and not disc["isPullRequest"]:
            continue
        if wanted_type == "discussion" and disc["isPullRequest"]:
            continue
        if wanted_status not in ("all", None, disc["status"]):
            continue
        if req.param("author") not in (None, disc["author"]):
            continue
        items.append(_discussion_summary(repo, disc))
    closed = sum(d["status"] != "open" for d in repo.discussions.values())
    return json_response(
        {"discussions": items, "count": len(items), "start": 0, "numClosedDiscussions": closed}
    )


def discussion_details(req: Request, type: str, ns: str, name: str, num: str) -> Response:
    repo = read_repo(req, repo_type_of(type), ns, name)
    disc = req.app.storage.discussion(repo, num)
    data = _discussion_summary(repo, disc)
    data["events"] = [_event_json(e) for e in disc["events"]]
    if disc["isPullRequest"]:
        data["changes"] = {"base": disc["base"], "mergeCommitId": disc["mergeCommitId"]}
        data["filesWithConflicts"] = []
        data["diff"] = ""
    return json_response(data)


def discussion_action(req: Request, type: str, ns: str, name: str, num: str, action: str) -> Response:
    repo = write_repo(req, repo_type_of(type), ns, name)
    data = req.json_object()
    event = req.app.storage.discussion_action(
        repo.type,
        repo.id,
        num,
        action,
        req.require_user(),
        comment=str(data.get("comment") or ""),
        status=str(data.get("status") or ""),
    )
    key = {"comment": "newMessage", "status": "newStatus"}.get(action, "event")
    return json_response({key: _event_json(event)})
