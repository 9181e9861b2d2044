"""The run record: JSON Lines, flushed after every line (the shape: reports/schema.py).

A `run` line with provenance, one `result` line per test as soon as it is known, an `end` line.
A run killed with SIGKILL keeps every line written before: each is flushed to the OS at once.
Lines are built by reports.schema (`run_line`, `result_line`, `end_line`), which checks them.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import subprocess
import uuid
from collections import Counter
from pathlib import Path
from typing import IO, Any

import conformance
from reports import schema

PACKAGES = ("torch", "transformers", "huggingface_hub", "tokenizers", "numpy", "optimum", "pytest")
_SECRET_KEYS = ("token", "password", "secret", "authorization")


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class RecordWriter:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 (lives for the run)
        self.run_id = uuid.uuid4().hex
        self.counts: Counter[str] = Counter()

    def _write(self, line: dict[str, Any]) -> None:
        self._file.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
        self._file.flush()

    def run(
        self,
        backends: list[dict[str, Any]],
        shard: tuple[int, int],
        argv: list[str],
        tasks: list[str] | tuple[str, ...] | None = None,
        clauses: list[dict[str, str]] | None = None,
    ) -> None:
        """The run line; `tasks`: the suite's tasks in display order (the report's column order);
        `clauses`: the catalogue, {id, level, doc} each (the report's feature table)."""
        self._write(
            schema.run_line(
                run_id=self.run_id,
                suite={
                    "name": "optimum-conformance",
                    "version": conformance.__version__,
                    "git_sha": git_sha(),
                },
                backends=backends,
                environment=environment(),
                shard={"id": shard[0], "count": shard[1]},
                started_at=now(),
                argv=scrub_argv(argv),
                tasks=None if tasks is None else list(tasks),
                clauses=clauses,
            )
        )

    def result(self, line: dict[str, Any]) -> None:
        """Write a result line made by `reports.schema.result_line` (the writer adds type and run_id)."""
        if "type" in line or "run_id" in line:
            raise ValueError(
                "pass the dict reports.schema.result_line returns: the writer adds type and run_id"
            )
        self.counts[line["outcome"]] += 1
        self._write({"type": "result", "run_id": self.run_id, **line})

    def end(self, exit_status: int | None) -> None:
        self._write(
            schema.end_line(
                run_id=self.run_id, ended_at=now(), counts=dict(self.counts), exit_status=exit_status
            )
        )
        self._file.close()


def scrub_argv(argv: list[str]) -> list[str]:
    """Drop the value of any token-like option: tokens never reach records."""
    scrubbed, hide_next = [], False
    for arg in argv:
        if hide_next:
            scrubbed.append("***")
            hide_next = False
            continue
        key = arg.split("=", 1)[0].lower()
        if any(secret in key for secret in _SECRET_KEYS) and key.startswith("-"):
            if "=" in arg:
                scrubbed.append(f"{arg.split('=', 1)[0]}=***")
            else:
                scrubbed.append(arg)
                hide_next = True
            continue
        scrubbed.append(arg)
    return scrubbed


def git_sha() -> str | None:
    """The commit of the suite's source: its own checkout (an editable install), else the checkout
    named by OPTIMUM_CONFORMANCE_SOURCE (tox sets it: a built wheel has no .git)."""
    for root in (
        Path(conformance.__file__).resolve().parent.parent,
        os.environ.get("OPTIMUM_CONFORMANCE_SOURCE"),
    ):
        if root is None or not (Path(root) / ".git").exists() or not (Path(root) / "conformance").is_dir():
            continue
        try:
            result = subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return result.stdout.strip() or None
    return None


def environment() -> dict[str, Any]:
    return {
        "name": os.environ.get("OPTIMUM_CONFORMANCE_ENV") or os.environ.get("TOX_ENV_NAME"),
        "python": platform.python_version(),
        "os": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu(),
        "packages": {name: _version(name) for name in PACKAGES},
    }


def cpu() -> dict[str, Any]:
    model, flags = platform.processor() or None, []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in (None, "", platform.machine()):
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = sorted(value.split())
    except OSError:
        pass
    return {"model": model, "count": os.cpu_count(), "flags": flags}


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
