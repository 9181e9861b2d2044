"""Task families: everything the suite knows about one kind of model, in one module per family.

A family is a small contract, in the spirit of diffusers' model tester configs: the engine, the
zoo, the backend resolver and the report read tasks, architectures, inputs and the oracle from
here, and know nothing of any family in particular.

    FAMILIES = (ENCODER, IMAGE, CAUSAL_LM)   # registry order = priority when sampling a representative

A family module defines one `Family` subclass and one instance. It provides:

    name            short name ("encoder")
    tasks           `Task`s: task name, transformers auto class, Optimum class-name suffix, task
                    config (labels); a task name may appear in several families (feature-extraction
                    is text and image) as long as every family agrees on its auto class and suffix
    archs           zoo `Arch`s: config class + kwargs (tiny sizes), tasks, preprocessor kind, library
    representative  (arch, task) its representative case, the one a `sample="representative"`
                    check runs on for a backend declaring that task
    capabilities    what its models can do, e.g. {"forward"}; a causal-LM family adds "generate"
    trained         cases with a trained checkpoint: (arch, task) pairs
    alternate       the other models a check needs besides the case's (`Alternate`)
    comparison      how its outputs are judged against the oracle's (`conformance.compare.Comparison`)
    build(model, config_kwargs, folder)   write the random checkpoint and its preprocessor
    sample_inputs(folder, task, ...)      numpy inputs made with the model's own preprocessor
    sized_inputs(folder, task, lengths, rng)
                                          rows of exactly these lengths in tokens, padded to the longest
    max_positions(folder, task)           the longest row the model takes (None: no sequence axis)
    load_oracle(folder, task)             the PyTorch model the suite trusts
    oracle(net, inputs)                   its outputs by name, nested outputs (caches) kept nested
    generate_oracle(net, inputs, config)  transformers' `generate()` with an explicit GenerationConfig
                                          (families offering "generate")
    pipeline_sample(arch, task, source)   what `transformers.pipeline(task)` takes, or None

Adding a family (causal LMs, seq2seq, speech) is a new module here plus its line in `FAMILIES`;
clauses that need what only it offers declare it with `requires=` (see `conformance.catalogue`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from conformance.compare import Comparison


@dataclass(frozen=True)
class Task:
    """One task: the transformers class that does it and the Optimum class that wraps it."""

    name: str
    auto_class: str
    """The suite's own view of which transformers class does the task: it does not trust the backend's."""
    class_suffix: str
    """Optimum naming: `<Prefix>ModelFor<class_suffix>`."""
    config: Mapping[str, Any] = field(default_factory=dict)
    """Config kwargs the task adds (e.g. labels)."""
    output_class: str | None = None
    """The `transformers.modeling_outputs` class the Optimum contract promises for the task, where it
    is one class whatever the architecture; None: the transformers model's own output class."""


@dataclass(frozen=True)
class Arch:
    """One architecture of the zoo."""

    name: str
    config_class: str
    config_kwargs: dict[str, Any]
    tasks: tuple[str, ...]
    preprocessor: str | None = "tokenizer"
    """The preprocessor kind a check may need: "tokenizer", "image_processor", or None."""
    library: str = "transformers"
    requires: tuple[str, ...] = ()
    """Importable modules the arch needs (its absence is an honest not_run)."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Family-specific build options (e.g. the token layout of a text arch)."""


@dataclass(frozen=True)
class Preprocessor:
    """A preprocessor kind: the file that marks it in a saved folder and the auto class that loads it."""

    kind: str
    marker_file: str
    auto_class: str


PREPROCESSORS = {
    p.kind: p
    for p in (
        Preprocessor("tokenizer", "tokenizer_config.json", "AutoTokenizer"),
        Preprocessor("image_processor", "preprocessor_config.json", "AutoImageProcessor"),
    )
}


@dataclass(frozen=True)
class Alternate:
    """The models a check uses besides the case's own, chosen by the case's family: a check never
    names an architecture, so it runs on every family."""

    arch: str
    """Another architecture of the family, doing all its tasks: the second graph a check puts beside
    the case's, which the case's class loads (file_name= picks it; the standard name wins over it)."""
    misfit: tuple[str, str]
    """(arch, task) of a zoo checkpoint that the class of `misfit_task` cannot do."""
    misfit_task: str
    """The family's task whose class is given `misfit`: it must refuse it with an error naming the task."""


class Family:
    """Base of a task family; subclasses fill the class attributes and the four methods."""

    name: ClassVar[str]
    modality: ClassVar[str]
    tasks: ClassVar[tuple[Task, ...]]
    archs: ClassVar[tuple[Arch, ...]]
    representative: ClassVar[tuple[str, str]]
    alternate: ClassVar[Alternate]
    capabilities: ClassVar[frozenset[str]] = frozenset({"forward"})
    trained: ClassVar[frozenset[tuple[str, str]]] = frozenset()
    comparison: ClassVar[Comparison] = Comparison()

    def task(self, name: str) -> Task:
        return next(task for task in self.tasks if task.name == name)

    def arch(self, name: str) -> Arch:
        return next(arch for arch in self.archs if arch.name == name)

    def case_capabilities(self, arch: str, task: str) -> frozenset[str]:
        """What a check may require of the case (arch, task): the family's capabilities, the
        preprocessor kind, `library:<name>`, and "trained_weights" where a trained checkpoint exists."""
        spec = self.arch(arch)
        extra = {f"library:{spec.library}", *([spec.preprocessor] if spec.preprocessor else [])}
        if (arch, task) in self.trained:
            extra.add("trained_weights")
        return self.capabilities | extra

    def config_kwargs(self, arch: Arch, task: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """Config kwargs of a zoo model: the arch's, size overrides, then the task's."""
        return {**arch.config_kwargs, **overrides, **self.task(task).config}

    def build(self, arch: Arch, task: str, config_kwargs: dict[str, Any], folder: Path) -> None:
        raise NotImplementedError

    def sample_inputs(
        self, folder: Path, task: str, batch_size: int, sequence_length: int | None, rng: Any
    ) -> dict:
        raise NotImplementedError

    def sized_inputs(self, folder: Path, task: str, lengths: Sequence[int], rng: Any) -> dict[str, Any]:
        """One distinct row per entry of `lengths`, each exactly that many tokens long (special tokens
        included), padded to the longest: shapes beyond the sample inputs' (`parity.large_shapes`).
        A family whose inputs have no sequence axis gives one distinct sample per entry."""
        raise NotImplementedError

    def max_positions(self, folder: Path, task: str) -> int | None:
        """The longest row `sized_inputs` can make for the model (its maximum positions, special
        tokens included), or None: its inputs have no sequence axis (the preprocessor sets the size)."""
        return None

    def load_oracle(self, folder: Path, task: str) -> Any:
        raise NotImplementedError

    def oracle(self, net: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def generation_config(self, **options: Any) -> Any:
        """The explicit `transformers.GenerationConfig` a generate comparison uses, with `options`."""
        raise NotImplementedError(f"the {self.name} family does not generate")

    def generate_oracle(self, net: Any, inputs: dict[str, Any], config: Any) -> dict[str, Any]:
        """transformers' `generate()` on numpy `inputs` with the explicit GenerationConfig `config`:
        its outputs by name as numpy (token ids, per-step scores and logits)."""
        raise NotImplementedError(f"the {self.name} family does not generate")

    def pipeline_sample(self, arch: Arch, task: str, source: Path) -> tuple[dict[str, Any], Any] | None:
        """(preprocessor kwargs, input) for `transformers.pipeline(task)`, or None: no pipeline."""
        return None


def _registry() -> tuple[Family, ...]:
    from conformance.families.causal_lm import CAUSAL_LM
    from conformance.families.encoder import ENCODER
    from conformance.families.image import IMAGE

    return (ENCODER, IMAGE, CAUSAL_LM)


FAMILIES: tuple[Family, ...] = _registry()


def family_of(arch: str) -> Family:
    for family in FAMILIES:
        if any(spec.name == arch for spec in family.archs):
            return family
    raise KeyError(f"no task family has architecture {arch!r}")


def family_of_config(config: Mapping[str, Any]) -> Family:
    """The family of a checkpoint's config.json: a timm config by its `architecture`, a transformers
    one by its `model_type` (any zoo arch's config class of that type)."""
    import transformers

    for family in FAMILIES:
        for arch in family.archs:
            if arch.library == "timm" and "architecture" in config:
                return family
            if arch.config_class and getattr(transformers, arch.config_class).model_type == config.get(
                "model_type"
            ):
                return family
    raise KeyError(f"no task family knows model_type {config.get('model_type')!r}")


def tasks() -> dict[str, Task]:
    """Every task of every family, in registry order; a task in several families must agree."""
    merged: dict[str, Task] = {}
    for family in FAMILIES:
        for task in family.tasks:
            known = merged.setdefault(task.name, task)
            if (known.auto_class, known.class_suffix) != (task.auto_class, task.class_suffix):
                raise ValueError(f"families disagree on task {task.name!r}: {known} vs {task}")
    return merged


def class_suffixes() -> dict[str, str]:
    """Task -> Optimum class-name suffix."""
    return {name: task.class_suffix for name, task in tasks().items()}


def auto_classes() -> dict[str, str]:
    """Task -> transformers auto class."""
    return {name: task.auto_class for name, task in tasks().items()}
