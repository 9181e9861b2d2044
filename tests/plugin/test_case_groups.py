"""A case's checks run together on one xdist worker (`--dist loadgroup`, CrashSafeScheduling): its
export, live model and oracle stay at hand. Under pytest 9, xdist's own grouping (a "@group" suffix on
the node id) never reached the scheduler, and every check was scheduled alone."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from tests.plugin.test_plugin import results, run

# A plugin the workers load: which worker ran which check.
PROBE = """
import os

def pytest_runtest_setup(item):
    with open(os.environ["PROBE_OUT"], "a") as out:
        out.write(f"{os.environ['PYTEST_XDIST_WORKER']} {item.nodeid}\\n")
"""


def test_every_check_of_a_case_runs_on_one_worker(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(probe=PROBE)
    out = pytester.path / "probe.txt"
    monkeypatch.setenv("PROBE_OUT", str(out))
    result, lines = run(
        pytester,
        "-p",
        "probe",
        *("--backend", "reference-ort", "--arch", "bert", "--export-cache", "none"),
        *("-n", "2", "--dist", "loadgroup"),
        "-k",
        "parity_pytorch or save_reload_equal or parity_determinism",
    )
    assert result.ret == 0, result.stdout.str()[-2000:]
    workers: dict[str, set[str]] = defaultdict(set)
    for line in Path(out).read_text().splitlines():
        worker, nodeid = line.split(" ", 1)
        workers[nodeid.rpartition("[")[2]].add(worker)
    assert len(workers) == 6, workers  # bert's six tasks
    assert all(len(ran_on) == 1 for ran_on in workers.values()), dict(workers)
    assert len(set().union(*workers.values())) == 2, "both workers had cases"
    # So save.reload_equal judged the export that filled the cache, never exporting twice.
    reloads = [r for r in results(lines).values() if r["check"] == "save.reload_equal"]
    assert len(reloads) == 6 and all(r["metrics"]["export_reused"] == 1 for r in reloads)
