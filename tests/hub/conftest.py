"""Fixtures for the embedded Hub tests; the plugin starts one server for the whole session.

The documented way to load the plugin is ``pytest_plugins = ["conformance.hub.pytest_plugin"]``,
but pytest accepts that only in a top-level conftest, and this one is not top-level when the whole
``tests/`` tree is collected. Importing the plugin's hooks and fixture has the same effect here.
"""

from __future__ import annotations

import pytest

from conformance.hub import pytest_plugin as _plugin

pytest_configure = _plugin.pytest_configure
pytest_unconfigure = _plugin.pytest_unconfigure
pytest_report_header = _plugin.pytest_report_header
embedded_hub = _plugin.embedded_hub


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
