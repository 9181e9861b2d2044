"""Reference OpenVINO backend: only what is specific to OpenVINO IR files and compiled models."""

from __future__ import annotations

import functools
import re
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from reference import onnx_files
from reference.generation import CausalLM, PairCache
from reference.modeling_base import MAIN, OptimizedModel, _to_numpy, component_attribute
from reference.openvino.export import BEAM_IDX, SPATIAL_AXES, export_openvino, export_openvino_decoder
from reference.runtime import CorruptArtifactError

# Devices that dispatch to others; they never appear in `Core().available_devices`.
VIRTUAL_DEVICES = frozenset({"AUTO", "MULTI", "HETERO", "BATCH"})
# Any of these in ov_config means the caller chose the precision: the f32 default stays out.
PRECISION_KEYS = frozenset({"INFERENCE_PRECISION_HINT", "EXECUTION_MODE_HINT"})


@functools.cache
def _core() -> ov.Core:
    return ov.Core()  # one per process: creating a Core loads the plugins


class OVRuntime:
    """An `openvino.Model` compiled for a device on first use (a `reference.runtime.Runtime`).

    With `compile_only`, `native` is the `openvino.CompiledModel` itself and no `openvino.Model` is kept.
    An `InferRequest` is not thread-safe and holds the state of a stateful model, so each thread
    gets its own (`request`), made on its first call: one shared request gave wrong logits in 2 of
    8 threads, and a lock would serialise threads that OpenVINO can run side by side.
    """

    def __init__(
        self, native: ov.Model | ov.CompiledModel, path: Path, device: str, ov_config: dict[str, Any]
    ):
        self.native = native
        self.path = path
        self.device = device
        self.ov_config = ov_config
        self._output_names = [p.get_any_name() for p in native.outputs]
        self.compile_only = isinstance(native, ov.CompiledModel)
        self.compiled_model: ov.CompiledModel | None = native if self.compile_only else None
        self.compile_count = int(self.compile_only)  # compilations so far: one per model state
        self.modified = False  # reshaped or halved: the source files no longer describe the model
        self._lock = threading.Lock()
        self._local = threading.local()  # this thread's (compiled model, request) pair

    @classmethod
    def companions(cls, path: Path) -> list[str]:
        if path.suffix == ".onnx":
            return onnx_files.companions(path)  # external data files
        return [path.with_suffix(".bin").name]

    @classmethod
    def load(
        cls,
        path: Path,
        device: str = "CPU",
        ov_config: dict[str, Any] | None = None,
        compile_only: bool = False,
    ) -> OVRuntime:
        device = _check_device(device)
        if not path.is_file():
            raise FileNotFoundError(f"OpenVINO model file {path} does not exist.")
        config = _compile_config(ov_config)
        if not compile_only:
            return cls(_read_model(path), path, device, config)
        try:  # straight from the file, so no openvino.Model is ever kept
            compiled = _core().compile_model(str(path), device, config)
        except RuntimeError:
            _read_model(path)  # a corrupt file raises CorruptArtifactError here
            raise  # the file is fine: the device or ov_config was refused
        return cls(compiled, path, device, config)

    def io(self) -> tuple[dict[str, np.dtype], list[str]]:
        inputs = {p.get_any_name(): np.dtype(p.get_element_type().to_dtype()) for p in self.native.inputs}
        return inputs, list(self._output_names)

    def shapes(self) -> dict[str, list[int | None]]:
        return {
            p.get_any_name(): [None if d.is_dynamic else d.get_length() for d in p.get_partial_shape()]
            for p in self.native.inputs
        }

    def compile(self) -> OVRuntime:
        """Compile for `device` with `ov_config`, once per model state."""
        with self._lock:
            if self.compiled_model is None:
                self.compiled_model = _core().compile_model(self.native, self.device, self.ov_config)
                self.compile_count += 1
        return self

    @property
    def request(self) -> ov.InferRequest | None:
        """This thread's infer request, once compiled (None before)."""
        compiled = self.compiled_model
        if compiled is None:
            return None
        if getattr(self._local, "compiled", None) is not compiled:
            self._local.compiled, self._local.request = compiled, compiled.create_infer_request()
        return self._local.request

    def run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.compile()
        try:
            # Both copied: outputs out of the request's buffers, which the next call reuses; inputs in,
            # because a request that keeps numpy memory after the call corrupts the heap once that
            # memory is freed (measured: glibc aborts in 4 of 5 runs of a stateful decode loop).
            results = self.request.infer(feed, share_inputs=False, share_outputs=False)
        except RuntimeError as error:
            self._check_shapes(feed, error)
            raise
        return dict(zip(self._output_names, results.to_tuple()))

    def save(self, path: Path) -> None:
        if self.modified or self.path.suffix != ".xml":
            ov.save_model(self.native, path, compress_to_fp16=False)
            return
        # Unchanged IR: copy the files, byte for byte, instead of serialising again.
        shutil.copyfile(self.path, path)
        shutil.copyfile(self.path.with_suffix(".bin"), path.with_suffix(".bin"))

    def changed(self) -> None:
        """The model was reshaped or halved: save serialises it, the next call compiles it again."""
        self.modified = True
        self.compiled_model = None

    def to(self, device: str) -> None:
        """Compile for `device` (a checked name) on the next call."""
        self.device = device
        self.compiled_model = None

    def _check_shapes(self, feed: dict[str, np.ndarray], error: RuntimeError) -> None:
        """Turn OpenVINO's shape error into a ValueError that says what to do."""
        for name, array in feed.items():
            expected = self.compiled_model.input(name).get_partial_shape()
            if not expected.compatible(ov.PartialShape(list(array.shape))):
                raise ValueError(
                    f"Input {name!r} has shape {list(array.shape)}, but the model takes {expected} (see "
                    "reshape()). Call reshape() with these sizes, or reshape(-1, -1) for dynamic shapes."
                ) from error


class OVModel(OptimizedModel):
    """An OpenVINO model (`openvino.Model`, `model.model`), compiled for a device on first use.

    Backend options for `from_pretrained`: `device` (default "CPU"; any OpenVINO device name),
    `ov_config` (compile properties; `PERFORMANCE_HINT` defaults to "LATENCY" and
    `INFERENCE_PRECISION_HINT` to "f32" unless a precision is given), `compile_only` (compile while
    loading and keep no `openvino.Model`: less memory, but no `reshape`, `half`, `to` or save), and
    `file_name` to pick one of several `.xml`/`.onnx` files. A folder with only `model.onnx` loads too.
    """

    runtime_class = OVRuntime
    exporter = staticmethod(export_openvino)
    base_model_prefix = "openvino_model"
    # IR or ONNX; optimum-cli's tokenizer graphs sit beside the model and are not models of the task.
    artifact_pattern = re.compile(r"^(?!.*openvino_(de)?tokenizer[^/]*\.xml$).*\.(xml|onnx)$")
    default_file_name = "openvino_model.xml"
    runtime_kwargs = ("device", "ov_config", "compile_only")

    # The "model" component's state, under the names of the single-runtime API.
    ov_config = component_attribute("ov_config", "The compile properties (with the f32/LATENCY defaults).")
    compile_only = component_attribute("compile_only", "Loaded with compile_only=True: no openvino.Model.")
    compiled_model = component_attribute("compiled_model", "The openvino.CompiledModel, once compiled.")
    request = component_attribute("request", "This thread's openvino.InferRequest, once compiled.")
    _device = component_attribute("device", "The OpenVINO device name, upper case.")
    _compile_count = component_attribute("compile_count", "Compilations so far (tests: one per state).")

    # ------------------------------------------------------------------ backend hooks

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.compile()  # the model's compile, so that a subclass's compile() is the one used
        return super()._run(feed)

    def _save_pretrained(self, save_directory: Path) -> None:
        self._refuse_if_compile_only("save_pretrained")
        super()._save_pretrained(save_directory)

    # ------------------------------------------------------------------ OpenVINO API

    def compile(self) -> OVModel:
        """Compile for the device, once; inference calls this, so calling it is only needed to warm up."""
        for runtime in self.components.values():
            runtime.compile()
        return self

    def reshape(
        self, batch_size: int, sequence_length: int, height: int | None = None, width: int | None = None
    ) -> OVModel:
        """Fix input shapes (-1 keeps an axis dynamic); static shapes can run faster. Recompiles lazily."""
        self._refuse_if_compile_only("reshape")
        sizes = {
            "batch_size": batch_size,
            "sequence_length": sequence_length,
            "height": height,
            "width": width,
        }
        axes = {**self.task.input_axes, **(SPATIAL_AXES if self.task.modality == "image" else {})}
        shapes = {}
        for port in self.model.inputs:
            shape = port.get_partial_shape()
            for axis, name in axes.items():
                if sizes.get(name) is not None and axis < shape.rank.get_length():
                    shape[axis] = sizes[name]
            shapes[port.get_any_name()] = shape
        try:
            self.model.reshape(shapes)
        except RuntimeError as error:
            raise ValueError(f"Cannot reshape {type(self).__name__} to {shapes}: {error}") from error
        self.components[MAIN].changed()
        return self

    def half(self) -> OVModel:
        """Store the weights in float16 (halves the .bin); the compute precision still follows ov_config."""
        self._refuse_if_compile_only("half")
        from openvino._offline_transformations import apply_moc_transformations, compress_model_transformation

        for runtime in self.components.values():
            apply_moc_transformations(runtime.native, cf=False)
            compress_model_transformation(runtime.native)
            runtime.changed()
        return self

    def to(self, device: Any) -> OVModel:
        """Run on another OpenVINO device ("cpu", "GPU", "AUTO", ...); recompiles on the next call."""
        name = "CPU" if str(device) == "-1" else str(device).upper()  # -1: the pipelines' CPU
        if name != self._device:
            self._refuse_if_compile_only("to")
            name = _check_device(name)
            for runtime in self.components.values():
                runtime.to(name)
        return self

    def _refuse_if_compile_only(self, action: str) -> None:
        if self.compile_only:
            raise ValueError(
                f"{action} needs the openvino.Model, and this {type(self).__name__} was loaded with "
                f"compile_only=True, which keeps only the compiled model. Load it without compile_only to {action}."
            )


def _check_device(device: str) -> str:
    device = str(device).upper()
    available = _core().available_devices
    family = device.split(":")[0].split(".")[0]  # "GPU.1" -> GPU, "AUTO:GPU,CPU" -> AUTO
    if device in available or family in VIRTUAL_DEVICES or family in {d.split(".")[0] for d in available}:
        return device
    raise ValueError(f"OpenVINO device {device!r} is not available here. Available devices: {available}.")


def _compile_config(ov_config: dict[str, Any] | None) -> dict[str, Any]:
    config = {"PERFORMANCE_HINT": "LATENCY", **(ov_config or {})}
    if not PRECISION_KEYS & config.keys():
        config["INFERENCE_PRECISION_HINT"] = "f32"  # CPUs with AMX default to bf16 (errors ~1e-3)
    return config


def _read_model(path: Path) -> ov.Model:
    try:
        return _core().read_model(path)
    except RuntimeError as error:
        blamed = path.with_suffix(".bin") if "bin file" in str(error) else path
        raise CorruptArtifactError(blamed, f"OpenVINO cannot read it ({error})") from error


class OVModelForFeatureExtraction(OVModel):
    export_feature = "feature-extraction"


class OVModelForSequenceClassification(OVModel):
    export_feature = "text-classification"


class OVModelForTokenClassification(OVModel):
    export_feature = "token-classification"


class OVModelForQuestionAnswering(OVModel):
    export_feature = "question-answering"


class OVModelForMaskedLM(OVModel):
    export_feature = "fill-mask"


class OVModelForMultipleChoice(OVModel):
    export_feature = "multiple-choice"


class OVModelForImageClassification(OVModel):
    export_feature = "image-classification"


class OVModelForCausalLM(CausalLM, OVModel):
    """A causal LM as one `openvino_model.xml` decoder, and `generate()` from transformers.

    Export options: `use_cache` (default True) and `stateful` (default: `use_cache`). A stateful
    model keeps the KV cache in its infer request, one per thread: the past it returns holds only
    the shape, and a call with `past_key_values=None` starts a new sequence. Stateless models take
    and return the cache as arrays, like ONNX Runtime. Loading checks that the `use_cache` and
    `stateful` given agree with the file.
    """

    decoder_exporter = staticmethod(export_openvino_decoder)
    export_kwargs = ("use_cache", "stateful")
    cache_kwargs = ("use_cache", "stateful")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sequence = threading.local()  # this thread's stateful sequence: length and beam order

    @classmethod
    def _load_runtime(cls, path: Path, **runtime_kwargs: Any) -> OVRuntime:
        """At f32 (the default), the KV cache is kept in f32 too: the CPU plugin's fused attention
        otherwise stores it as u8 (its default), and greedy tokens drift from PyTorch's."""
        config = dict(runtime_kwargs.get("ov_config") or {})
        if (
            str(config.get("INFERENCE_PRECISION_HINT", "f32")).lower() in {"f32", "float32"}
            and "EXECUTION_MODE_HINT" not in config
        ):
            config.setdefault("KV_CACHE_PRECISION", "f32")
        return super()._load_runtime(path, **{**runtime_kwargs, "ov_config": config})

    @property
    def stateful(self) -> bool:
        return BEAM_IDX in self.input_dtypes

    @property
    def _is_stateful(self) -> bool:
        # generate() refuses assisted decoding for stateful hosts: the state cannot be rolled back.
        return self.stateful

    def _holds_cache(self) -> bool:
        return self.stateful

    def reshape(
        self, batch_size: int, sequence_length: int = -1, height: int | None = None, width: int | None = None
    ) -> OVModelForCausalLM:
        """Fix the batch size (-1: dynamic) of every input, the past included; recompiles lazily.

        The sequence axes stay dynamic: generation feeds the prompt, then one token per step,
        against a past and a mask that grow, so no single sequence length fits every call.
        """
        if sequence_length not in (-1, None) or height is not None or width is not None:
            raise ValueError(
                f"{type(self).__name__}.reshape fixes only the batch size: generation changes the sequence "
                f"length at every step, so sequence_length={sequence_length} cannot be static. Call "
                "reshape(batch_size) (or reshape(batch_size, -1))."
            )
        self._refuse_if_compile_only("reshape")
        shapes = {}
        for port in self.model.inputs:
            shape = port.get_partial_shape()
            shape[0] = batch_size  # batch leads every input; beam_idx is (batch,)
            shapes[port.get_any_name()] = shape
        try:
            self.model.reshape(shapes)
        except RuntimeError as error:
            raise ValueError(
                f"Cannot reshape {type(self).__name__} to batch {batch_size}: {error}"
            ) from error
        self.components[MAIN].changed()
        return self

    def _cache_option(self, name: str) -> bool:
        return self.stateful if name == "stateful" else self.use_cache

    @classmethod
    def _export_artifacts(
        cls, model: Any, spec: Any, config: Any, library: str, out_dir: Path, **kwargs: Any
    ) -> str:
        use_cache = kwargs.get("use_cache")
        stateful = kwargs.pop("stateful", None)
        if stateful and use_cache is False:
            raise ValueError("stateful=True keeps the KV cache in the model, so it needs use_cache=True.")
        kwargs["stateful"] = use_cache is not False if stateful is None else bool(stateful)
        return super()._export_artifacts(model, spec, config, library, out_dir, **kwargs)

    def _cache_feed(self, pairs: list | None, batch: int) -> dict[str, np.ndarray]:
        if not self.stateful:
            return super()._cache_feed(pairs, batch)
        self.compile()
        sequence = self._sequence
        if pairs is None:
            self.request.reset_state()
            sequence.length, sequence.beam_idx = 0, None
        else:
            given = int(pairs[0][0].shape[self.past_axis])
            if given != getattr(sequence, "length", None):
                raise ValueError(
                    f"This stateful model's state holds {getattr(sequence, 'length', 0)} tokens in this thread, "
                    f"but the past given has {given}: pass the past the previous call returned, or None to "
                    "start a new sequence."
                )
        beam_idx = getattr(sequence, "beam_idx", None)
        sequence.beam_idx = None
        return {BEAM_IDX: np.arange(batch, dtype=np.int32) if beam_idx is None else beam_idx}

    def _cache_result(self, outputs: dict[str, np.ndarray], batch: int, length: int) -> list[tuple]:
        if not self.stateful:
            return super()._cache_result(outputs, batch, length)
        self._sequence.length = length
        # Shape only (batch x length zeros): generate() reads the past length from it; the state stays inside.
        marker = np.zeros((batch, 1, length, 1), np.float32)
        return [(marker, marker)]

    def _reorder_cache(self, past: PairCache, beam_idx: Any) -> PairCache:
        if self.stateful:  # the state is reordered inside the graph, by the next call's beam_idx
            self._sequence.beam_idx = _to_numpy(beam_idx).astype(np.int32)
        return super()._reorder_cache(past, beam_idx)
