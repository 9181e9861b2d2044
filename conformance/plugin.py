"""pytest11 entry point of the conformance suite.

Inactive unless `--backend` is given. Then it parametrizes the checks in `conformance/checks/`
over backend x zoo model as their clauses declare, applies expectations and declared
capabilities, and writes every outcome to the run record as soon as it is known. The work is done
by the modules of `conformance.engine`, one concern each (see its docstring).

Loading this module stays cheap: it imports no runtime (onnxruntime, openvino, IPEX, optimum)
and neither torch nor huggingface_hub.
"""

from __future__ import annotations

pytest_plugins = (
    "conformance.engine.options",
    "conformance.engine.collect",
    "conformance.engine.recorder",
    "conformance.engine.xdist_compat",
    "conformance.engine.threads",
    "conformance.engine.isolation",
    "conformance.engine.oracle_guard",
    "conformance.engine.session",
)
