"""pytest plugin: one embedded Hub for the whole session, shared by xdist workers.

Load it with ``pytest_plugins = ["conformance.hub.pytest_plugin"]`` in a conftest.

``pytest_configure`` runs before test modules are imported, which matters: huggingface_hub reads
``HF_ENDPOINT`` and friends once, at import. The controller process (or the only process without
xdist) starts the server in a background thread and exports its URL and tokens; xdist workers
inherit that environment and reuse the controller's server. Importing this module imports
neither huggingface_hub, transformers nor torch.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass, field

import pytest

from .auth import new_token
from .handle import ENV_URL, EmbeddedHub
from .loopback import LoopbackGuard
from .server import HubServer

USERS = ("alice", "bob")  # the first one is the default user (HF_TOKEN)
_UNSET_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


@dataclass
class _Session:
    server: HubServer | None = None
    saved_env: dict[str, str | None] = field(default_factory=dict)
    temp_dirs: list[str] = field(default_factory=list)
    patched: list[tuple[object, str, object]] = field(default_factory=list)
    guard: LoopbackGuard = field(default_factory=LoopbackGuard)


_SESSION_KEY = pytest.StashKey[_Session]()


def _set_env(session: _Session, values: dict[str, str | None]) -> None:
    for key, value in values.items():
        session.saved_env.setdefault(key, os.environ.get(key))
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _client_env(hub: EmbeddedHub, hf_home: str) -> dict[str, str | None]:
    env: dict[str, str | None] = {
        "HF_ENDPOINT": hub.url,
        "HF_TOKEN": hub.token,
        "HF_HOME": hf_home,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        # transformers >= 4.56: no safetensors auto-conversion thread (it calls an outside service)
        "DISABLE_SAFETENSORS_CONVERSION": "true",
    }
    env.update(dict.fromkeys(_UNSET_VARS))
    return env


def _repoint_imported_client(session: _Session, url: str) -> None:
    """huggingface_hub computed its constants at import: if that already happened (the plugin was
    registered late, e.g. from a non-top-level conftest), patch the ones the tests depend on."""
    constants = sys.modules["huggingface_hub.constants"]
    file_download = sys.modules.get("huggingface_hub.file_download")
    template = url + "/{repo_id}/resolve/{revision}/{filename}"
    patches = [
        (constants, "ENDPOINT", url),
        (constants, "HUGGINGFACE_CO_URL_TEMPLATE", template),
        (constants, "HF_HUB_DISABLE_XET", True),
        (constants, "HF_HUB_OFFLINE", False),
    ]
    if file_download is not None and hasattr(file_download, "HUGGINGFACE_CO_URL_TEMPLATE"):
        patches.append((file_download, "HUGGINGFACE_CO_URL_TEMPLATE", template))  # 0.x copies it
    for module, name, value in patches:
        if hasattr(module, name):
            session.patched.append((module, name, getattr(module, name)))
            setattr(module, name, value)
    warnings.warn(
        "huggingface_hub was imported before the embedded Hub plugin was configured; its endpoint "
        "constants were patched. Load the plugin from a top-level conftest (or with -p) to avoid this.",
        stacklevel=1,
    )


def pytest_configure(config: pytest.Config) -> None:
    if _SESSION_KEY in config.stash:
        return  # registered twice (plugin + a conftest importing the hooks): configure once
    session = _Session()
    config.stash[_SESSION_KEY] = session
    session.guard.install()
    if os.environ.get(ENV_URL):
        # An xdist worker (or a nested run): reuse the server the environment points at.
        hub = EmbeddedHub.from_env()
        hf_home = os.environ.get("HF_HOME")
        if not hf_home:
            hf_home = tempfile.mkdtemp(prefix="conformance-hf-home-")
            session.temp_dirs.append(hf_home)
        _set_env(session, _client_env(hub, hf_home))
        if "huggingface_hub.constants" in sys.modules:
            _repoint_imported_client(session, hub.url)
        return

    data_dir = tempfile.mkdtemp(prefix="conformance-hub-data-")
    hf_home = tempfile.mkdtemp(prefix="conformance-hf-home-")
    session.temp_dirs += [data_dir, hf_home]
    tokens = {user: new_token() for user in USERS}
    admin_token = new_token()
    session.server = server = HubServer(data_dir, tokens=tokens, admin_token=admin_token).start()
    hub = EmbeddedHub(server.url, tokens, admin_token, USERS[0])
    _set_env(session, {**hub.to_env(), **_client_env(hub, hf_home)})
    if "huggingface_hub.constants" in sys.modules:
        _repoint_imported_client(session, hub.url)


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(_SESSION_KEY, None)
    if session is None:
        return
    del config.stash[_SESSION_KEY]
    session.guard.uninstall()
    if session.server is not None:
        session.server.stop()
    for module, name, value in reversed(session.patched):
        setattr(module, name, value)
    for key, value in session.saved_env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    for path in session.temp_dirs:
        shutil.rmtree(path, ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> str | None:
    url = os.environ.get(ENV_URL)
    return f"embedded Hub: {url}" if url else None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    session = config.stash.get(_SESSION_KEY, None)
    if session is not None and session.guard.refused:
        refused = session.guard.refused
        terminalreporter.write_sep(
            "-", f"{len(refused)} outside connection(s) refused (embedded Hub session)"
        )
        for where in refused[:10]:
            terminalreporter.write_line(f"  {where}")


@pytest.fixture(scope="session")
def embedded_hub() -> EmbeddedHub:
    """Handle on the session's embedded Hub: url, tokens, faults, server-side repo state."""
    return EmbeddedHub.from_env()
