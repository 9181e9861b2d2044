"""torch inductor's compile cache lives under the export cache, in the workers too (engine.options)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.plugin.test_plugin import ROOT, run

# Left to CI by the quick run (tox -e quick): two suite runs that compile with inductor, ~40 s.
pytestmark = pytest.mark.slow

# A plugin the workers load: during parity.pytorch it compiles a small function with inductor, as
# optimum-ipex's forward does, and writes down where inductor was told to cache it.
PROBE = """
import os
import torch

def pytest_runtest_call(item):
    if "parity_pytorch" in item.name:
        torch.compile(lambda x: x * 2 + 1)(torch.ones(3))
        with open(os.environ["PROBE_OUT"], "w") as out:
            out.write(os.environ["TORCHINDUCTOR_CACHE_DIR"])
"""
ONE_CHECK = ("--backend", "reference-ort", "--arch", "bert", "--task", "text-classification")


@pytest.fixture
def probed(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    pytester.makepyfile(probe=PROBE)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    out = pytester.path / "probe.txt"
    monkeypatch.setenv("PROBE_OUT", str(out))
    return out


def test_a_worker_compiles_into_the_export_cache(pytester: pytest.Pytester, probed: Path) -> None:
    exports = pytester.path / "exports"
    result, _ = run(
        pytester, "-p", "probe", *ONE_CHECK, "--export-cache", str(exports), "-n", "1", "-k", "parity_pytorch"
    )
    assert result.ret == 0, result.stdout.str()[-2000:]
    assert probed.read_text() == str(exports / "torchinductor")
    assert any(path.is_file() for path in (exports / "torchinductor").rglob("*")), "nothing compiled there"


def test_a_cache_folder_the_user_chose_wins(
    pytester: pytest.Pytester, probed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = pytester.path / "my-inductor-cache"
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(chosen))
    exports = pytester.path / "exports"
    result, _ = run(
        pytester, "-p", "probe", *ONE_CHECK, "--export-cache", str(exports), "-k", "parity_pytorch"
    )
    assert result.ret == 0, result.stdout.str()[-2000:]
    assert probed.read_text() == str(chosen)
    assert not (exports / "torchinductor").exists()
    assert os.listdir(chosen)
