"""`--hub-endpoint URL --hub-token T`: the Hub clauses run against another Hub server.

The other Hub is a separate `optimum-conformance hub serve` process; the suite runs in a
subprocess whose environment names no embedded Hub. The server's request log shows where the
repos were made, and that every one of them was deleted afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.hub.test_cli import TOKEN, start, stop

ROOT = Path(__file__).resolve().parents[2]


def test_hub_clauses_run_against_another_hub(tmp_path: Path) -> None:
    proc, url = start(tmp_path / "data", tmp_path / "server.log", "--log-level", "INFO")
    try:
        record = tmp_path / "record.jsonl"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("OPTIMUM_CONFORMANCE_HUB", "HF_ENDPOINT", "HF_TOKEN"))
        }
        command = [sys.executable, "-m", "pytest", "--pyargs", "conformance", "-p", "no:cacheprovider", "-q",
                   "--backend", "reference-ort", "--arch", "bert", "--task", "text-classification",
                   "--results", str(record), "--hub-endpoint", url, "--hub-token", TOKEN,
                   "-k", "test_load_hub or test_push_manifest or test_load_revision_branch or hub_faults"]  # fmt: skip
        done = subprocess.run(
            command, cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "0"},
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
    finally:
        stop(proc, 15)
    results = {
        entry["check"]: entry
        for entry in map(json.loads, record.read_text().splitlines())
        if entry["type"] == "result"
    }
    outcomes = {check: entry["outcome"] for check, entry in results.items()}
    assert outcomes == {
        "load.hub": "passed",
        "load.hub_subfolder": "passed",
        "load.revision_branch": "passed",
        "push.manifest": "passed",
        "input.hub_faults": "not_run",
    }, done.stdout[-3000:]
    assert "embedded Hub" in results["input.hub_faults"]["message"]
    log = (tmp_path / "server.log").read_text()
    creates = log.count("POST /api/repos/create -> 200")
    deletes = log.count("DELETE /api/repos/delete -> 200")
    assert creates >= 4, "the repos were not made on the other Hub"
    assert deletes == creates, f"{creates} repos created, {deletes} deleted"
    assert TOKEN not in log + record.read_text() + done.stdout + done.stderr
