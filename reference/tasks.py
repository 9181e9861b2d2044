"""One table of tasks: what every backend needs to know about a task, in one place.

A task names the transformers auto class, the default output class, the inputs the graph takes
(with their dynamic axes and how to fill the optional ones), and how to build example inputs for
tracing. Backends never hard-code any of this.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

TEXT_AXES = {0: "batch_size", 1: "sequence_length"}
CHOICE_AXES = {0: "batch_size", 1: "num_choices", 2: "sequence_length"}
IMAGE_AXES = {0: "batch_size"}

# Inputs the forward accepts by name; anything else is a TypeError. Known names the graph does not
# take (e.g. token_type_ids for DistilBERT, which tokenizers often emit) are dropped, like
# transformers pipelines expect.
KNOWN_INPUTS = frozenset({"input_ids", "attention_mask", "token_type_ids", "position_ids", "pixel_values"})
# Flags transformers callers pass that change nothing here.
IGNORED_FLAGS = frozenset({"output_attentions", "output_hidden_states", "use_cache"})


@dataclass(frozen=True, eq=False)  # hashed by identity: specs are singletons
class TaskSpec:
    """Everything task-specific that export, forward and save rely on."""

    name: str
    auto_class: str  # transformers auto class name, e.g. "AutoModelForSequenceClassification"
    output_class: str  # default transformers.modeling_outputs class when the model says nothing
    modality: str  # "text" or "image"
    input_axes: Mapping[int, str]
    generative: bool = False  # the model class's can_generate(): generate() applies to the task

    @property
    def main_input(self) -> str:
        return "pixel_values" if self.modality == "image" else "input_ids"

    def auto_model_class(self) -> Any:
        import transformers

        return getattr(transformers, self.auto_class)

    def input_names(self, config: Any, library: str = "transformers") -> list[str]:
        """Graph inputs, in export order, for a model with this config."""
        if self.modality == "image":
            return ["pixel_values"]
        names = ["input_ids", "attention_mask"]
        if _uses_token_type_ids(config, self):
            names.append("token_type_ids")
        return names

    @staticmethod
    def output_axes(name: str, rank: int) -> dict[int, str]:
        """All output axes are symbolic: a static axis named symbolically costs nothing, while a wrong
        static one (QA logits follow the sequence, multiple-choice logits the choices) breaks shapes."""
        return {axis: "batch_size" if axis == 0 else f"{name}_dim{axis}" for axis in range(rank)}


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec("feature-extraction", "AutoModel", "BaseModelOutput", "text", TEXT_AXES),
        TaskSpec(
            "text-classification",
            "AutoModelForSequenceClassification",
            "SequenceClassifierOutput",
            "text",
            TEXT_AXES,
        ),
        TaskSpec(
            "token-classification",
            "AutoModelForTokenClassification",
            "TokenClassifierOutput",
            "text",
            TEXT_AXES,
        ),
        TaskSpec(
            "question-answering",
            "AutoModelForQuestionAnswering",
            "QuestionAnsweringModelOutput",
            "text",
            TEXT_AXES,
        ),
        TaskSpec("fill-mask", "AutoModelForMaskedLM", "MaskedLMOutput", "text", TEXT_AXES),
        TaskSpec(
            "multiple-choice", "AutoModelForMultipleChoice", "MultipleChoiceModelOutput", "text", CHOICE_AXES
        ),
        TaskSpec(
            "text-generation",
            "AutoModelForCausalLM",
            "CausalLMOutputWithPast",
            "text",
            TEXT_AXES,
            generative=True,
        ),
        TaskSpec(
            "image-classification",
            "AutoModelForImageClassification",
            "ImageClassifierOutput",
            "image",
            IMAGE_AXES,
        ),
    )
}
# Feature extraction on images shares the task name; the modality comes from the config.
IMAGE_FEATURE_EXTRACTION = TaskSpec(
    "feature-extraction", "AutoModel", "BaseModelOutputWithPooling", "image", IMAGE_AXES
)


def get_task(name: str, config: Any = None) -> TaskSpec:
    """The spec of task `name`; `config` decides the modality of feature-extraction."""
    try:
        spec = TASKS[name]
    except KeyError:
        raise ValueError(f"Unknown task {name!r}. Supported tasks: {', '.join(TASKS)}.") from None
    if spec.name == "feature-extraction" and config is not None and is_image_config(config):
        return IMAGE_FEATURE_EXTRACTION
    return spec


def is_image_config(config: Any) -> bool:
    return hasattr(config, "num_channels") or getattr(config, "pretrained_cfg", None) is not None


def _uses_token_type_ids(config: Any, spec: TaskSpec) -> bool:
    # Models whose embeddings have a single token type (RoBERTa, XLM-R) or none (DeBERTa-v2 default)
    # ignore the input, so it is left out of the graph.
    if getattr(config, "type_vocab_size", 0) <= 1:
        return False
    model_class = model_class_for(config, spec)
    return model_class is None or "token_type_ids" in inspect.signature(model_class.forward).parameters


def model_class_for(config: Any, spec: TaskSpec) -> type | None:
    """The transformers class the auto class picks for this config, or None."""
    try:
        return spec.auto_model_class()._model_mapping[type(config)]
    except (KeyError, AttributeError):
        return None


def supported_tasks(config: Any) -> list[str]:
    """Tasks whose auto class knows this config (for error messages)."""
    return [name for name, spec in TASKS.items() if model_class_for(config, get_task(name, config))]


def check_config_supports(config: Any, spec: TaskSpec, library: str) -> None:
    """Raise ValueError when a transformers architecture cannot do the task."""
    if library != "transformers" or model_class_for(config, spec) is not None:
        return
    model_type = getattr(config, "model_type", type(config).__name__)
    tasks = supported_tasks(config)
    raise ValueError(
        f"Architecture {model_type!r} cannot do the task {spec.name!r} ({spec.auto_class} has no class for "
        f"{type(config).__name__}). Tasks this architecture supports: {', '.join(tasks) or 'none'}; "
        "pick the matching model class."
    )


# Return annotations that name another class than the forward returns (transformers 4.55-5.x).
_ANNOTATION_SLIPS = {"ElectraModel": "BaseModelOutputWithPastAndCrossAttentions"}


@functools.cache
def _output_class_for(config_class: type, spec: TaskSpec) -> type:
    import transformers.modeling_outputs as outputs
    from transformers.utils import ModelOutput

    default = getattr(outputs, spec.output_class)
    try:
        model_class = spec.auto_model_class()._model_mapping[config_class]
        if model_class.__name__ in _ANNOTATION_SLIPS:
            return getattr(outputs, _ANNOTATION_SLIPS[model_class.__name__])
        hint = typing.get_type_hints(model_class.forward).get("return")
    except Exception:  # no mapping or unresolvable annotations: the task default is right
        return default
    # Some annotations are copy-paste slips (ALBERT QA says AlbertForPreTrainingOutput): trust one
    # only when it has the task's own outputs.
    needed = set(default.__dataclass_fields__) - {"loss", "hidden_states", "attentions", "cross_attentions"}
    for candidate in typing.get_args(hint) or (hint,):
        if (
            isinstance(candidate, type)
            and issubclass(candidate, ModelOutput)
            and needed <= set(candidate.__dataclass_fields__)
        ):
            return candidate
    return default


def output_class_for(config: Any, spec: TaskSpec) -> type:
    """The ModelOutput subclass the transformers model returns for this config and task."""
    return _output_class_for(type(config), spec)


def example_inputs(
    spec: TaskSpec,
    config: Any,
    input_names: list[str],
    batch_size: int = 2,
    sequence_length: int = 8,
    num_choices: int = 3,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Deterministic example inputs (numpy) for tracing and smoke runs."""
    rng = np.random.default_rng(seed)
    if spec.modality == "image":
        channels = getattr(config, "num_channels", 3)
        size = image_size(config)
        return {"pixel_values": rng.standard_normal((batch_size, channels, size, size), dtype=np.float32)}
    shape = (
        (batch_size, num_choices, sequence_length)
        if spec.name == "multiple-choice"
        else (
            batch_size,
            sequence_length,
        )
    )
    vocab = int(getattr(config, "vocab_size", 100))
    ids = rng.integers(low=min(5, vocab - 1), high=vocab, size=shape, dtype=np.int64)
    mask = np.ones(shape, dtype=np.int64)
    mask[-1, ..., sequence_length // 2 :] = 0  # one padded row, so masking is traced for real
    values = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros(shape, dtype=np.int64)}
    return {name: values[name] for name in input_names}


def image_size(config: Any) -> int:
    size = getattr(config, "image_size", None)
    if size is None and getattr(config, "pretrained_cfg", None):
        size = config.pretrained_cfg.get("input_size", [3, 32, 32])[-1]
    if isinstance(size, (list, tuple)):
        size = size[-1]
    return int(size or 32)


def default_input(name: str, like: np.ndarray) -> np.ndarray:
    """Value transformers would use for a missing optional input shaped like `input_ids`."""
    if name == "attention_mask":
        return np.ones_like(like, dtype=np.int64)
    if name == "token_type_ids":
        return np.zeros_like(like, dtype=np.int64)
    if name == "position_ids":
        return np.broadcast_to(np.arange(like.shape[-1], dtype=np.int64), like.shape).copy()
    raise KeyError(name)


def call_model(model: Any, inputs: Mapping[str, Any], library: str = "transformers") -> dict[str, Any]:
    """Run a PyTorch model and return its tensor outputs by name (timm returns bare logits)."""
    if library == "timm":
        return {"logits": model(inputs["pixel_values"])}
    outputs = model(**inputs, return_dict=True)
    return {key: value for key, value in outputs.items() if hasattr(value, "shape")}
