"""Built-in backends, by name. Modules are imported only when a backend is selected."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

# Class-name suffix per task, the Optimum naming convention every backend here follows.
CLASS_SUFFIX = {
    "feature-extraction": "FeatureExtraction",
    "text-classification": "SequenceClassification",
    "token-classification": "TokenClassification",
    "question-answering": "QuestionAnswering",
    "fill-mask": "MaskedLM",
    "multiple-choice": "MultipleChoice",
    "image-classification": "ImageClassification",
}


@dataclass(frozen=True)
class Backend:
    name: str
    module: str
    class_prefix: str
    parity_kwargs: dict[str, Any]

    def model_class(self, task: str) -> type:
        """The class doing `task`; ImportError when the backend's runtime is missing."""
        module = importlib.import_module(self.module)
        return getattr(module, f"{self.class_prefix}ModelFor{CLASS_SUFFIX[task]}")


BUILTIN = {
    backend.name: backend
    for backend in (
        Backend("reference-ort", "reference.onnxruntime", "ORT", {}),
        Backend(
            "reference-ov", "reference.openvino", "OV", {"ov_config": {"INFERENCE_PRECISION_HINT": "f32"}}
        ),
    )
}
