"""Reference ONNX Runtime backend."""

from reference.onnxruntime.modeling import (
    ORTModel,
    ORTModelForFeatureExtraction,
    ORTModelForImageClassification,
    ORTModelForMaskedLM,
    ORTModelForMultipleChoice,
    ORTModelForQuestionAnswering,
    ORTModelForSequenceClassification,
    ORTModelForTokenClassification,
)

__all__ = [
    "ORTModel",
    "ORTModelForFeatureExtraction",
    "ORTModelForImageClassification",
    "ORTModelForMaskedLM",
    "ORTModelForMultipleChoice",
    "ORTModelForQuestionAnswering",
    "ORTModelForSequenceClassification",
    "ORTModelForTokenClassification",
]
