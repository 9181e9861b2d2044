"""Reference IPEX backend: `ipex.optimize`d models traced and frozen to TorchScript.

Importing this package is what selects the backend. It checks the versions first and raises one
ImportError that says what is needed: intel-extension-for-pytorch refuses any torch but its own
minor version, and on a mismatch its import prints an error and calls `os.exit(127)` (which does not
exist, so an AttributeError follows). IPEX itself is imported only when a model is exported or loaded.
"""

from __future__ import annotations

import importlib.metadata
import re

import torch

IPEX_DISTRIBUTION = "intel-extension-for-pytorch"
# IPEX 2.8.0 (2025-08) is the last release; it runs only with torch 2.8.*.
SUPPORTED = "2.8"
INSTALL_HINT = (
    f"pip install torch=={SUPPORTED}.0 {IPEX_DISTRIBUTION}=={SUPPORTED}.0 in an environment of its own "
    "(or `tox -e ipex`)"
)


def _minor(version: str) -> str | None:
    match = re.match(r"(\d+\.\d+)", version)
    return match.group(1) if match else None


def requirement_problem(torch_version: str, ipex_version: str | None) -> str | None:
    """Why IPEX cannot be imported next to this torch (IPEX's own rule: same major.minor), or None."""
    if ipex_version is None:
        return (
            f"The reference IPEX backend needs {IPEX_DISTRIBUTION} {SUPPORTED}.* with torch {SUPPORTED}.* "
            f"(its last release); {IPEX_DISTRIBUTION} is not installed (torch {torch_version} is). "
            f"Install: {INSTALL_HINT}."
        )
    needed = _minor(ipex_version)
    if needed is None or _minor(torch_version) != needed:
        return (
            f"The reference IPEX backend needs {IPEX_DISTRIBUTION} and torch of the same minor version "
            f"({SUPPORTED}.* for IPEX {SUPPORTED}, its last release); found {IPEX_DISTRIBUTION} "
            f"{ipex_version} with torch {torch_version}, so IPEX would refuse to import. Install: {INSTALL_HINT}."
        )
    return None


def _installed_ipex_version() -> str | None:
    try:
        return importlib.metadata.version(IPEX_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None


_problem = requirement_problem(torch.__version__, _installed_ipex_version())
if _problem:
    raise ImportError(_problem)

from reference.ipex.modeling import (  # noqa: E402 (only once the versions are known to fit)
    IPEXModel,
    IPEXModelForCausalLM,
    IPEXModelForFeatureExtraction,
    IPEXModelForImageClassification,
    IPEXModelForMaskedLM,
    IPEXModelForMultipleChoice,
    IPEXModelForQuestionAnswering,
    IPEXModelForSequenceClassification,
    IPEXModelForTokenClassification,
)

__all__ = [
    "IPEXModel",
    "IPEXModelForCausalLM",
    "IPEXModelForFeatureExtraction",
    "IPEXModelForImageClassification",
    "IPEXModelForMaskedLM",
    "IPEXModelForMultipleChoice",
    "IPEXModelForQuestionAnswering",
    "IPEXModelForSequenceClassification",
    "IPEXModelForTokenClassification",
    "requirement_problem",
]
