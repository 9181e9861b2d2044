"""Reference ONNX Runtime backend: only what is specific to ONNX files and InferenceSession."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from reference import tasks
from reference.exporting import plan_export
from reference.modeling_base import CorruptArtifactError, OptimizedModel
from reference.onnxruntime.export import (
    DEFAULT_EXTERNAL_DATA_THRESHOLD,
    DEFAULT_OPSET,
    EXTERNAL_DATA_SUFFIX,
    export_onnx,
    external_data_locations,
    move_to_external_data,
)

_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
}


class ORTModel(OptimizedModel):
    """An ONNX model run by `onnxruntime.InferenceSession`.

    Backend options for `from_pretrained`: `provider` (default "CPUExecutionProvider") or
    `providers`, `provider_options`, `session_options`, and `file_name` to pick one of several
    `.onnx` files. Export options: `opset`, `external_data_threshold` (bytes; larger models keep
    their weights in `model.onnx_data`).
    """

    artifact_pattern = re.compile(r".*\.onnx$")
    default_file_name = "model.onnx"
    runtime_kwargs = ("provider", "providers", "provider_options", "session_options")
    export_kwargs = ("opset", "external_data_threshold")

    @classmethod
    def _export_artifacts(
        cls,
        model: Any,
        spec: tasks.TaskSpec,
        config: Any,
        library: str,
        out_dir: Path,
        opset: int = DEFAULT_OPSET,
        external_data_threshold: int = DEFAULT_EXTERNAL_DATA_THRESHOLD,
    ) -> str:
        plan = plan_export(model, spec, config, library)
        export_onnx(plan, out_dir / cls.default_file_name, opset, external_data_threshold)
        return cls.default_file_name

    @classmethod
    def _artifact_companions(cls, path: Path) -> list[str]:
        try:
            return external_data_locations(path)
        except Exception as error:  # protobuf DecodeError and friends
            raise CorruptArtifactError(path, f"not a valid ONNX protobuf ({error})") from error

    @classmethod
    def _load_runtime(
        cls,
        path: Path,
        provider: str = "CPUExecutionProvider",
        providers: list[str] | None = None,
        provider_options: dict | list[dict] | None = None,
        session_options: Any = None,
    ) -> Any:
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
            return ort.InferenceSession(
                str(path),
                sess_options=session_options,
                providers=providers,
                provider_options=provider_options,
            )
        except Exception as error:
            if type(error).__module__ != ort_errors.__name__:  # e.g. a TypeError for bad options
                raise
            raise CorruptArtifactError(path, f"ONNX Runtime refused it ({error})") from error

    def _runtime_io(self) -> tuple[dict[str, np.dtype], list[str]]:
        inputs = {i.name: np.dtype(_ORT_TYPES.get(i.type, np.float32)) for i in self.model.get_inputs()}
        return inputs, [o.name for o in self.model.get_outputs()]

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.model.run(None, feed)))

    @property
    def providers(self) -> list[str]:
        return self.model.get_providers()

    def _save_pretrained(self, save_directory: Path) -> None:
        target = save_directory / self.default_file_name
        locations = external_data_locations(self.model_path)
        standard = target.name + EXTERNAL_DATA_SUFFIX
        if locations and locations != [standard]:
            move_to_external_data(self.model_path, target)  # rename the data file to the standard name
            return
        shutil.copyfile(self.model_path, target)
        for location in locations:
            shutil.copyfile(self.model_path.parent / location, save_directory / location)


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
