"""The pytest plugin, loaded with `pytest_plugins` in a fresh project: env, xdist reuse, teardown."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from conformance.hub.handle import ENV_ADMIN_TOKEN, ENV_TOKENS, ENV_URL, ENV_USER

pytestmark = pytest.mark.hub

CHILD_TEST = textwrap.dedent(
    """
    import os
    import threading

    import pytest


    def test_session_server(embedded_hub):
        # Imported only now: the plugin's pytest_configure already set the environment.
        from huggingface_hub import HfApi, constants
        from huggingface_hub.utils import HfHubHTTPError

        assert constants.ENDPOINT == embedded_hub.url == os.environ["HF_ENDPOINT"]
        assert os.environ["HF_TOKEN"] == embedded_hub.token
        assert os.environ["HF_HUB_DISABLE_XET"] == "1" and os.environ["HF_HUB_DISABLE_TELEMETRY"] == "1"
        assert "HF_HUB_OFFLINE" not in os.environ and "TRANSFORMERS_OFFLINE" not in os.environ
        assert os.environ["HF_HOME"] != os.environ["PARENT_HF_HOME"]
        in_this_process = any(t.name == "conformance-hub" for t in threading.enumerate())
        # With xdist the server runs in the controller; without, in the only process.
        assert in_this_process == ("PYTEST_XDIST_WORKER" not in os.environ)
        with open(os.environ["URL_LOG"], "a") as fh:
            fh.write(embedded_hub.url + "\\n")

        api = HfApi()
        repo_id = embedded_hub.new_repo_id(os.environ.get("PYTEST_XDIST_WORKER", "solo"))
        api.create_repo(repo_id)
        with embedded_hub.fault("status", "GET", f"^/api/models/{repo_id}$", status=418):
            with pytest.raises(HfHubHTTPError):
                api.model_info(repo_id)
        assert api.model_info(repo_id).sha == embedded_hub.commits(repo_id)[0]["id"]
    """
)


@pytest.mark.parametrize("mode", ["xdist", "single-process", "late-import"])
def test_plugin_in_a_fresh_project(tmp_path, mode):
    conftest = 'pytest_plugins = ["conformance.hub.pytest_plugin"]\n'
    if mode == "late-import":
        # huggingface_hub imported before the plugin configures: its constants get patched.
        conftest = "import huggingface_hub.file_download\n" + conftest
    (tmp_path / "conftest.py").write_text(conftest)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    for name in ("test_one.py", "test_two.py"):
        (tmp_path / name).write_text(CHILD_TEST)
    # A clean slate: not this session's hub, and not this run's xdist worker identity.
    hub_vars = (ENV_URL, ENV_ADMIN_TOKEN, ENV_TOKENS, ENV_USER)
    env = {k: v for k, v in os.environ.items() if k not in hub_vars and not k.startswith("PYTEST_")}
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PARENT_HF_HOME=os.environ["HF_HOME"],
        URL_LOG=str(tmp_path / "urls.txt"),
    )
    args = ["-n", "2"] if mode == "xdist" else ["-p", "no:xdist"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    assert ("constants were patched" in result.stdout + result.stderr) == (mode == "late-import")
    urls = (tmp_path / "urls.txt").read_text().split()
    assert len(urls) == 2 and len(set(urls)) == 1  # both workers used the controller's server
    assert urls[0] != os.environ[ENV_URL]  # a fresh server, not this session's


def test_importing_the_hub_package_stays_light():
    code = (
        "import sys, conformance.hub, conformance.hub.pytest_plugin, conformance.hub.cli, conformance.cli; "
        "heavy = [m for m in ('huggingface_hub', 'transformers', 'torch') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
