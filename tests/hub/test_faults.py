"""Injected faults give the real client a clean error (or a clean retry), never a partial repo, never a hang.

Faults are scoped to the test's repo (`repo_id=`), so tests sharing the server cannot trip on
each other's faults, and injected over HTTP, so this works from xdist workers too.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from huggingface_hub import hf_hub_download
from huggingface_hub.utils import HfHubHTTPError

pytestmark = pytest.mark.hub


def _upload(api, repo_id: str, path: str, data: bytes):
    return api.upload_file(path_or_fileobj=data, path_in_repo=path, repo_id=repo_id)


def _cached_files(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if p.is_file() and "snapshots" in p.parts]


def test_commit_5xx_is_a_clean_error_and_changes_nothing(embedded_hub, api, repo_id):
    before = embedded_hub.repo_state(repo_id)
    fault = embedded_hub.fault("status", "POST", r"/commit/", status=500, repo_id=repo_id)
    with fault, pytest.raises(HfHubHTTPError) as info:
        _upload(api, repo_id, "a.txt", b"a")
    assert info.value.response.status_code == 500
    assert embedded_hub.repo_state(repo_id) == before
    _upload(api, repo_id, "a.txt", b"a")  # the fault is spent: the same call now succeeds
    assert embedded_hub.file_bytes(repo_id, "a.txt") == b"a"


def test_commit_cut_mid_body_leaves_repo_unchanged(embedded_hub, api, repo_id):
    before = embedded_hub.repo_state(repo_id)
    payload = os.urandom(256 * 1024).hex().encode()  # regular file, inlined in the NDJSON body
    with embedded_hub.fault("cut", "POST", r"/commit/", cut_after=4096, repo_id=repo_id):
        started = time.monotonic()
        with pytest.raises(Exception):  # noqa: B017 - the exception type depends on the HTTP stack
            _upload(api, repo_id, "big.txt", payload)
        assert time.monotonic() - started < 10
    assert embedded_hub.repo_state(repo_id) == before


def test_lfs_upload_cut_is_retried_and_never_partial(embedded_hub, api, repo_id):
    data = os.urandom(2 * 1024 * 1024)
    with embedded_hub.fault("cut", "PUT", r"^/_lfs/", cut_after=64 * 1024, repo_id=repo_id) as fault:
        _upload(api, repo_id, "weights.bin", data)  # the client retries the PUT once (1 s backoff)
    assert not any(f["id"] == fault["id"] for f in embedded_hub.list_faults())  # it did fire
    files = embedded_hub.files(repo_id)
    assert files["weights.bin"]["lfs"] is True
    assert files["weights.bin"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert embedded_hub.file_bytes(repo_id, "weights.bin") == data


def test_lfs_verify_error_means_no_commit(embedded_hub, api, repo_id):
    before = embedded_hub.repo_state(repo_id)
    fault = embedded_hub.fault("status", "POST", r"/verify$", status=403, repo_id=repo_id)
    # 0.x wraps the error in a RuntimeError, >= 1.x raises HfHubHTTPError.
    with fault, pytest.raises(Exception):  # noqa: B017
        _upload(api, repo_id, "weights.bin", os.urandom(1024 * 1024))
    assert embedded_hub.repo_state(repo_id) == before


def test_preupload_5xx_once_is_all_or_nothing(embedded_hub, api, repo_id):
    before = embedded_hub.repo_state(repo_id)
    with embedded_hub.fault("status", "POST", r"/preupload/", status=503, repo_id=repo_id):
        try:
            _upload(api, repo_id, "p.txt", b"payload")  # retried by clients >= 1.x, not by 0.x
        except HfHubHTTPError as exc:
            assert exc.response.status_code == 503
            assert embedded_hub.repo_state(repo_id) == before
        else:
            assert embedded_hub.file_bytes(repo_id, "p.txt") == b"payload"


def test_download_errors_are_clean(embedded_hub, api, repo_id, tmp_path):
    data = os.urandom(300_000)
    _upload(api, repo_id, "model.bin", data)
    cache = tmp_path / "cache"
    # 4xx is never retried: a typed HTTP error and nothing half-downloaded under snapshots/.
    fault = embedded_hub.fault("status", "GET", r"/resolve/", status=403, repo_id=repo_id)
    with fault, pytest.raises(HfHubHTTPError) as info:
        hf_hub_download(repo_id, "model.bin", cache_dir=cache)
    assert info.value.response.status_code == 403
    assert _cached_files(cache) == []
    # One 5xx: 0.x retries (1 s backoff) and succeeds, >= 1.x raises; either way no corrupt file.
    with embedded_hub.fault("status", "GET", r"/resolve/", status=500, repo_id=repo_id):
        try:
            path = hf_hub_download(repo_id, "model.bin", cache_dir=cache)
        except HfHubHTTPError as exc:
            assert exc.response.status_code == 500
            assert _cached_files(cache) == []
            path = hf_hub_download(repo_id, "model.bin", cache_dir=cache)
    assert Path(path).read_bytes() == data


def test_download_cut_mid_body_resumes_or_fails_cleanly(embedded_hub, api, repo_id, tmp_path):
    data = os.urandom(2 * 1024 * 1024)
    _upload(api, repo_id, "model.bin", data)
    cache = tmp_path / "cache"
    with embedded_hub.fault("cut", "GET", r"/resolve/", cut_after=100_000, repo_id=repo_id):
        try:
            path = hf_hub_download(repo_id, "model.bin", cache_dir=cache)  # >=1.x resumes with Range
        except Exception:
            assert _cached_files(cache) == []
            path = hf_hub_download(repo_id, "model.bin", cache_dir=cache)  # fault spent: resumes
    assert Path(path).read_bytes() == data


def test_slow_or_cut_metadata_request_is_bounded(embedded_hub, api, repo_id, tmp_path):
    _upload(api, repo_id, "config.json", b"{}")
    # The server stalls 5 s; the client gives up after etag_timeout (then retries or fails, by version).
    with embedded_hub.fault("delay", "HEAD", r"/resolve/", delay=5.0, times=1, repo_id=repo_id):
        started = time.monotonic()
        try:
            path = hf_hub_download(repo_id, "config.json", cache_dir=tmp_path / "a", etag_timeout=0.5)
            assert Path(path).read_bytes() == b"{}"
        except Exception:
            assert _cached_files(tmp_path / "a") == []
        assert time.monotonic() - started < 4.5
    # Connection closed before any response.
    with embedded_hub.fault("cut", "HEAD", r"/resolve/", repo_id=repo_id):
        try:
            path = hf_hub_download(repo_id, "config.json", cache_dir=tmp_path / "b")
            assert Path(path).read_bytes() == b"{}"
        except Exception:
            assert _cached_files(tmp_path / "b") == []
    assert Path(hf_hub_download(repo_id, "config.json", cache_dir=tmp_path / "c")).read_bytes() == b"{}"


def test_latency_slows_but_succeeds(embedded_hub, api, repo_id):
    with embedded_hub.fault("delay", "POST", r"/commit/", delay=0.3, repo_id=repo_id):
        started = time.monotonic()
        _upload(api, repo_id, "slow.txt", b"slow")
        assert time.monotonic() - started >= 0.3
    assert embedded_hub.file_bytes(repo_id, "slow.txt") == b"slow"


def test_faults_injected_from_another_process(embedded_hub, api, repo_id):
    # A separate process (like an xdist worker) only has the environment the plugin exported.
    script = (
        "import sys; from conformance.hub.handle import EmbeddedHub; "
        "print(EmbeddedHub.from_env().fail_next('GET', sys.argv[1], status=418, times=1)['id'])"
    )
    pattern = f"^/api/models/{repo_id}$"
    subprocess.run([sys.executable, "-c", script, pattern], check=True, capture_output=True, timeout=60)
    with pytest.raises(HfHubHTTPError) as info:
        api.model_info(repo_id)
    assert info.value.response.status_code == 418
    assert api.model_info(repo_id).id == repo_id


def test_in_process_fault_api(tmp_path):
    import http.client

    from conformance.hub import HubServer

    with HubServer(tmp_path, tokens={"alice": "hf_inprocesstoken"}) as server:
        fault = server.fail_next("GET", r"^/api/whoami", status=503, times=2)
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        statuses = []
        for _ in range(3):
            conn.request("GET", "/api/whoami-v2", headers={"Authorization": "Bearer hf_inprocesstoken"})
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
        assert statuses == [503, 503, 200]
        assert fault.hits == 2 and server.faults.list() == []
        server.add_latency("GET", r"^/api/whoami", seconds=0.2, times=1)
        started = time.monotonic()
        conn.request("GET", "/api/whoami-v2", headers={"Authorization": "Bearer hf_inprocesstoken"})
        conn.getresponse().read()
        assert time.monotonic() - started >= 0.2
        conn.close()


@pytest.mark.parametrize("pinned", [False, True])
def test_overlapping_transfers_keep_the_progress_lock(monkeypatch: pytest.MonkeyPatch, pinned: bool) -> None:
    """input.hub_faults runs transfers side by side; huggingface_hub's thread_map deletes tqdm's
    class lock when the first overlapping transfer ends, unless the harness pinned one first."""
    from huggingface_hub.utils import tqdm as hf_tqdm
    from tqdm import tqdm
    from tqdm.contrib.concurrent import ensure_lock

    from conformance.checks.test_hub_faults import pin_progress_lock

    for cls in (hf_tqdm, tqdm):
        monkeypatch.delattr(cls, "_lock", raising=False)
    if pinned:
        pin_progress_lock()
    first, second = ensure_lock(hf_tqdm), ensure_lock(hf_tqdm)
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first transfer ends while the second one runs
    try:
        assert hasattr(hf_tqdm, "_lock") is pinned
    finally:
        second.__exit__(None, None, None)
        monkeypatch.undo()
        tqdm.get_lock()
