"""Content-addressed, on-disk storage of repositories, commits and file objects.

Layout under the data directory (every file written as temp + ``os.replace``, so a reader never
sees half a file and several processes can share the directory):

    objects/blob/ab/<git blob sha1>    regular file contents
    objects/lfs/ab/<sha256>            LFS file contents
    repos/<type>s/<ns>/<name>/repo.json             refs, settings, discussions
    repos/<type>s/<ns>/<name>/commits/<id>.json     immutable commits (full file table)

A commit is atomic: contents are stored first under their hash (invisible), the commit object
next, and only the final ``repo.json`` replace (the ref update) makes it visible. Mutations hold
a process-local lock and an ``flock`` on ``.lock`` so processes sharing the directory serialize.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .auth import NAME_RE
from .errors import HubError, bad_request, entry_not_found, repo_not_found, revision_not_found

try:  # POSIX only; elsewhere the process-local lock is all we have.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

REPO_TYPES = ("model", "dataset", "space")
SHA1_RE = re.compile(r"^[0-9a-f]{40}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
BRANCH_RE = re.compile(r"^(?!/)(?!.*//)(?!.*\.\.)(?!.*/$)[A-Za-z0-9._/-]{1,200}$")

# The LFS patterns a new Hub repo starts with (a subset of the Hub's default .gitattributes).
LFS_PATTERNS = (  # noqa: SIM905 - one readable block
    "*.7z *.arrow *.bin *.bz2 *.ckpt *.ftz *.gz *.gguf *.h5 *.joblib *.lz4 *.mlmodel *.model *.msgpack *.npy "
    "*.npz *.onnx *.onnx_data *.ot *.parquet *.pb *.pickle *.pkl *.pt *.pth *.rar *.safetensors *.tar *.tflite "
    "*.tgz *.wasm *.xz *.zip *.zst *tfevents*"
).split()
GITATTRIBUTES = "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in LFS_PATTERNS).encode()


def git_blob_sha1(data: bytes) -> str:
    """The id git gives a blob: sha1 of a `blob <size>\\0` header and the content."""
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def now_iso() -> str:
    """The Hub's date format (milliseconds, `Z`), which the client parses strictly."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def validate_repo_path(path: Any) -> str:
    """A file path inside a repo: relative, `/`-separated, no `..`, no backslash, no `.git`."""
    if not isinstance(path, str) or not path:
        raise bad_request("A path must be a non-empty string")
    parts = path.split("/")
    if (
        path.startswith("/")
        or "\\" in path
        or "\0" in path
        or re.match(r"^[A-Za-z]:", path)
        or any(p in ("", ".", "..") for p in parts)
        or parts[0] == ".git"
        or len(path) > 1024
    ):
        raise bad_request(f"Invalid path in repository: {path!r}")
    return path


@dataclass(frozen=True)
class FileEntry:
    """A file in a commit. `oid` is the git blob id (of the pointer for LFS files)."""

    path: str
    size: int
    oid: str
    sha256: str
    lfs: bool

    @property
    def pointer_size(self) -> int:
        return len(lfs_pointer(self.sha256, self.size)) if self.lfs else 0

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "oid": self.oid, "sha256": self.sha256, "lfs": self.lfs}

    @classmethod
    def from_json(cls, path: str, data: dict[str, Any]) -> FileEntry:
        return cls(path, int(data["size"]), data["oid"], data["sha256"], bool(data["lfs"]))


@dataclass(frozen=True)
class Commit:
    id: str
    parents: tuple[str, ...]
    title: str
    message: str
    author: str
    date: str
    files: dict[str, FileEntry]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parents": list(self.parents),
            "title": self.title,
            "message": self.message,
            "author": self.author,
            "date": self.date,
            "files": {p: e.to_json() for p, e in sorted(self.files.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Commit:
        files = {p: FileEntry.from_json(p, e) for p, e in data["files"].items()}
        return cls(
            data["id"],
            tuple(data["parents"]),
            data["title"],
            data["message"],
            data["author"],
            data["date"],
            files,
        )


@dataclass
class Repo:
    type: str
    id: str
    uid: str
    owner: str
    private: bool
    gated: str | bool
    created_at: str
    refs: dict[str, str]
    discussions: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def default_branch(self) -> str:
        return "main"

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "id": self.id,
            "uid": self.uid,
            "owner": self.owner,
            "private": self.private,
            "gated": self.gated,
            "createdAt": self.created_at,
            "refs": self.refs,
            "discussions": self.discussions,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Repo:
        return cls(
            data["type"],
            data["id"],
            data["uid"],
            data["owner"],
            data["private"],
            data["gated"],
            data["createdAt"],
            dict(data["refs"]),
            dict(data.get("discussions", {})),
        )


# Commit operations, built by the route layer once contents are stored.
@dataclass(frozen=True)
class AddFile:
    entry: FileEntry


@dataclass(frozen=True)
class DeleteFile:
    path: str


@dataclass(frozen=True)
class DeleteFolder:
    path: str


Operation = AddFile | DeleteFile | DeleteFolder


class Storage:
    """All repository state, on disk under `root`."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        for sub in ("objects/blob", "objects/lfs", "repos", "tmp", "trash"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ low level
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock, open(self.root / ".lock", "a+b") as fh:
            if fcntl is not None:
                fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(fh, fcntl.LOCK_UN)

    def _tmp_path(self) -> Path:
        return self.root / "tmp" / f"{uuid.uuid4().hex}.tmp"

    def _atomic_write(self, path: Path, data: bytes) -> None:
        tmp = self._tmp_path()
        try:
            tmp.write_bytes(data)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def _write_json(self, path: Path, data: Any) -> None:
        self._atomic_write(path, json.dumps(data, indent=1, sort_keys=True).encode())

    # ------------------------------------------------------------------ objects
    def _blob_path(self, oid: str) -> Path:
        return self.root / "objects" / "blob" / oid[:2] / oid

    def _lfs_path(self, sha256: str) -> Path:
        return self.root / "objects" / "lfs" / sha256[:2] / sha256

    def object_path(self, entry: FileEntry) -> Path:
        return self._lfs_path(entry.sha256) if entry.lfs else self._blob_path(entry.oid)

    def store_regular(self, path: str, data: bytes) -> FileEntry:
        """Store a regular file's content under its git blob id (invisible until committed)."""
        oid = git_blob_sha1(data)
        target = self._blob_path(oid)
        if not target.exists():
            self._atomic_write(target, data)
        return FileEntry(path, len(data), oid, hashlib.sha256(data).hexdigest(), lfs=False)

    def lfs_size(self, sha256: str) -> int | None:
        if not SHA256_RE.match(sha256):
            return None
        try:
            return self._lfs_path(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def store_lfs(self, chunks: Iterable[bytes], sha256: str, size: int) -> None:
        """Stream an LFS object to disk; kept only if its size and sha256 match (else 400)."""
        tmp = self._tmp_path()
        try:
            digest = hashlib.sha256()
            written = 0
            with open(tmp, "wb") as fh:
                for chunk in chunks:  # a cut connection raises here and the temp file goes
                    digest.update(chunk)
                    written += len(chunk)
                    fh.write(chunk)
            if written != size or digest.hexdigest() != sha256:
                raise bad_request(f"Uploaded content does not match oid {sha256} and size {size}")
            target = self._lfs_path(sha256)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def lfs_entry(self, path: str, sha256: str, size: int) -> FileEntry:
        return FileEntry(path, size, git_blob_sha1(lfs_pointer(sha256, size)), sha256, lfs=True)

    def read(self, entry: FileEntry) -> bytes:
        return self.object_path(entry).read_bytes()

    # ------------------------------------------------------------------ repos
    def _repo_dir(self, repo_type: str, repo_id: str) -> Path:
        ns, name = split_repo_id(repo_id)
        return self.root / "repos" / f"{repo_type}s" / ns / name

    def get_repo(self, repo_type: str, repo_id: str) -> Repo | None:
        try:
            path = self._repo_dir(repo_type, repo_id) / "repo.json"
            return Repo.from_json(json.loads(path.read_text()))
        except (FileNotFoundError, NotADirectoryError, HubError):
            return None

    def _require_repo(self, repo_type: str, repo_id: str) -> Repo:
        repo = self.get_repo(repo_type, repo_id)
        if repo is None:
            raise repo_not_found(repo_id)
        return repo

    def _save_repo(self, repo: Repo) -> None:
        self._write_json(self._repo_dir(repo.type, repo.id) / "repo.json", repo.to_json())

    def list_repos(self) -> list[Repo]:
        repos = []
        for path in sorted((self.root / "repos").glob("*/*/*/repo.json")):
            with contextlib.suppress(OSError, ValueError, KeyError):
                repos.append(Repo.from_json(json.loads(path.read_text())))
        return repos

    def create_repo(self, repo_type: str, repo_id: str, owner: str, private: bool) -> Repo:
        """Create a repo with an initial commit holding `.gitattributes`; 409 if it exists."""
        with self._locked():
            if self.get_repo(repo_type, repo_id) is not None:
                raise HubError(409, f"You already created this {repo_type} repo")
            uid = uuid.uuid4().hex[:24]
            repo = Repo(repo_type, repo_id, uid, owner, private, False, now_iso(), {})
            entry = self.store_regular(".gitattributes", GITATTRIBUTES)
            commit = self._new_commit(repo, (), "initial commit", "", owner, {entry.path: entry})
            repo.refs["refs/heads/main"] = commit.id
            self._save_repo(repo)
            return repo

    def delete_repo(self, repo_type: str, repo_id: str) -> None:
        with self._locked():
            self._require_repo(repo_type, repo_id)
            # Move aside first so the repo disappears in one step, then clean up.
            trash = self.root / "trash" / uuid.uuid4().hex
            os.replace(self._repo_dir(repo_type, repo_id), trash)
        shutil.rmtree(trash, ignore_errors=True)

    def update_settings(
        self, repo_type: str, repo_id: str, *, private: bool | None = None, gated: str | bool | None = None
    ) -> Repo:
        with self._locked():
            repo = self._require_repo(repo_type, repo_id)
            if private is not None:
                repo.private = bool(private)
            if gated is not None:
                repo.gated = gated
            self._save_repo(repo)
            return repo

    # ------------------------------------------------------------------ commits and refs
    def _new_commit(
        self, repo: Repo, parents: tuple[str, ...], title: str, message: str, author: str, files: dict
    ) -> Commit:
        date = now_iso()
        payload = {
            "repo": repo.uid,
            "parents": list(parents),
            "title": title,
            "message": message,
            "author": author,
            "date": date,
            "nonce": uuid.uuid4().hex,  # two identical commits in the same millisecond stay distinct
            "files": {p: e.to_json() for p, e in sorted(files.items())},
        }
        commit_id = hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        commit = Commit(commit_id, parents, title, message, author, date, dict(files))
        self._write_json(
            self._repo_dir(repo.type, repo.id) / "commits" / f"{commit_id}.json", commit.to_json()
        )
        return commit

    def get_commit(self, repo: Repo, commit_id: str) -> Commit:
        path = self._repo_dir(repo.type, repo.id) / "commits" / f"{commit_id}.json"
        try:
            return Commit.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            raise revision_not_found(commit_id) from None

    def resolve(self, repo: Repo, revision: str) -> str:
        """Branch name, full ref (`refs/pr/1`) or 40-hex commit id -> commit id."""
        if revision.startswith("refs/") and revision in repo.refs:
            return repo.refs[revision]
        if f"refs/heads/{revision}" in repo.refs:
            return repo.refs[f"refs/heads/{revision}"]
        if (
            SHA1_RE.match(revision)
            and (self._repo_dir(repo.type, repo.id) / "commits" / f"{revision}.json").exists()
        ):
            return revision
        raise revision_not_found(revision)

    def commit_at(self, repo: Repo, revision: str) -> Commit:
        return self.get_commit(repo, self.resolve(repo, revision))

    def history(self, repo: Repo, commit_id: str) -> list[Commit]:
        """First-parent history, newest first."""
        commits = []
        current: str | None = commit_id
        while current:
            commit = self.get_commit(repo, current)
            commits.append(commit)
            current = commit.parents[0] if commit.parents else None
        return commits

    def _writable_ref(self, repo: Repo, revision: str) -> str:
        if revision.startswith(("refs/heads/", "refs/pr/")):
            if revision in repo.refs:
                return revision
        elif f"refs/heads/{revision}" in repo.refs:
            return f"refs/heads/{revision}"
        elif SHA1_RE.match(revision):
            raise bad_request(
                f"Invalid rev id: {revision} is a commit id; commits go to a branch or a PR ref"
            )
        raise revision_not_found(revision)

    def commit(
        self,
        repo_type: str,
        repo_id: str,
        revision: str,
        operations: list[Operation],
        *,
        author: str,
        title: str,
        message: str = "",
        parent_commit: str | None = None,
        create_pr: bool = False,
    ) -> tuple[Commit, int | None]:
        """Apply `operations` on top of `revision`; returns the commit and the PR number if any."""
        with self._locked():
            repo = self._require_repo(repo_type, repo_id)
            if create_pr:
                base_id, ref = self.resolve(repo, revision), None
            else:
                ref = self._writable_ref(repo, revision)
                if ref.startswith("refs/pr/") and repo.discussions.get(ref[8:], {}).get("status") != "open":
                    raise HubError(403, f"Pull request {ref} is not open")
                base_id = repo.refs[ref]
            if parent_commit and not (len(parent_commit) >= 7 and base_id.startswith(parent_commit)):
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            base = self.get_commit(repo, base_id)
            files = apply_operations(base.files, operations)
            commit = self._new_commit(repo, (base_id,), title, message, author, files)
            pr_num = None
            if create_pr:
                pr_num = self._open_discussion(repo, title, message, author, True, base_id, revision)
                ref = f"refs/pr/{pr_num}"
            assert ref is not None
            repo.refs[ref] = commit.id
            if ref.startswith("refs/pr/"):
                self._discussion_event(repo, ref[8:], "commit", author, {"subject": title, "oid": commit.id})
            self._save_repo(repo)  # the ref update: the commit becomes visible here
            return commit, pr_num

    def create_branch(self, repo_type: str, repo_id: str, branch: str, starting_point: str | None) -> str:
        if not BRANCH_RE.match(branch) or branch.startswith("refs/"):
            raise bad_request(f"Invalid branch name: {branch!r}")
        with self._locked():
            repo = self._require_repo(repo_type, repo_id)
            if f"refs/heads/{branch}" in repo.refs:
                raise HubError(409, f"Reference already exists: refs/heads/{branch}")
            target = self.resolve(repo, starting_point or "main")
            repo.refs[f"refs/heads/{branch}"] = target
            self._save_repo(repo)
            return target

    def delete_branch(self, repo_type: str, repo_id: str, branch: str) -> None:
        with self._locked():
            repo = self._require_repo(repo_type, repo_id)
            if branch in ("main", "refs/heads/main"):
                raise HubError(403, "Cannot delete the default branch")
            ref = branch if branch.startswith("refs/heads/") else f"refs/heads/{branch}"
            if ref not in repo.refs:
                raise revision_not_found(branch)
            del repo.refs[ref]
            self._save_repo(repo)

    # ------------------------------------------------------------------ discussions / pull requests
    def _open_discussion(
        self,
        repo: Repo,
        title: str,
        description: str,
        author: str,
        pull_request: bool,
        base_id: str,
        base: str,
    ) -> int:
        num = max((int(n) for n in repo.discussions), default=0) + 1
        target = base if base.startswith("refs/") else f"refs/heads/{base}"
        if SHA1_RE.match(base) or target not in repo.refs:
            target = "refs/heads/main"
        repo.discussions[str(num)] = {
            "num": num,
            "title": title,
            "author": author,
            "createdAt": now_iso(),
            "status": "open",
            "isPullRequest": pull_request,
            "base": target,
            "baseCommit": base_id,
            "mergeCommitId": None,
            "events": [],
        }
        self._discussion_event(repo, str(num), "comment", author, _comment(description))
        return num

    def _discussion_event(self, repo: Repo, num: str, kind: str, author: str, data: dict[str, Any]) -> dict:
        event = {
            "id": uuid.uuid4().hex[:24],
            "type": kind,
            "createdAt": now_iso(),
            "author": author,
            "data": data,
        }
        repo.discussions[num]["events"].append(event)
        return event

    def create_discussion(
        self, repo_type: str, repo_id: str, *, title: str, description: str, author: str, pull_request: bool
    ) -> int:
        """A discussion; a pull request also gets `refs/pr/N`, starting at the head of main."""
        with self._locked():
            repo = self._require_repo(repo_type, repo_id)
            base_id = repo.refs["refs/heads/main"]
            num = self._open_discussion(repo, title, description, author, pull_request, base_id, "main")
            if pull_request:
                repo.refs[f"refs/pr/{num}"] = base_id
            self._save_repo(repo)
            return num

    def discussion(self, repo: Repo, num: str) -> dict[str, Any]:
        if num not in repo.discussions:
            raise HubError(404, f"Discussion {num} not found")
        return repo.discussions[num]

    def discussion_action(
        self,
        repo_type: str,
        repo_id: str,
        num: str,
        action: str,
        author: str,
        comment: str = "",
        status: str = "",
    ) -> dict[str, Any]:
        """`comment`, `status` (open/closed) or `merge`; returns the new event."""
        with self._locked():
            repo = self._require_repo(repo_type, repo_id)
            disc = self.discussion(repo, num)
            if action == "comment":
                event = self._discussion_event(repo, num, "comment", author, _comment(comment))
            elif action == "status":
                if status not in ("open", "closed"):
                    raise bad_request("status must be 'open' or 'closed'")
                disc["status"] = status
                event = self._discussion_event(repo, num, "status-change", author, {"status": status})
            elif action == "merge":
                if not disc["isPullRequest"] or disc["status"] != "open":
                    raise HubError(403, "Only an open pull request can be merged")
                merged = self._merge(repo, disc, author)
                disc["status"], disc["mergeCommitId"] = "merged", merged.id
                event = self._discussion_event(repo, num, "status-change", author, {"status": "merged"})
            else:
                raise bad_request(f"unknown discussion action {action!r}")
            self._save_repo(repo)
            return event

    def _merge(self, repo: Repo, disc: dict[str, Any], author: str) -> Commit:
        """Apply the PR's changes (relative to its base commit) on the target branch's head."""
        base = self.get_commit(repo, disc["baseCommit"])
        head = self.get_commit(repo, repo.refs[f"refs/pr/{disc['num']}"])
        target_id = repo.refs[disc["base"]]
        files = dict(self.get_commit(repo, target_id).files)
        for path, entry in head.files.items():
            if base.files.get(path) != entry:
                files[path] = entry
        for path in set(base.files) - set(head.files):
            files.pop(path, None)
        commit = self._new_commit(
            repo, (target_id, head.id), f"Merge pull request #{disc['num']}", disc["title"], author, files
        )
        repo.refs[disc["base"]] = commit.id
        return commit


def _comment(text: str) -> dict[str, Any]:
    return {"edited": False, "hidden": False, "latest": {"raw": text, "updatedAt": now_iso()}}


def split_repo_id(repo_id: str) -> tuple[str, str]:
    ns, sep, name = repo_id.partition("/")
    if not sep or not NAME_RE.match(ns) or not NAME_RE.match(name) or name.endswith(".git"):
        raise repo_not_found(repo_id)
    return ns, name


def apply_operations(files: dict[str, FileEntry], operations: list[Operation]) -> dict[str, FileEntry]:
    """The file table after `operations`, in order; a missing deletion target is a 404."""
    result = dict(files)
    for op in operations:
        if isinstance(op, AddFile):
            result[op.entry.path] = op.entry
        elif isinstance(op, DeleteFile):
            if result.pop(op.path, None) is None:
                raise entry_not_found(f"A file with this name doesn't exist: {op.path}")
        else:
            prefix = op.path.rstrip("/") + "/"
            doomed = [p for p in result if p.startswith(prefix)]
            if not doomed:
                raise entry_not_found(f"A folder with this name doesn't exist: {op.path}")
            for p in doomed:
                del result[p]
    paths = set(result)
    for path in paths:
        parts = path.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in paths:
                raise bad_request(f"Path conflict: {'/'.join(parts[:i])!r} is a file and a folder")
    return result


def lfs_patterns(gitattributes: bytes) -> list[str]:
    patterns = []
    for line in gitattributes.decode("utf-8", "replace").splitlines():
        fields = line.split()
        if len(fields) >= 2 and not fields[0].startswith("#") and "filter=lfs" in fields[1:]:
            patterns.append(fields[0])
    return patterns


def matches_any(path: str, patterns: list[str]) -> bool:
    name = path.rsplit("/", 1)[-1]
    for pattern in patterns:
        target = path if "/" in pattern.strip("/") else name
        if fnmatch.fnmatchcase(target, pattern.strip("/")):
            return True
    return False
