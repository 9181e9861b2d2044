"""Backends that take the process down or hang, for the crash and timeout outcomes (tests/plugin).

Not defects of a clause, so not registered: only inputs of batch 3 (the dynamic-shapes check)
trigger them, and every other check still runs and passes.
"""

from __future__ import annotations

import os
import time

from tests.meta.defects import ort_spec


class AbortsOnBatch3:
    def _run(self, feed):
        if feed[self.main_input_name].shape[0] == 3:
            os.abort()
        return super()._run(feed)


class HangsOnBatch3:
    def _run(self, feed):
        if feed[self.main_input_name].shape[0] == 3:
            time.sleep(120)
        return super()._run(feed)


CRASHING = ort_spec(AbortsOnBatch3)
HANGING = ort_spec(HangsOnBatch3)
