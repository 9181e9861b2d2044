"""Expectation files: the format's rules (the plugin's use of them: tests/plugin/test_plugin.py)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from conformance import expectations
from conformance.backends import builtin


def test_a_list_of_tests_is_one_entry_per_name_with_the_same_reason(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text(
        '[[expect]]\ntest = ["test_a[x-*]", "test_b[x-*]"]\nreason = "one cause"\nlink = "https://e.invalid/1"\n'
    )
    entries = expectations.load(path)
    assert [e.test for e in entries] == ["test_a[x-*]", "test_b[x-*]"]
    assert {(e.reason, e.link) for e in entries} == {("one cause", "https://e.invalid/1")}
    assert entries[1].matches("test_b[x-text-generation-llama]") and not entries[1].matches("test_a[x-y]")


@pytest.mark.parametrize("test", ["[]", '["test_a[x-*]", ""]', "3"])
def test_a_test_that_is_not_names_is_refused(tmp_path: Path, test: str) -> None:
    path = tmp_path / "x.toml"
    path.write_text(f'[[expect]]\ntest = {test}\nreason = "r"\nlink = "https://e.invalid/1"\n')
    with pytest.raises(expectations.ExpectationError, match="test"):
        expectations.load(path)


def write(tmp_path: Path, versions: str) -> Path:
    """One entry for test_a with `versions` given as TOML source."""
    path = tmp_path / "x.toml"
    path.write_text(
        f'[[expect]]\ntest = "test_a[x-*]"\nreason = "r"\nlink = "https://e.invalid/1"\nversions = {versions}\n'
    )
    return path


# Real installed distributions: pytest runs this, so it is installed in every environment.
PYTEST = importlib.metadata.version("pytest")


@pytest.mark.parametrize(
    "versions",
    [f'"pytest=={PYTEST}"', '"pytest>=1"', '"pytest"', '"PyTest>=1"', f'["pytest=={PYTEST}", "pluggy"]'],
)
def test_an_entry_applies_where_every_named_release_is_installed(tmp_path: Path, versions: str) -> None:
    [entry] = expectations.load(write(tmp_path, versions))
    assert entry.test == "test_a[x-*]" and entry.versions


@pytest.mark.parametrize(
    "versions",
    [
        f'"pytest!={PYTEST}"',
        '"pytest<1"',
        '"optimum-conformance-no-such-distribution"',
        f'["pytest=={PYTEST}", "pytest<1"]',
    ],
)
def test_an_entry_for_other_releases_is_dropped(tmp_path: Path, versions: str) -> None:
    # Dropped at load: the plugin neither expects the failure nor reports the entry as stale.
    assert expectations.load(write(tmp_path, versions)) == []


def test_an_entry_without_versions_applies_everywhere(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text('[[expect]]\ntest = "test_a[x-*]"\nreason = "r"\nlink = "https://e.invalid/1"\n')
    assert [e.versions for e in expectations.load(path)] == [()]


@pytest.mark.parametrize(
    ("versions", "says"),
    [
        ('"pytest >= = 1"', "versions 'pytest >= = 1'"),
        ('"pytest[extra]>=1"', "only a distribution name and a version specifier"),
        ("\"pytest>=1; python_version > '3'\"", "only a distribution name and a version specifier"),
        ("[]", "versions is a requirement"),
        ("3", "versions is a requirement"),
        ('["pytest", ""]', "versions is a requirement"),
    ],
)
def test_a_malformed_versions_is_refused_with_the_entry_named(
    tmp_path: Path, versions: str, says: str
) -> None:
    with pytest.raises(expectations.ExpectationError, match=r"x\.toml: \[\[expect\]\] #1") as error:
        expectations.load(write(tmp_path, versions))
    assert says in str(error.value)


def test_the_shipped_files_load_with_their_entries_scoped() -> None:
    # Every built-in file is valid here, whatever releases this environment holds.
    for spec in builtin().values():
        if spec.expectations:
            expectations.load(spec.expectations)
