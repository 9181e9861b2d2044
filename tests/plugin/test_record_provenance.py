"""A run record names the suite's commit, from an editable checkout and from a built wheel alike:
the report's merge guard (one commit per merged site) depends on it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import conformance
from conformance.record import git_sha

ROOT = Path(__file__).resolve().parents[2]


def head() -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def installed_as_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """conformance as pip installs a wheel: in site-packages, far from any .git."""
    monkeypatch.setattr(
        conformance, "__file__", str(tmp_path / "site-packages" / "conformance" / "__init__.py")
    )
    monkeypatch.delenv("OPTIMUM_CONFORMANCE_SOURCE", raising=False)


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not run: this checkout has no .git")
def test_the_record_names_the_commit_of_this_checkout() -> None:
    assert git_sha() == head()  # editable install, or a tox wheel with OPTIMUM_CONFORMANCE_SOURCE


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not run: this checkout has no .git")
def test_a_wheel_names_the_checkout_tox_built_it_from(
    installed_as_wheel, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert git_sha() is None
    monkeypatch.setenv("OPTIMUM_CONFORMANCE_SOURCE", str(ROOT))
    assert git_sha() == head()


def test_a_source_that_is_not_the_suite_is_ignored(installed_as_wheel, tmp_path, monkeypatch) -> None:
    other = tmp_path / "someone-elses-backend"
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    monkeypatch.setenv("OPTIMUM_CONFORMANCE_SOURCE", str(other))
    assert git_sha() is None
