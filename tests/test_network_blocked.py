"""`network_blocked`, which the offline clauses rely on: it sees every connection, even a request
that huggingface_hub would send over a kept-alive connection from its pool."""

from __future__ import annotations

import pytest
from huggingface_hub import HfApi

from conformance.checks.test_hub import network_blocked


@pytest.mark.hub
def test_a_pooled_connection_is_seen(embedded_hub) -> None:
    api = HfApi()
    api.create_repo("alice/pooled-connection", exist_ok=True)
    assert api.repo_exists("alice/pooled-connection")  # leaves a kept-alive connection in the pool
    with network_blocked() as attempts, pytest.raises(Exception):  # noqa: B017 (any refusal)
        api.repo_exists("alice/pooled-connection")
    assert attempts, "a request over a pooled connection went unseen"
    assert api.repo_exists("alice/pooled-connection")  # and the client works again afterwards
