"""PyTorch -> OpenVINO IR: `openvino.convert_model` on the module, or on an ONNX export when tracing fails."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openvino as ov
import torch

from reference.exporting import ExportPlan, quiet_tracing
from reference.onnx_files import export_onnx

logger = logging.getLogger(__name__)

# Image inputs are (batch, channels, height, width); the spatial axes are dynamic when the model allows it.
SPATIAL_AXES = {2: "height", 3: "width"}


def export_openvino(plan: ExportPlan, path: Path) -> None:
    """Write `path` (.xml) and its .bin, with the plan's tensor names and dynamic axes."""
    plan = dataclasses.replace(plan, dynamic_axes=_with_spatial_axes(plan))
    with _converted(plan) as model:
        ov.save_model(model, path, compress_to_fp16=False)


@contextlib.contextmanager
def _converted(plan: ExportPlan) -> Iterator[ov.Model]:
    """The plan's module as an `ov.Model`, converted by the PyTorch frontend or, when that fails, from
    an ONNX export. Save within the block: an ONNX-route model reads its weights from a temporary
    folder that goes when the block ends."""
    try:
        model = _convert_module(plan)
    except Exception as error:  # any tracing or conversion failure: the ONNX route may still work
        logger.info(
            "openvino.convert_model could not convert the module (%s); converting an ONNX export", error
        )
    else:
        yield model
        return
    with tempfile.TemporaryDirectory(prefix="optimum-conformance-onnx-") as tmp:
        export_onnx(plan, Path(tmp) / "model.onnx")
        model = ov.convert_model(Path(tmp) / "model.onnx")
        _name_ports(model, plan)  # ONNX tensors that alias one another keep one name
        yield model


def _name_ports(model: ov.Model, plan: ExportPlan) -> None:
    for port, name in zip([*model.inputs, *model.outputs], [*plan.input_names, *plan.output_names]):
        port.get_tensor().set_names({name})


def _convert_module(plan: ExportPlan) -> ov.Model:
    shapes = [
        ov.PartialShape(
            [-1 if axis in plan.dynamic_axes[name] else size for axis, size in enumerate(x.shape)]
        )
        for name, x in zip(plan.input_names, plan.example)
    ]
    with quiet_tracing(), torch.no_grad():
        model = ov.convert_model(plan.module, example_input=plan.example, input=shapes)
    plan.module.eval()
    if len(model.inputs) != len(plan.input_names) or len(model.outputs) != len(plan.output_names):
        raise RuntimeError(
            f"converted graph has {len(model.inputs)} inputs / {len(model.outputs)} outputs, "
            f"expected {plan.input_names} / {plan.output_names}"
        )
    _name_ports(model, plan)  # the tracer names tensors after Python variables; the base maps by plan name
    return model


def _with_spatial_axes(plan: ExportPlan) -> dict[str, dict[int, str]]:
    """The plan's axes, plus height/width of image inputs when the PyTorch model accepts another size.

    Models with fixed position embeddings (ViT) reject other sizes in PyTorch; convolutional ones
    (ResNet, ConvNeXt) run at any size, so their graph can take any size too.
    """
    images = [i for i, x in enumerate(plan.example) if x.dim() == 4 and x.is_floating_point()]
    if not images or not _accepts_other_sizes(plan, images):
        return plan.dynamic_axes
    axes = dict(plan.dynamic_axes)
    for i in images:
        axes[plan.input_names[i]] = {**axes[plan.input_names[i]], **SPATIAL_AXES}
    return axes


def _accepts_other_sizes(plan: ExportPlan, images: list[int]) -> bool:
    """Run the module once at batch 1 and twice the example height and width."""
    probe = [
        torch.zeros(1, x.shape[1], 2 * x.shape[2], 2 * x.shape[3]) if i in images else x[:1]
        for i, x in enumerate(plan.example)
    ]
    try:
        with torch.no_grad():
            plan.module(*probe)
    except Exception:  # e.g. ViT: "Input image size (64*64) doesn't match model (32*32)"
        return False
    return True


def export_openvino_decoder(plan: ExportPlan, path: Path, stateful: bool = True) -> None:
    """A decoder graph (`reference.decoder_export`) as IR; with `stateful`, the KV cache lives in the
    infer request (`make_stateful`) instead of going in and out at every step.

    Converted from the module by OpenVINO's PyTorch frontend (within `traceable_decoder`, as the
    export runs): the CPU plugin then fuses each layer's attention with its state into one node that
    keeps the KV cache in place. From an ONNX export it fuses none (SmolLM2-135M: 30 nodes against 0)
    and concatenates the cache anew at every step, 1.5x slower. ONNX stays the route for a module
    the frontend cannot convert.
    """
    with _converted(plan) as model:
        if stateful and any(n.startswith("past_key_values.") for n in plan.input_names):
            make_stateful(model)
        ov.save_model(model, path, compress_to_fp16=False)


BEAM_IDX = "beam_idx"


def make_stateful(model: ov.Model) -> None:
    """Turn every `past_key_values.*` input / `present.*` output pair into a state of the request.

    A `beam_idx` input (int32, one index per row) gathers the state's rows before use, so beam
    search reorders the cache without taking it out. Each state starts, after `reset_state()`, as
    zeros of length 0 with the batch of `input_ids`.
    """
    from openvino import opset13 as ops
    from openvino._offline_transformations import apply_make_stateful_transformation

    beam_idx = ops.parameter([-1], ov.Type.i32, name=BEAM_IDX)
    beam_idx.output(0).get_tensor().set_names({BEAM_IDX})
    pairs, shapes = {}, {}
    for parameter in model.get_parameters():
        name = parameter.output(0).get_any_name()
        if not name.startswith("past_key_values."):
            continue
        consumers = list(parameter.output(0).get_target_inputs())
        gathered = ops.gather(parameter, beam_idx, ops.constant(np.int64(0)))
        for consumer in consumers:
            consumer.replace_source_output(gathered.output(0))
        pairs[name] = name.replace("past_key_values.", "present.", 1)
        shapes[name + pairs[name]] = parameter.get_partial_shape()  # the variable id the pass gives
    model.add_parameters([beam_idx])
    input_ids = next(p for p in model.get_parameters() if "input_ids" in p.output(0).get_names())
    apply_make_stateful_transformation(model, pairs)
    batch = ops.gather(
        ops.shape_of(input_ids), ops.constant(np.array([0], np.int64)), ops.constant(np.int64(0))
    )
    for op in model.get_ordered_ops():
        if op.get_type_name() != "ReadValue":
            continue
        dims = [
            batch,
            *(
                ops.constant(np.array([0 if d.is_dynamic else d.get_length()], np.int64))
                for d in list(shapes[op.get_variable_id()])[1:]
            ),
        ]
        # An initial value the CPU plugin needs (without one it refuses OPT) and that resets use.
        op.set_arguments([ops.broadcast(ops.constant(np.float32(0)), ops.concat(dims, 0)).output(0)])
        op.validate_and_infer_types()
