"""PyTorch -> TorchScript for IPEX: `ipex.optimize`, trace with the plan's example inputs, freeze, save.

The archive describes itself: an extra file inside it (`EXPORT_INFO`) holds the input and output
names, the example shapes, the compute dtype and the versions used, so nothing else is needed beside
`config.json` to load and run it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import json
import warnings
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from reference.exporting import ExportPlan, quiet_tracing

EXPORT_INFO = "reference_ipex.json"  # extra file inside the TorchScript archive
FORMAT = 1
DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "float": torch.float32,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
}
DTYPE_NAMES = {torch.float32: "fp32", torch.bfloat16: "bf16"}


def parse_dtype(value: str | torch.dtype | None) -> torch.dtype:
    """ "fp32"/"bf16" (or "float32"/"bfloat16", or the torch dtypes); None means fp32."""
    if value is None:
        return torch.float32
    if isinstance(value, torch.dtype) and value in DTYPE_NAMES:
        return value
    if isinstance(value, str) and value.lower().removeprefix("torch.") in DTYPES:
        return DTYPES[value.lower().removeprefix("torch.")]
    raise ValueError(
        f"dtype={value!r} is not supported by the IPEX backend; use 'fp32' (default) or 'bf16' "
        "(or torch.float32 / torch.bfloat16)."
    )


@functools.cache
def import_ipex() -> ModuleType:
    """IPEX, imported on first use; `reference.ipex` has already checked that the versions fit."""
    import intel_extension_for_pytorch as ipex

    # Emitted by IPEX's fusion pass on the first optimized runs of every traced graph: noise here.
    warnings.filterwarnings("ignore", message="JIT pass will be deprecated", category=UserWarning)
    return ipex


def bf16_supported() -> bool:
    """IPEX's own test: oneDNN bf16 kernels need AVX-512 BW/VL/DQ or AVX-NE-CONVERT (AMX is fastest)."""
    import_ipex()
    from intel_extension_for_pytorch.frontend import core

    return bool(core.onednn_has_bf16_support())


def check_dtype_runs_here(dtype: torch.dtype, what: str) -> None:
    """bf16 needs a CPU with oneDNN bf16 kernels; elsewhere IPEX fails op by op, so refuse it at once."""
    if dtype == torch.bfloat16 and not bf16_supported():
        raise ValueError(
            f"{what} computes in bf16, and this CPU has no bf16 support usable by IPEX (it needs AVX-512 "
            "BW/VL/DQ or AVX-NE-CONVERT; AVX512-BF16 or AMX make it fast). Use dtype='fp32' here."
        )


def autocast(dtype: torch.dtype) -> contextlib.AbstractContextManager:
    """bf16 models trace and run under CPU autocast, as IPEX prescribes; fp32 needs nothing."""
    if dtype == torch.bfloat16:
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def export_torchscript(plan: ExportPlan, path: Path, dtype: str | torch.dtype | None = None) -> None:
    """Write the traced, frozen TorchScript module of the `ipex.optimize`d plan module to `path`.

    `dtype` is parsed by `parse_dtype` (None: fp32).
    """
    dtype = parse_dtype(dtype)
    ipex = import_ipex()
    check_dtype_runs_here(dtype, "dtype='bf16'")
    with quiet_tracing(), torch.no_grad():
        # inplace=False: IPEX works on a copy, so the caller's model keeps its fp32 weights.
        optimized = ipex.optimize(plan.module, dtype=dtype, inplace=False)
        with autocast(dtype):
            # check_trace=False: re-running to compare would double the export time and adds nothing.
            traced = torch.jit.trace(optimized, plan.example, check_trace=False)
        frozen = torch.jit.freeze(traced)
    plan.module.eval()
    info = {
        "format": FORMAT,
        "dtype": DTYPE_NAMES[dtype],
        "inputs": [
            {
                "name": name,
                "dtype": str(x.dtype).removeprefix("torch."),
                "shape": list(x.shape),
                "dynamic_axes": sorted(plan.dynamic_axes.get(name, {})),
            }
            for name, x in zip(plan.input_names, plan.example)
        ],
        "outputs": plan.output_names,
        "versions": {
            name: _version(name) for name in ("torch", "intel-extension-for-pytorch", "transformers")
        },
    }
    torch.jit.save(frozen, str(path), _extra_files={EXPORT_INFO: json.dumps(info, indent=1)})


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def verify_archive(path: Path) -> None:
    """Check every member of the zip archive against its CRC-32.

    torch.jit.load reads tensor data without checking it: flipped bytes inside a weight load fine and
    give wrong outputs. Reading the file once more turns that into an error (BERT-base, 438 MB: 1.7 s
    on a busy 2-core machine, a small part of loading it).
    """
    with zipfile.ZipFile(path) as archive:
        bad = archive.testzip()
    if bad is not None:
        raise zipfile.BadZipFile(f"member {bad} fails its CRC-32 check")


def read_export_info(raw: str | bytes) -> dict[str, Any]:
    """The parsed `EXPORT_INFO`; ValueError when it is missing or not ours."""
    if not raw:
        raise ValueError(f"no {EXPORT_INFO} inside")
    info = json.loads(raw)
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise ValueError(f"{EXPORT_INFO} has an unknown format: {str(raw)[:80]!r}")
    return info
