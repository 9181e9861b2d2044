"""Reference OpenVINO backend."""

from reference.openvino.modeling import (
    OVModel,
    OVModelForCausalLM,
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
    "OVModelForCausalLM",
    "OVModelForFeatureExtraction",
    "OVModelForImageClassification",
    "OVModelForMaskedLM",
    "OVModelForMultipleChoice",
    "OVModelForQuestionAnswering",
    "OVModelForSequenceClassification",
    "OVModelForTokenClassification",
]
