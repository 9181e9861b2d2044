"""Round trips to the embedded Hub over loopback, with the real huggingface_hub client.

Run: `python -m pytest benchmarks/test_hub.py -p no:cacheprovider --benchmark-only`.
Three requests the Hub clauses make all the time: repo metadata (`model_info`), a small file
download (`hf_hub_download`, forced) and a one-file commit (`upload_file`). Each runs against the
server as shipped (`nodelay`: its sockets send at once) and with Nagle's algorithm back on
(`nagle`), where a response's body waits for the client's delayed ACK of its headers.

Measured 2026-12-08, 2-core AMD EPYC, main set (median of 40 / 40 / 10 rounds): model_info
1.5 ms, against 44.0 ms with Nagle; download 4.9 against 48.1 ms; commit 5.1 against 88.0 ms.
With huggingface_hub 2.4 (the latest set's client, on httpx2): 0.9 against 44.0 ms, 3.7 against
48.0 ms, 3.4 against 88.1 ms. The meta-tests' Hub run (43 backends x 40 Hub and input clauses)
makes thousands of such requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.hub import server as hub_server

TOKEN = "hf_benchmark_token_0123456789"


@pytest.fixture(params=["nodelay", "nagle"])
def hub(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """(api, repo id, endpoint) of a fresh server with one small repo."""
    if request.param == "nagle":
        monkeypatch.setattr(hub_server._Handler, "disable_nagle_algorithm", False)
    from huggingface_hub import HfApi, constants, file_download

    with hub_server.HubServer(tmp_path / "data", tokens={"alice": TOKEN}) as server:
        # The client's import-time constants, pointed here as the suite's Hub plugin does.
        template = server.url + "/{repo_id}/resolve/{revision}/{filename}"
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # tox sets it; this is loopback only
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        monkeypatch.setattr(file_download, "HUGGINGFACE_CO_URL_TEMPLATE", template, raising=False)
        api = HfApi(endpoint=server.url, token=TOKEN)
        api.create_repo("alice/bench")
        api.upload_file(
            path_or_fileobj=b'{"model_type": "bert"}', path_in_repo="config.json", repo_id="alice/bench"
        )
        yield api, "alice/bench", server.url


def test_model_info(benchmark: Any, hub: tuple) -> None:
    api, repo_id, _ = hub
    info = benchmark.pedantic(api.model_info, args=(repo_id,), rounds=40, warmup_rounds=2)
    assert info.id == repo_id


def test_small_download(benchmark: Any, hub: tuple, tmp_path: Path) -> None:
    from huggingface_hub import hf_hub_download

    _, repo_id, endpoint = hub
    cache = tmp_path / "cache"

    def download() -> str:
        return hf_hub_download(
            repo_id, "config.json", cache_dir=cache, force_download=True, token=TOKEN, endpoint=endpoint
        )

    path = benchmark.pedantic(download, rounds=40, warmup_rounds=2)
    assert Path(path).read_text() == '{"model_type": "bert"}'


def test_one_file_commit(benchmark: Any, hub: tuple) -> None:
    api, repo_id, _ = hub
    counter = iter(range(1000))

    def commit() -> Any:
        return api.upload_file(
            path_or_fileobj=b"x" * 100, path_in_repo=f"f{next(counter)}.txt", repo_id=repo_id
        )

    benchmark.pedantic(commit, rounds=10, warmup_rounds=1)
    assert len(api.list_repo_files(repo_id)) >= 11
