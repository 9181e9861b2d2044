"""Specs of the reference backends (this repository's `reference/`)."""

from __future__ import annotations

from typing import Any

from conformance.backends import classes_by_convention, ort_thread_probe
from conformance.spec import BackendSpec


def _ov_probe() -> tuple[dict[str, Any], Any]:
    """A throughput hint asked for, found on the compiled model."""
    kwargs = {"ov_config": {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "THROUGHPUT"}}
    return (
        kwargs,
        lambda model: "THROUGHPUT" in str(model.compile().compiled_model.get_property("PERFORMANCE_HINT")),
    )


REFERENCE_ORT = BackendSpec(
    name="reference-ort",
    classes=classes_by_convention("reference.onnxruntime", "ORT"),
    distribution="optimum-conformance",
    runtime_packages=("onnxruntime", "onnx"),
    artifacts=("model.onnx",),
    runtime_probe=ort_thread_probe,
    invalid_runtime_kwargs={"provider": "NoSuchExecutionProvider"},
)
REFERENCE_OV = BackendSpec(
    name="reference-ov",
    classes=classes_by_convention("reference.openvino", "OV"),
    distribution="optimum-conformance",
    runtime_packages=("openvino",),
    artifacts=("openvino_model.xml", "openvino_model.bin"),
    load_kwargs={"ov_config": {"INFERENCE_PRECISION_HINT": "f32"}},
    precisions={"bf16": {"ov_config": {"INFERENCE_PRECISION_HINT": "bf16"}}},
    runtime_probe=_ov_probe,
    invalid_runtime_kwargs={"device": "NOSUCHDEVICE"},
)
# No runtime probe: IPEX has no per-model runtime option (threads and oneDNN settings are
# process-wide; dtype is fixed at export), so any probe would be one that cannot fail.
REFERENCE_IPEX = BackendSpec(
    name="reference-ipex",
    classes=classes_by_convention("reference.ipex", "IPEX"),
    distribution="optimum-conformance",
    runtime_packages=("intel-extension-for-pytorch", "torch"),
    artifacts=("model.pt",),
    precisions={"bf16": {"dtype": "bf16"}},
    invalid_runtime_kwargs={"dtype": "fp16"},
)
REFERENCE_SPECS = (REFERENCE_ORT, REFERENCE_OV, REFERENCE_IPEX)
