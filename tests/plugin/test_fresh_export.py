"""save.reload_equal judges a fresh export against its save: on a cold export cache, the export
that filled the cache (untouched since) serves, so the model is exported once, not twice; on a warm
cache the check exports anew. The verdict is the same either way (CheckContext.fresh_export_and_save)."""

from __future__ import annotations

import pytest

from tests.plugin.test_plugin import results, run

ONE_CASE = ("--backend", "reference-ort", "--arch", "bert", "--task", "text-classification")
CASE = "test_save_reload_equal[reference-ort-text-classification-bert]"


def test_the_export_that_filled_the_cache_is_judged_then_a_new_one(pytester: pytest.Pytester) -> None:
    exports = pytester.path / "exports"
    selection = ("--export-cache", str(exports), "-k", "save_reload_equal or parity_pytorch")
    cold, cold_lines = run(pytester, *ONE_CASE, *selection)
    assert cold.ret == 0, cold.stdout.str()[-2000:]
    warm, warm_lines = run(pytester, *ONE_CASE, *selection)
    assert warm.ret == 0, warm.stdout.str()[-2000:]
    first, second = results(cold_lines)[CASE], results(warm_lines)[CASE]
    assert (first["outcome"], second["outcome"]) == ("passed", "passed")
    assert (first["metrics"]["export_reused"], second["metrics"]["export_reused"]) == (1, 0)
    assert (first["metrics"]["export_cache_hit"], second["metrics"]["export_cache_hit"]) == (0, 1)
