"""Raw HTTP against the server: malformed input gets a 4xx, never a crash; headers the client needs."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import socket
from urllib.parse import quote, urlsplit

import pytest

pytestmark = pytest.mark.hub


class Raw:
    """Tiny http.client wrapper: one connection per request, returns (status, headers, body)."""

    def __init__(self, url: str, token: str | None = None) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.token = parts.hostname, parts.port, token

    def __call__(self, method, path, body=None, headers=None, token=...):
        token = self.token if token is ... else token
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=all_headers)
            response = conn.getresponse()
            return response.status, response.headers, response.read()
        finally:
            conn.close()

    def send_bytes(self, payload: bytes, half_close: bool = True) -> bytes:
        """Write raw bytes on a socket and read until the server closes."""
        with socket.create_connection((self.host, self.port), timeout=10) as sock:
            sock.sendall(payload)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


@pytest.fixture
def raw(embedded_hub) -> Raw:
    return Raw(embedded_hub.url, embedded_hub.token)


def ndjson(*items) -> bytes:
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


def header(summary="msg"):
    return {"key": "header", "value": {"summary": summary, "description": ""}}


def add(path: str, data: bytes = b"x"):
    return {
        "key": "file",
        "value": {"path": path, "content": base64.b64encode(data).decode(), "encoding": "base64"},
    }


def assert_healthy(raw: Raw) -> None:
    status, _, body = raw("GET", "/_conformance/health", token=None)
    assert status == 200 and json.loads(body)["ok"] is True


def test_bad_json_is_400(raw):
    status, headers, body = raw(
        "POST", "/api/repos/create", b"{not json", {"Content-Type": "application/json"}
    )
    assert status == 400
    assert "Invalid JSON" in json.loads(body)["error"] and headers["X-Error-Message"]
    status, _, _ = raw("POST", "/api/repos/create", b'["a list"]', {"Content-Type": "application/json"})
    assert status == 400
    assert_healthy(raw)


BAD_COMMITS = {
    "not-json": b"this is not json\n",
    "no-header": ndjson(add("a.txt")),
    "unknown-key": ndjson(header(), {"key": "bogus", "value": {}}),
    "bad-base64": ndjson(header(), {"key": "file", "value": {"path": "a.txt", "content": "%%%not base64"}}),
    "no-content": ndjson(header(), {"key": "file", "value": {"path": "a.txt"}}),
    "lfs-not-uploaded": ndjson(header(), {"key": "lfsFile", "value": {"path": "w.bin", "oid": "0" * 64}}),
    "no-summary": ndjson({"key": "header", "value": {"description": "no summary"}}, add("a.txt")),
    "value-not-object": ndjson(header(), {"key": "file", "value": "not an object"}),
    "empty": b"",
}


@pytest.mark.parametrize("payload", BAD_COMMITS.values(), ids=BAD_COMMITS.keys())
def test_bad_commit_payload_is_400_and_changes_nothing(embedded_hub, raw, repo_id, payload):
    before = embedded_hub.repo_state(repo_id)
    status, _, body = raw(
        "POST", f"/api/models/{repo_id}/commit/main", payload, {"Content-Type": "application/x-ndjson"}
    )
    assert status == 400, body
    assert embedded_hub.repo_state(repo_id) == before


@pytest.mark.parametrize(
    "path",
    [
        "../evil.txt",
        "a/../../evil.txt",
        "/etc/passwd",
        "a\\b.txt",
        "./x.txt",
        "a//b.txt",
        ".git/config",
        "C:x",
    ],
)
def test_traversal_paths_are_rejected(embedded_hub, raw, repo_id, path):
    before = embedded_hub.repo_state(repo_id)
    status, _, _ = raw("POST", f"/api/models/{repo_id}/commit/main", ndjson(header(), add(path)))
    assert status == 400
    preupload = json.dumps({"files": [{"path": path, "sample": "", "size": 1}]}).encode()
    status, _, _ = raw("POST", f"/api/models/{repo_id}/preupload/main", preupload)
    assert status == 400
    deletion = ndjson(header(), {"key": "deletedFile", "value": {"path": path}})
    status, _, _ = raw("POST", f"/api/models/{repo_id}/commit/main", deletion)
    assert status == 400
    assert embedded_hub.repo_state(repo_id) == before


def test_wrong_content_length(embedded_hub, raw, repo_id):
    target = f"/api/models/{repo_id}/commit/main"
    auth = f"Authorization: Bearer {embedded_hub.token}\r\n"
    # Fewer bytes than announced, then the client stops sending.
    reply = raw.send_bytes(
        f"POST {target} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 100\r\n\r\n".encode() + b"short"
    )
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]
    # Not a number.
    reply = raw.send_bytes(f"POST {target} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: ten\r\n\r\n".encode())
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]
    # Over the size limits (checked before reading: the body never has to arrive).
    huge = f"POST {target} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {10**12}\r\n\r\n".encode()
    assert raw.send_bytes(huge, half_close=False).startswith(b"HTTP/1.1 413")
    create = f"POST /api/repos/create HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {10**9}\r\n\r\n".encode()
    assert raw.send_bytes(create, half_close=False).startswith(b"HTTP/1.1 413")
    assert len(embedded_hub.commits(repo_id)) == 1
    assert_healthy(raw)


def test_garbage_on_the_wire(raw):
    assert raw.send_bytes(b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw.send_bytes(b"GET / HTTP/9.9\r\n\r\n")[:12] in (b"HTTP/1.1 400", b"HTTP/1.1 505")
    assert raw.send_bytes(b"\x00\xff\xfe binary \r\n\r\n").startswith(b"HTTP/1.1 400")
    raw.send_bytes(b"POST /api/repos/create HTTP/1.1\r\nHost: x\r\nContent-Len")  # truncated headers
    status, _, _ = raw("BREW", "/api/whoami-v2")
    assert status in (404, 405, 501)
    assert_healthy(raw)


def test_chunked_commit_body(embedded_hub, raw, repo_id):
    parts = iter([ndjson(header("chunked")), ndjson(add("chunked.txt", b"chunky"))])
    conn = http.client.HTTPConnection(raw.host, raw.port, timeout=10)
    conn.request(
        "POST",
        f"/api/models/{repo_id}/commit/main",
        body=parts,
        headers={"Authorization": f"Bearer {embedded_hub.token}", "Transfer-Encoding": "chunked"},
        encode_chunked=True,
    )
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    assert response.status == 200
    assert embedded_hub.commits(repo_id)[0]["id"] == body["commitOid"]
    assert embedded_hub.file_bytes(repo_id, "chunked.txt") == b"chunky"


def test_auth_rules(embedded_hub, raw, repo_id):
    commit = ndjson(header(), add("a.txt"))
    assert raw("POST", f"/api/models/{repo_id}/commit/main", commit, token=None)[0] == 401
    assert raw("GET", f"/api/models/{repo_id}", token="hf_wrongwrongwrong")[0] == 401
    assert raw("GET", f"/api/models/{repo_id}", token=None)[0] == 200  # public read, anonymous
    bob = embedded_hub.token_for("bob")
    assert raw("POST", f"/api/models/{repo_id}/commit/main", commit, token=bob)[0] == 403
    assert raw("GET", "/_conformance/faults", token=embedded_hub.token)[0] == 401  # user token is not admin
    assert raw("GET", "/api/whoami-v2", token=None)[0] == 401
    assert json.loads(raw("GET", "/api/whoami-v2")[2])["name"] == embedded_hub.user
    # LFS uploads carry no token: an unknown upload secret is refused.
    oid = hashlib.sha256(b"data").hexdigest()
    assert raw("PUT", f"/_lfs/models/{repo_id}/not-a-secret/{oid}", b"data", token=None)[0] == 403
    assert len(embedded_hub.commits(repo_id)) == 1


def test_lfs_upload_secret_is_per_batch_and_content_checked(embedded_hub, raw, repo_id):
    data = b"\0binary" * 1000
    oid = hashlib.sha256(data).hexdigest()
    batch = {"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": len(data)}]}
    status, headers, body = raw(
        "POST",
        f"/{repo_id}.git/info/lfs/objects/batch",
        json.dumps(batch).encode(),
        {"Content-Type": "application/vnd.git-lfs+json"},
    )
    assert status == 200 and headers["Content-Type"] == "application/vnd.git-lfs+json"
    href = json.loads(body)["objects"][0]["actions"]["upload"]["href"]
    upload_path = urlsplit(href).path
    assert raw("PUT", upload_path, b"tampered" + data[8:], token=None)[0] == 400  # sha256 mismatch
    assert raw("PUT", upload_path, data, token=None)[0] == 200
    verify = json.dumps({"oid": oid, "size": len(data)}).encode()
    assert raw("POST", upload_path + "/verify", verify)[0] == 200
    # Already stored: a second batch asks for no upload.
    status, _, body = raw("POST", f"/{repo_id}.git/info/lfs/objects/batch", json.dumps(batch).encode())
    assert "actions" not in json.loads(body)["objects"][0]


def test_resolve_headers_and_ranges(embedded_hub, api, raw, repo_id):
    text = bytes(range(256)) * 4
    api.upload_file(path_or_fileobj=text, path_in_repo="dir/data.txt", repo_id=repo_id)
    big = b"\0" + bytes(1024 * 1024)
    api.upload_file(path_or_fileobj=big, path_in_repo="weights.bin", repo_id=repo_id)
    head = embedded_hub.repo_state(repo_id)["revision"]

    status, headers, body = raw("HEAD", f"/{repo_id}/resolve/main/dir/data.txt")
    assert status == 200 and body == b""
    assert headers["X-Repo-Commit"] == head
    assert headers["ETag"] == f'"{embedded_hub.files(repo_id)["dir/data.txt"]["oid"]}"'
    assert headers["Content-Length"] == str(len(text))
    assert "X-Xet-Hash" not in headers and "Content-Encoding" not in headers

    status, headers, _ = raw("HEAD", f"/{repo_id}/resolve/{head}/weights.bin")
    assert status == 200
    assert headers["X-Linked-Etag"] == f'"{hashlib.sha256(big).hexdigest()}"'
    assert headers["X-Linked-Size"] == str(len(big))

    status, headers, body = raw(
        "GET", f"/{repo_id}/resolve/main/dir/data.txt", headers={"Range": "bytes=10-19"}
    )
    assert status == 206 and body == text[10:20]
    assert headers["Content-Range"] == f"bytes 10-19/{len(text)}"
    assert (
        raw("GET", f"/{repo_id}/resolve/main/dir/data.txt", headers={"Range": "bytes=1000-"})[2]
        == text[1000:]
    )
    assert raw("GET", f"/{repo_id}/resolve/main/dir/data.txt", headers={"Range": "bytes=-5"})[2] == text[-5:]
    status, headers, _ = raw("GET", f"/{repo_id}/resolve/main/dir/data.txt", headers={"Range": "bytes=5000-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(text)}"


def test_error_codes(embedded_hub, raw, repo_id):
    missing = embedded_hub.new_repo_id("missing")
    status, headers, body = raw("GET", f"/api/models/{missing}")
    assert (status, headers["X-Error-Code"]) == (404, "RepoNotFound")
    assert json.loads(body)["error"] and headers["X-Error-Message"]
    status, headers, _ = raw("HEAD", f"/{repo_id}/resolve/nope/.gitattributes")
    assert (status, headers["X-Error-Code"]) == (404, "RevisionNotFound")
    status, headers, _ = raw("HEAD", f"/{repo_id}/resolve/main/nope.json")
    assert (status, headers["X-Error-Code"]) == (404, "EntryNotFound")
    assert headers["X-Repo-Commit"] == embedded_hub.repo_state(repo_id)["revision"]
    status, headers, _ = raw("GET", f"/api/models/{repo_id}/revision/{quote('refs/pr/9', safe='')}")
    assert (status, headers["X-Error-Code"]) == (404, "RevisionNotFound")
    status, _, body = raw("POST", "/api/repos/create", json.dumps({"name": repo_id.split("/")[1]}).encode())
    assert status == 409 and json.loads(body)["url"].endswith(repo_id)
    assert raw("GET", "/no/such/route/at/all/here")[0] == 404
    assert raw("DELETE", f"/api/models/{repo_id}/refs")[0] == 405


def test_xet_token_requests_explain_what_to_do(raw, repo_id):
    for kind in ("write", "read"):
        status, headers, body = raw("GET", f"/api/models/{repo_id}/xet-{kind}-token/main")
        assert status == 501
        assert "HF_HUB_DISABLE_XET=1" in json.loads(body)["error"]
        assert "regular-only" in headers["X-Error-Message"]


def test_tokens_and_secrets_never_logged(tmp_path, caplog):
    from conformance.hub import HubServer

    user_token, admin_token = "hf_userSecretToken0123456789", "adminSecret-0123456789"
    with HubServer(tmp_path, tokens={"carol": user_token}, admin_token=admin_token) as server:
        caplog.set_level("DEBUG", logger="conformance.hub")
        raw = Raw(server.url, user_token)
        raw("POST", "/api/repos/create", json.dumps({"name": "logs"}).encode())
        raw("GET", f"/api/models/carol/logs?token={user_token}&x=1")  # a token in a URL gets masked
        raw("GET", f"/{user_token}/logs/resolve/main/x", token="hf_someOtherUnknownToken42")
        raw("GET", "/_conformance/faults", token=admin_token)
        data = b"\0" * 100
        batch = {"operation": "upload", "objects": [{"oid": hashlib.sha256(data).hexdigest(), "size": 100}]}
        body = raw("POST", "/carol/logs.git/info/lfs/objects/batch", json.dumps(batch).encode())[2]
        href = json.loads(body)["objects"][0]["actions"]["upload"]["href"]
        raw("PUT", urlsplit(href).path, data, token=None)
        secret = urlsplit(href).path.split("/")[-2]
        raw.send_bytes(f"GET /x?access_token={user_token} HTTP/9.9\r\n\r\n".encode())
    log = caplog.text
    assert "/api/models/carol/logs" in log and "PUT /_lfs/" in log  # requests are logged...
    for secret_text in (user_token, admin_token, secret, "hf_someOtherUnknownToken42", "Authorization"):
        assert secret_text not in log  # ...but never a credential


def test_unread_bodies_do_not_break_keep_alive(embedded_hub, raw, repo_id):
    # A refused commit (no token) still answers 401 on a connection that stays usable.
    conn = http.client.HTTPConnection(raw.host, raw.port, timeout=10)
    try:
        conn.request("POST", f"/api/models/{repo_id}/commit/main", body=ndjson(header(), add("a.txt")))
        response = conn.getresponse()
        response.read()
        assert response.status == 401 and response.getheader("Connection") != "close"
        conn.request("GET", f"/api/models/{repo_id}", headers={"Content-Length": "ten"})
        response = conn.getresponse()
        response.read()
        assert response.status == 200  # reads ignore the body; the bad length just closes
        assert response.getheader("Connection") == "close"
    finally:
        conn.close()
    assert len(embedded_hub.commits(repo_id)) == 1


def test_a_response_is_not_held_back_for_the_clients_ack(tmp_path) -> None:
    """The server writes headers, then the body; under Nagle's algorithm the body waits for the
    client's delayed ACK of the headers (40 ms on Linux) at every request. Its accepted sockets
    send at once (TCP_NODELAY); benchmarks/test_hub.py measures the round trip."""
    from conformance.hub.server import HubServer

    with HubServer(tmp_path) as server:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        try:
            conn.request("GET", "/_conformance/health")
            assert conn.getresponse().read()
            (accepted,) = server._httpd._connections  # the keep-alive connection, still open
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        finally:
            conn.close()
