"""Reference ONNX Runtime backend: only what is specific to ONNX files and InferenceSession."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from reference import onnx_files
from reference.generation import CausalLM
from reference.modeling_base import OptimizedModel
from reference.runtime import CorruptArtifactError

_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
}


class ORTRuntime:
    """An `onnxruntime.InferenceSession` on one `.onnx` file (a `reference.runtime.Runtime`)."""

    def __init__(self, session: Any, path: Path) -> None:
        self.native = session
        self.path = path
        self._output_names = [o.name for o in session.get_outputs()]

    @classmethod
    def companions(cls, path: Path) -> list[str]:
        return onnx_files.companions(path)

    @classmethod
    def load(
        cls,
        path: Path,
        provider: str = "CPUExecutionProvider",
        providers: list[str] | None = None,
        provider_options: dict | list[dict] | None = None,
        session_options: Any = None,
    ) -> ORTRuntime:
        import onnxruntime as ort
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

        providers = list(providers or [provider])
        available = ort.get_available_providers()
        missing = [p for p in providers if p not in available]
        if missing:
            raise ValueError(
                f"ONNX Runtime provider(s) {missing} not available here; available: {available}."
            )
        if isinstance(provider_options, dict):
            provider_options = [provider_options]
        if not path.is_file():
            raise FileNotFoundError(f"ONNX file {path} does not exist.")
        try:
            session = ort.InferenceSession(
                str(path),
                sess_options=session_options,
                providers=providers,
                provider_options=provider_options,
            )
        except Exception as error:
            if type(error).__module__ != ort_errors.__name__:  # e.g. a TypeError for bad options
                raise
            raise CorruptArtifactError(path, f"ONNX Runtime refused it ({error})") from error
        return cls(session, path)

    def io(self) -> tuple[dict[str, np.dtype], list[str]]:
        inputs = {i.name: np.dtype(_ORT_TYPES.get(i.type, np.float32)) for i in self.native.get_inputs()}
        return inputs, list(self._output_names)

    def shapes(self) -> dict[str, list[int | None]]:
        return {
            i.name: [d if isinstance(d, int) else None for d in i.shape] for i in self.native.get_inputs()
        }

    def run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # InferenceSession.run is thread-safe, and its outputs are new arrays each call.
        return dict(zip(self._output_names, self.native.run(None, feed)))

    def save(self, path: Path) -> None:
        onnx_files.save_standard(self.path, path)


class ORTModel(OptimizedModel):
    """An ONNX model run by `onnxruntime.InferenceSession` (`model.model`).

    Backend options for `from_pretrained`: `provider` (default "CPUExecutionProvider") or
    `providers`, `provider_options`, `session_options`, and `file_name` to pick one of several
    `.onnx` files. Export options: `opset`, `external_data_threshold` (bytes; larger models keep
    their weights in `model.onnx_data`).
    """

    runtime_class = ORTRuntime
    exporter = staticmethod(onnx_files.export_onnx)
    artifact_pattern = re.compile(r".*\.onnx$")
    default_file_name = "model.onnx"
    runtime_kwargs = ("provider", "providers", "provider_options", "session_options")
    export_kwargs = ("opset", "external_data_threshold")

    @property
    def providers(self) -> list[str]:
        return self.model.get_providers()


class ORTModelForFeatureExtraction(ORTModel):
    export_feature = "feature-extraction"


class ORTModelForSequenceClassification(ORTModel):
    export_feature = "text-classification"


class ORTModelForTokenClassification(ORTModel):
    export_feature = "token-classification"


class ORTModelForQuestionAnswering(ORTModel):
    export_feature = "question-answering"


class ORTModelForMaskedLM(ORTModel):
    export_feature = "fill-mask"


class ORTModelForMultipleChoice(ORTModel):
    export_feature = "multiple-choice"


class ORTModelForImageClassification(ORTModel):
    export_feature = "image-classification"


class ORTModelForCausalLM(CausalLM, ORTModel):
    """A causal LM: one `model.onnx` decoder with `past_key_values.*` inputs and `present.*` outputs,
    and `generate()` from transformers. Export option `use_cache` (default True; False gives a graph
    without cache inputs); loading checks that a `use_cache` given agrees with the file."""

    decoder_exporter = staticmethod(onnx_files.export_onnx)
    export_kwargs = (*ORTModel.export_kwargs, "use_cache")
