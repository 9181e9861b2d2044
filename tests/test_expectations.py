"""Expectation files: the format's rules (the plugin's use of them: tests/plugin/test_plugin.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance import expectations


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
