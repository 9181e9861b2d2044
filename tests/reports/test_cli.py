"""The reports package stands alone: no conformance, reference or ML runtime; its CLI plugs into any parser."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from reports import cli

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = (
    "conformance",
    "reference",
    "torch",
    "transformers",
    "onnxruntime",
    "openvino",
    "numpy",
    "huggingface_hub",
)


def test_reports_imports_no_harness_and_no_runtime() -> None:
    code = (
        "import sys, reports, reports.model, reports.diff, reports.render, reports.cli;"
        f"bad = [m for m in {FORBIDDEN!r} if m in sys.modules]; print(bad); sys.exit(bool(bad))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_register_adds_the_four_commands_to_another_parser(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="optimum-conformance")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run")  # the top-level CLI has its own commands
    cli.register(sub)
    for argv in (
        ["merge", "a.jsonl", "b.jsonl", "-o", "m.jsonl", "--expect-shards", "2"],
        ["report", "a.jsonl", "-o", "site", "--history", "h", "--markdown"],
        ["diff", "a.jsonl", "b.jsonl"],
        ["gate", "--baseline", "a.jsonl", "b.jsonl", "--policy", "strict", "--junit", "j.xml"],
    ):
        args = parser.parse_args(argv)
        assert callable(args.func) and args.command == argv[0]
    assert parser.parse_args(["gate", "--baseline", "a", "b"]).policy == "core"


def test_bad_arguments_exit_2(cli) -> None:
    assert cli("gate", "new.jsonl").code == 2  # --baseline is required
    assert cli("gate", "--baseline", "a", "b", "--policy", "lenient").code == 2
