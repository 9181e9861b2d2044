"""Fixtures for the report tests: run the commands in-process and capture what they print."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import pytest

from reports.cli import main


class Outcome(NamedTuple):
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Outcome]:
    """`cli("gate", "--baseline", a, b)` runs the command like `python -m reports` and returns
    (exit code, stdout, stderr)."""

    def run(*argv: object) -> Outcome:
        capsys.readouterr()
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse errors
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run
