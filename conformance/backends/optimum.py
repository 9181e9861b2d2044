"""Specs of the upstream Optimum backends: optimum-onnx (ORT), optimum-intel (OpenVINO, IPEX).

As thin as a backend author would write them; where upstream departs from the contract, the
expectation files in `expectations/` say how, with a link to the upstream source.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

from conformance.backends import classes_by_convention, ort_thread_probe
from conformance.spec import BackendSpec

EXPECTATIONS = Path(__file__).parent / "expectations"


def _ov_probe() -> tuple[dict[str, Any], Any]:
    """A throughput hint asked for, found on the compiled model."""

    def probe(model: Any) -> bool:
        model.compile()
        compiled = model.request  # a CompiledModel; the causal LMs keep an InferRequest of it
        if hasattr(compiled, "get_compiled_model"):
            compiled = compiled.get_compiled_model()
        return "THROUGHPUT" in str(compiled.get_property("PERFORMANCE_HINT"))

    return {"ov_config": {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "THROUGHPUT"}}, probe


def _ort_distribution() -> str:
    """The distribution that provides optimum.onnxruntime here, so records carry its version: optimum-onnx,
    or on transformers 5 its fork optimum-onnx-naf (notes/versions.md §2; the two are never installed
    together: they write the same files)."""
    try:
        importlib.metadata.version("optimum-onnx-naf")
    except importlib.metadata.PackageNotFoundError:
        return "optimum-onnx"
    return "optimum-onnx-naf"


OPTIMUM_ORT = BackendSpec(
    name="optimum-ort",
    classes=classes_by_convention("optimum.onnxruntime", "ORT"),
    distribution=_ort_distribution(),
    runtime_packages=("optimum", "onnxruntime", "onnx"),
    artifacts=("model.onnx",),
    runtime_probe=ort_thread_probe,
    invalid_runtime_kwargs={"provider": "NoSuchExecutionProvider"},
    expectations=EXPECTATIONS / "optimum-ort.toml",
)
OPTIMUM_OV = BackendSpec(
    name="optimum-ov",
    classes=classes_by_convention("optimum.intel", "OV", missing=("multiple-choice",)),
    distribution="optimum-intel",
    runtime_packages=("optimum", "openvino", "nncf"),
    artifacts=("openvino_model.xml", "openvino_model.bin"),
    # As upstream's own parity tests (tests/openvino/utils_tests.py F32_CONFIG): no bf16 on AMX CPUs.
    # The fp32 tier keeps the KV cache in f32 too: the CPU plugin's default u8 cache is a quantization
    # (it drifts greedy tokens), which the reference also turns off unless asked for.
    load_kwargs={"ov_config": {"INFERENCE_PRECISION_HINT": "f32", "KV_CACHE_PRECISION": "f32"}},
    precisions={"bf16": {"ov_config": {"INFERENCE_PRECISION_HINT": "bf16", "KV_CACHE_PRECISION": "f32"}}},
    runtime_probe=_ov_probe,
    invalid_runtime_kwargs={"device": "NOSUCH"},
    expectations=EXPECTATIONS / "optimum-ov.toml",
)
# No runtime probe: IPEX models take no runtime option (threads and oneDNN are process-wide).
OPTIMUM_IPEX = BackendSpec(
    name="optimum-ipex",
    classes={  # feature extraction is the base class, as in optimum-intel's own tests
        **classes_by_convention("optimum.intel", "IPEX", missing=("feature-extraction", "multiple-choice")),
        "feature-extraction": "optimum.intel:IPEXModel",
    },
    distribution="optimum-intel",
    runtime_packages=("optimum", "intel-extension-for-pytorch", "torch"),
    artifacts=("pytorch_model.bin",),
    precisions={"bf16": {"torch_dtype": "bfloat16"}},  # transformers' dtype option, as a string
    unsupported={
        **{
            f"load.{name}": "IPEXModel.from_pretrained (optimum-intel >= 1.23) has no export step: it loads the "
            "PyTorch checkpoint with transformers"
            for name in ("export", "export_legacy_hook", "reexport")
        },
        "gen.use_cache_mismatch": "the artifact is the PyTorch checkpoint, which serves use_cache=True and False "
        "alike: no artifact is cacheless",
    },
    expectations=EXPECTATIONS / "optimum-ipex.toml",
)
OPTIMUM_SPECS = (OPTIMUM_ORT, OPTIMUM_OV, OPTIMUM_IPEX)
