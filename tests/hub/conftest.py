"""Fixtures for the embedded Hub tests. The server itself comes from the plugin that the top-level
`tests/conftest.py` loads (`pytest_plugins`), early enough for huggingface_hub to see it."""

from __future__ import annotations

import pytest


@pytest.fixture
def api(embedded_hub):
    # Imported here, never at module level: the plugin must set HF_ENDPOINT first.
    from huggingface_hub import HfApi

    return HfApi(endpoint=embedded_hub.url, token=embedded_hub.token)


@pytest.fixture
def repo_id(embedded_hub, api) -> str:
    """A fresh public model repo of the default user."""
    rid = embedded_hub.new_repo_id()
    api.create_repo(rid)
    return rid


@pytest.fixture
def use_endpoint(monkeypatch):
    """Point the client's endpoint constants at another server (e.g. a second HubServer).

    Passing `endpoint=` is not enough everywhere: 0.x parses commit URLs against
    `constants.ENDPOINT`, and `hf_hub_url` rewrites only URLs built from it.
    """

    def point(url: str) -> None:
        from huggingface_hub import constants, file_download

        template = url + "/{repo_id}/resolve/{revision}/{filename}"
        monkeypatch.setattr(constants, "ENDPOINT", url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        # 0.x copied the template into file_download at import.
        monkeypatch.setattr(file_download, "HUGGINGFACE_CO_URL_TEMPLATE", template, raising=False)

    return point
