"""Reference OpenVINO backend."""

from reference.openvino.modeling import (
    OVModel,
    OVModelForFeatureExtraction,
    OVModelForImageClassification,
    OVModelForMaskedLM,
    OVModelForMultipleChoice,
    OVModelForQuestionAnswering,
    OVModelForSequenceClassification,
    OVModelForTokenClassification,
)

__all__ = [
    "OVModel",
    "OVModelForFeatureExtraction",
    "OVModelForImageClassification",
    "OVModelForMaskedLM",
    "OVModelForMultipleChoice",
    "OVModelForQuestionAnswering",
    "OVModelForSequenceClassification",
    "OVModelForTokenClassification",
]
