"""`network_blocked`, which the offline clauses rely on: it sees every connection, even a request
that huggingface_hub would send over a kept-alive connection from its pool; and
`background_work_awaited`, which keeps the online step's late requests out of the offline step."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
from huggingface_hub import HfApi

from conformance.checks.test_hub import background_work_awaited, network_blocked


@pytest.mark.hub
def test_a_pooled_connection_is_seen(embedded_hub) -> None:
    api = HfApi()
    api.create_repo("alice/pooled-connection", exist_ok=True)
    assert api.repo_exists("alice/pooled-connection")  # leaves a kept-alive connection in the pool
    with network_blocked() as attempts, pytest.raises(Exception):  # noqa: B017 (any refusal)
        api.repo_exists("alice/pooled-connection")
    assert attempts, "a request over a pooled connection went unseen"
    assert api.repo_exists("alice/pooled-connection")  # and the client works again afterwards


@pytest.mark.hub
@pytest.mark.parametrize("awaited", [True, False])
def test_late_background_requests_stay_with_their_step(embedded_hub, awaited: bool) -> None:
    """Like transformers' safetensors auto-conversion thread after an online load of a .bin repo."""
    api = HfApi()
    api.create_repo("alice/background", exist_ok=True)

    def late_request() -> None:
        time.sleep(0.5)
        with contextlib.suppress(Exception):  # refused inside network_blocked: the unawaited case
            api.repo_exists("alice/background")

    worker = threading.Thread(target=late_request)
    if awaited:
        with background_work_awaited():
            worker.start()
    else:
        worker.start()
    with network_blocked() as attempts:
        worker.join()
    assert bool(attempts) is not awaited
