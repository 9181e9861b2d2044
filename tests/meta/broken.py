"""The old home of the broken backends, kept for the selectors and imports that name it
(`tests.meta.broken:BROKEN_EXTRAFILE`, `tests.meta.broken:CRASHING`, ...): every spec of
`tests/meta/defects/`, re-exported. Declare new defects there, not here."""

from __future__ import annotations

from tests.meta.defects import all_defects
from tests.meta.defects.crashes import CRASHING, HANGING

__all__ = ["CRASHING", "HANGING"]

for _defect in all_defects():
    globals()[_defect.attr] = _defect.spec
    __all__.append(_defect.attr)
