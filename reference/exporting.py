"""PyTorch-side export preparation shared by every backend (ONNX, OpenVINO, TorchScript).

`plan_export` turns a transformers/timm model into a module with positional tensor inputs and a
tuple of named outputs, plus example inputs and dynamic axes taken from `tasks.py`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from reference import tasks


class PositionalModule(torch.nn.Module):
    """Calls the model with keyword inputs and returns its outputs as a tuple, in a fixed order."""

    def __init__(self, model: torch.nn.Module, input_names: list[str], output_names: list[str], library: str):
        super().__init__()
        self.model = model
        self.input_names = input_names
        self.output_names = output_names
        self.library = library

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = tasks.call_model(self.model, dict(zip(self.input_names, inputs)), self.library)
        return tuple(outputs[name] for name in self.output_names)


@dataclass
class ExportPlan:
    module: PositionalModule
    input_names: list[str]
    output_names: list[str]
    example: tuple[torch.Tensor, ...]
    dynamic_axes: dict[str, dict[int, str]]

    @property
    def example_kwargs(self) -> dict[str, torch.Tensor]:
        return dict(zip(self.input_names, self.example))


def plan_export(model: torch.nn.Module, spec: tasks.TaskSpec, config: Any, library: str) -> ExportPlan:
    """Module, names, example inputs and dynamic axes for exporting `model` for `spec`."""
    model.eval()
    input_names = spec.input_names(config, library)
    example = tuple(
        torch.from_numpy(array) for array in tasks.example_inputs(spec, config, input_names).values()
    )
    with torch.no_grad():
        outputs = tasks.call_model(model, dict(zip(input_names, example)), library)
    output_names = list(outputs)
    module = PositionalModule(model, input_names, output_names, library).eval()
    axes = {name: dict(spec.input_axes) for name in input_names}
    for name, value in outputs.items():
        axes[name] = spec.output_axes(name, value.dim())
    return ExportPlan(module, input_names, output_names, example, axes)


@contextmanager
def quiet_tracing() -> Iterator[None]:
    """Tracing warnings (TracerWarning, legacy-exporter deprecation) are expected noise here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=UserWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        yield
