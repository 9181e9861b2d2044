"""Fixtures for the embedded Hub tests; the plugin starts one server for the whole session.

The documented way to load the plugin is ``pytest_plugins = ["conformance.hub.pytest_plugin"]``,
but pytest accepts that only in a top-level conftest, and this one is not top-level when the whole
``tests/`` tree is collected. Importing the plugin's hooks and fixture has the same effect here.
"""

from __future__ import annotations

import pytest

from conformance.hub.pytest_plugin import (  # noqa: F401
    embedded_hub,
    pytest_configure,
    pytest_report_header,
    pytest_unconfigure,
)


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
