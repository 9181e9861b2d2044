"""`python -m conformance.cli hub serve`: ready line, real client round trip, clean signals, restart."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download

pytestmark = pytest.mark.hub

TOKEN = "hf_cliSecretToken0123456789abcd"


def start(data: Path, log: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "conformance.cli", "hub", "serve", "--port", "0", "--data", str(data)]
    proc = subprocess.Popen(
        [*cmd, "--token", f"alice:{TOKEN}", *extra],
        stdout=subprocess.PIPE,
        stderr=log.open("ab"),  # a file, not a pipe: request logs must never block the server
        text=True,
    )
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    if not ready:
        proc.kill()
        pytest.fail("no ready line within 30 s")
    line = proc.stdout.readline()
    match = re.fullmatch(r"ready (http://127\.0\.0\.1:\d+)\n", line)
    assert match, line
    return proc, match.group(1)


def stop(proc: subprocess.Popen, sig: int) -> None:
    proc.send_signal(sig)
    try:
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.stdout.read() == ""  # the ready line was the only stdout output


def test_serve_push_pull_restart(tmp_path, use_endpoint):
    data, log = tmp_path / "data", tmp_path / "server.log"
    proc, url = start(data, log)
    try:
        use_endpoint(url)
        api = HfApi(endpoint=url, token=TOKEN)
        assert api.whoami()["name"] == "alice"
        api.create_repo("alice/cli-repo")
        payload = os.urandom(1024 * 1024 + 3)
        api.upload_file(path_or_fileobj=payload, path_in_repo="weights.bin", repo_id="alice/cli-repo")
        path = hf_hub_download(
            "alice/cli-repo", "weights.bin", endpoint=url, token=TOKEN, cache_dir=tmp_path / "c1"
        )
        assert Path(path).read_bytes() == payload
        sha = api.model_info("alice/cli-repo").sha
        # A token in a URL is masked in the log too.
        no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        no_proxy.open(f"{url}/api/models/alice/cli-repo?token={TOKEN}", timeout=10).read()
    finally:
        stop(proc, signal.SIGINT)

    proc, url = start(data, log)  # same data dir: the repo is still there
    try:
        use_endpoint(url)
        api = HfApi(endpoint=url, token=TOKEN)
        assert api.model_info("alice/cli-repo").sha == sha
        path = hf_hub_download(
            "alice/cli-repo", "weights.bin", endpoint=url, token=TOKEN, cache_dir=tmp_path / "c2"
        )
        assert Path(path).read_bytes() == payload
    finally:
        stop(proc, signal.SIGTERM)

    text = log.read_text()
    assert "POST /api/repos/create -> 200" in text and "PUT /_lfs/" in text
    assert TOKEN not in text and "Authorization" not in text
    assert "Traceback" not in text


def test_refuses_non_loopback_host(tmp_path):
    started = time.monotonic()
    cmd = [
        sys.executable,
        "-m",
        "conformance.cli",
        "hub",
        "serve",
        "--host",
        "0.0.0.0",
        "--data",
        str(tmp_path),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--allow-remote" in result.stderr and result.stdout == ""
    assert time.monotonic() - started < 30
