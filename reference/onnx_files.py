"""ONNX files: PyTorch -> ONNX export and the external-data files beside an ONNX file.

Used by the ONNX Runtime backend (its artifact) and the OpenVINO backend (it loads `.onnx` files
too, and exports through ONNX when converting the module fails). `onnx` is imported only when a
file is read or written.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import torch

from reference.exporting import ExportPlan, quiet_tracing
from reference.runtime import CorruptArtifactError

DEFAULT_OPSET = 17
EXTERNAL_DATA_SUFFIX = "_data"  # model.onnx -> model.onnx_data, the name upstream Optimum uses
# Protobuf cannot hold more than 2 GiB; above this size weights go to one external data file.
DEFAULT_EXTERNAL_DATA_THRESHOLD = 1 << 30


def export_onnx(
    plan: ExportPlan,
    path: Path,
    opset: int = DEFAULT_OPSET,
    external_data_threshold: int = DEFAULT_EXTERNAL_DATA_THRESHOLD,
) -> None:
    """Export with the TorchScript-based exporter: 15-40x faster than dynamo for these models."""
    with quiet_tracing(), torch.no_grad():
        torch.onnx.export(
            plan.module,
            plan.example,
            str(path),
            input_names=plan.input_names,
            output_names=plan.output_names,
            dynamic_axes=plan.dynamic_axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    plan.module.eval()  # the exporter restores train mode recursively on fresh wrappers
    if path.stat().st_size > external_data_threshold:
        move_to_external_data(path, path)


def companions(path: Path) -> list[str]:
    """The external data files the ONNX file at `path` needs; CorruptArtifactError if it is no ONNX file."""
    try:
        return external_data_locations(path)
    except Exception as error:  # protobuf DecodeError and friends
        raise CorruptArtifactError(path, f"not a valid ONNX protobuf ({error})") from error


def save_standard(source: Path, target: Path) -> None:
    """Write the ONNX file `source` as `target`, its external data (if any) as `<target name>_data`.

    Files already named that way are copied byte for byte; any other naming is rewritten.
    """
    locations = external_data_locations(source)
    if locations and locations != [target.name + EXTERNAL_DATA_SUFFIX]:
        move_to_external_data(source, target)
        return
    shutil.copyfile(source, target)
    for location in locations:
        shutil.copyfile(source.parent / location, target.parent / location)


def move_to_external_data(source: Path, target: Path) -> None:
    """Save `source` as `target` + one external data file `<target name>_data`."""
    import onnx

    model = onnx.load(str(source))  # loads any external data of the source too
    onnx.save_model(
        model,
        str(target),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=target.name + EXTERNAL_DATA_SUFFIX,
        size_threshold=1024,
    )


def external_data_locations(path: Path) -> list[str]:
    """Every external data file the ONNX file at `path` references, relative to its folder."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    locations = set()
    for tensor in _tensors(model.graph):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            locations.update(entry.value for entry in tensor.external_data if entry.key == "location")
    return sorted(locations)


def _tensors(graph) -> Iterator:  # type: ignore[no-untyped-def]
    import onnx

    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.TENSOR:
                yield attribute.t
            elif attribute.type == onnx.AttributeProto.GRAPH:
                yield from _tensors(attribute.g)
            elif attribute.type == onnx.AttributeProto.GRAPHS:
                for subgraph in attribute.graphs:
                    yield from _tensors(subgraph)
