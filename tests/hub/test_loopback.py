"""The embedded Hub session stays on loopback: outside lookups and connections fail at once, and
transformers' safetensors auto-conversion (an outside service) neither runs nor stalls a check."""

from __future__ import annotations

import os
import socket
import threading
import time
import urllib.request

import pytest

from conformance.hub.loopback import LoopbackGuard, OutsideNetworkError, is_local
from conformance.hub.pytest_plugin import _SESSION_KEY

pytestmark = pytest.mark.hub


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("::1", True),
        (None, True),
        ("0.0.0.0", True),
        ("huggingface.co", False),
        ("203.0.113.7", False),
        ("10.0.0.1", False),
    ],
)
def test_what_counts_as_loopback(host: object, local: bool) -> None:
    assert is_local(host) is local


def test_outside_lookups_and_connections_fail_at_once(embedded_hub) -> None:
    # The session's guard is on (conformance.hub.pytest_plugin installs it).
    start = time.monotonic()
    with pytest.raises(OutsideNetworkError, match="embedded Hub"):
        socket.getaddrinfo("huggingface.co", 443)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(OutsideNetworkError):
        sock.connect(("203.0.113.7", 443))  # TEST-NET-3: would hang until a timeout, never answer
    with pytest.raises(OSError):  # urllib wraps it; the cause is the guard's
        urllib.request.urlopen("https://huggingface.co/api/models", timeout=30)
    assert time.monotonic() - start < 1.0  # refused, not timed out
    from huggingface_hub import HfApi

    assert HfApi().whoami()["name"] == embedded_hub.user  # loopback still works


def test_a_guard_records_and_uninstalls() -> None:
    original = socket.getaddrinfo
    guard = LoopbackGuard()
    guard.install()  # nested over the session's guard
    try:
        with pytest.raises(OutsideNetworkError):
            socket.getaddrinfo("safetensors-convert.hf.space", 443)
    finally:
        guard.uninstall()
    assert socket.getaddrinfo is original
    assert guard.refused == [f"safetensors-convert.hf.space:443 ({threading.current_thread().name})"]


def test_an_online_bin_load_starts_no_outside_work(embedded_hub, tmp_path, pytestconfig) -> None:
    """transformers converts a pytorch_model.bin repo in a background thread through an outside
    service; >= 4.56 is told not to (DISABLE_SAFETENSORS_CONVERSION), older ones are refused."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(
        vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=20
    )
    torch.manual_seed(0)
    model = transformers.BertModel(config)
    model.save_pretrained(tmp_path / "bin")
    # A repo of the older kind, weights in pytorch_model.bin only (transformers 5 saves no .bin)
    (tmp_path / "bin" / "model.safetensors").unlink()
    torch.save(model.state_dict(), tmp_path / "bin" / "pytorch_model.bin")
    repo_id = embedded_hub.new_repo_id("bin-only")
    from huggingface_hub import HfApi

    HfApi().create_repo(repo_id)
    HfApi().upload_folder(repo_id=repo_id, folder_path=tmp_path / "bin")
    guard = pytestconfig.stash[_SESSION_KEY].guard
    refused_before = len(guard.refused)
    before = set(threading.enumerate())
    transformers.AutoModel.from_pretrained(repo_id, cache_dir=tmp_path / "cache")
    started = [t for t in set(threading.enumerate()) - before if t.name == "Thread-auto_conversion"]
    start = time.monotonic()
    for thread in started:
        thread.join(10)
    assert not any(t.is_alive() for t in started)
    assert time.monotonic() - start < 2.0, "the conversion thread ran until a network timeout"
    if started:  # transformers without the switch: the thread's outside call was refused
        assert any("safetensors-convert" in r for r in guard.refused[refused_before:]), guard.refused
    else:
        assert os.environ.get("DISABLE_SAFETENSORS_CONVERSION") == "true"
