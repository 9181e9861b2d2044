"""Reference IPEX backend: only what is specific to IPEX-optimized TorchScript archives."""

from __future__ import annotations

import contextlib
import re
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reference.generation import CausalLM
from reference.ipex.export import (
    EXPORT_INFO,
    autocast,
    check_dtype_runs_here,
    export_torchscript,
    import_ipex,
    parse_dtype,
    read_export_info,
    verify_archive,
)
from reference.modeling_base import MAIN, OptimizedModel, component_attribute
from reference.runtime import CorruptArtifactError

# The first call of a TorchScript module profiles it, the second optimizes it (IPEX fusions). Both are
# slow (tiny BERT: 0.2 s vs 2 ms later), and the first runs an unfused graph whose outputs differ from
# all later calls by ~4e-7. Loading makes these two calls, so every user call runs the same optimized
# graph, whatever the shape.
WARMUP_CALLS = 2


class IPEXRuntime:
    """A frozen TorchScript module and the description saved inside it (a `reference.runtime.Runtime`)."""

    def __init__(self, module: torch.jit.ScriptModule, export_info: dict[str, Any], path: Path) -> None:
        self.native = module
        self.export_info = export_info
        self.path = path
        self.compute_dtype = parse_dtype(export_info["dtype"])
        self._input_names = [i["name"] for i in export_info["inputs"]]
        self._output_names = list(export_info["outputs"])

    @classmethod
    def companions(cls, path: Path) -> list[str]:
        return []  # the archive holds everything

    @classmethod
    def load(cls, path: Path, dtype: str | torch.dtype | None = None) -> IPEXRuntime:
        if not path.is_file():
            raise FileNotFoundError(f"TorchScript file {path} does not exist.")
        import_ipex()  # registers the torch_ipex operators the archive calls
        extra_files = {EXPORT_INFO: ""}
        # zipfile and torch raise many types for damaged files: each step says what it found.
        with _corrupt_if_fails(path, "it is not an intact zip archive"):
            verify_archive(path)
        with _corrupt_if_fails(path, "torch.jit.load refused it"):
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra_files)
        with _corrupt_if_fails(path, "it is TorchScript, but not exported by reference.ipex"):
            info = read_export_info(extra_files[EXPORT_INFO])
        stored = parse_dtype(info["dtype"])
        if dtype is not None and parse_dtype(dtype) != stored:
            raise ValueError(
                f"{path.name} was exported with dtype={info['dtype']!r}; dtype={dtype!r} applies when "
                "exporting: pass export=True (from PyTorch weights) to export it in that dtype."
            )
        check_dtype_runs_here(stored, f"{path.name} (exported with dtype='bf16')")
        _warm_up(module, info, stored, path)
        return cls(module, info, path)

    def io(self) -> tuple[dict[str, np.dtype], list[str]]:
        inputs = {i["name"]: np.dtype(i["dtype"]) for i in self.export_info["inputs"]}
        return inputs, list(self._output_names)

    def shapes(self) -> dict[str, list[int | None]]:
        """Export shapes with the dynamic axes as None (archives written before the axes were
        recorded: every axis None)."""
        shapes = {}
        for spec in self.export_info["inputs"]:
            dynamic = spec.get("dynamic_axes", range(len(spec["shape"])))
            shapes[spec["name"]] = [
                None if axis in dynamic else size for axis, size in enumerate(spec["shape"])
            ]
        return shapes

    def run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for spec in self.export_info["inputs"]:
            if feed[spec["name"]].ndim != len(spec["shape"]):
                raise ValueError(
                    f"Input {spec['name']!r} has shape {list(feed[spec['name']].shape)}, but the model takes "
                    f"{len(spec['shape'])}-dimensional inputs (exported with shape {spec['shape']})."
                )
        # from_numpy shares memory and warns on read-only arrays (e.g. np.broadcast_to): copy those.
        tensors = [torch.from_numpy(_writable(feed[name])) for name in self._input_names]
        with torch.inference_mode(), autocast(self.compute_dtype):
            outputs = self.native(*tensors)
        return {name: _to_numpy(value) for name, value in zip(self._output_names, outputs)}

    def save(self, path: Path) -> None:
        # The module is never modified after loading: the archive is copied byte for byte.
        shutil.copyfile(self.path, path)


class IPEXModel(OptimizedModel):
    """A transformers model optimized by Intel Extension for PyTorch, traced and frozen to TorchScript.

    Export options (`export=True`, or a folder with only PyTorch weights): `dtype`, "fp32" (default)
    or "bf16" (also "float32"/"bfloat16" or the torch dtypes). bf16 weights run under CPU autocast
    and need a CPU with oneDNN bf16 kernels (AVX-512 BW/VL/DQ or AVX-NE-CONVERT; AVX512-BF16 / AMX
    make it fast); inputs and outputs stay float32 (`model.dtype`), `model.compute_dtype` says bf16.
    Given when loading an artifact, `dtype` must match the dtype it was exported with. `file_name`
    picks one of several `.pt` files.

    Inputs may have any batch size and sequence length (and number of choices): the traced graph
    keeps those axes symbolic. Loading runs the module twice on zeros so TorchScript has optimized
    it before the first real call.

    Security: a TorchScript archive contains code (TorchScript and pickled constants) that runs when
    it is loaded and called, like a pickle. Load `model.pt` only from sources you trust; this class
    loads it only from the local path or Hub repo (and revision) the caller named, never from elsewhere.
    """

    runtime_class = IPEXRuntime
    exporter = staticmethod(export_torchscript)
    base_model_prefix = "ipex_model"
    # Any .pt file, except the pickled Trainer state that sits in checkpoint folders.
    artifact_pattern = re.compile(
        r"^(?!(?:.*/)?(?:optimizer|scheduler|rng_state|training_args)[^/]*$).*\.pt$"
    )
    default_file_name = "model.pt"
    runtime_kwargs = ("dtype",)
    export_kwargs = ("dtype",)
    export_info = component_attribute("export_info", "The description saved inside the archive.")

    # ------------------------------------------------------------------ instance API

    @property
    def compute_dtype(self) -> torch.dtype:
        """The dtype the model was exported to compute in (torch.float32 or torch.bfloat16).

        `dtype` stays the inputs' float32, also for bf16 models: pipelines cast inputs to `model.dtype`,
        and this model takes float32 inputs and returns float32 outputs.
        """
        return self.components[MAIN].compute_dtype


@contextlib.contextmanager
def _corrupt_if_fails(path: Path, what: str) -> Iterator[None]:
    try:
        yield
    except Exception as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CorruptArtifactError(path, f"{what} ({detail})") from error


def _warm_up(module: torch.jit.ScriptModule, info: dict[str, Any], dtype: torch.dtype, path: Path) -> None:
    example = [
        (torch.ones if spec["name"] == "attention_mask" else torch.zeros)(
            spec["shape"], dtype=getattr(torch, spec["dtype"])
        )
        for spec in info["inputs"]
    ]
    try:
        with warnings.catch_warnings(), torch.inference_mode(), autocast(dtype):
            warnings.filterwarnings("ignore", message="JIT pass will be deprecated", category=UserWarning)
            for _ in range(WARMUP_CALLS):
                module(*example)
    except RuntimeError as error:
        raise CorruptArtifactError(
            path, f"it loads, but fails on inputs of its export shapes ({str(error).strip()[:300]})"
        ) from error


def _writable(array: np.ndarray) -> np.ndarray:
    return array if array.flags.writeable else array.copy()


def _to_numpy(value: torch.Tensor) -> np.ndarray:
    return (value.float() if value.dtype == torch.bfloat16 else value).numpy()


class IPEXModelForFeatureExtraction(IPEXModel):
    export_feature = "feature-extraction"


class IPEXModelForSequenceClassification(IPEXModel):
    export_feature = "text-classification"


class IPEXModelForTokenClassification(IPEXModel):
    export_feature = "token-classification"


class IPEXModelForQuestionAnswering(IPEXModel):
    export_feature = "question-answering"


class IPEXModelForMaskedLM(IPEXModel):
    export_feature = "fill-mask"


class IPEXModelForMultipleChoice(IPEXModel):
    export_feature = "multiple-choice"


class IPEXModelForImageClassification(IPEXModel):
    export_feature = "image-classification"


class IPEXModelForCausalLM(CausalLM, IPEXModel):
    """A causal LM: one traced `model.pt` decoder with `past_key_values.*` inputs and `present.*`
    outputs, and `generate()` from transformers. Export options `dtype` and `use_cache` (default
    True; False gives a graph without cache inputs); loading checks a `use_cache` given against the
    archive."""

    decoder_exporter = staticmethod(export_torchscript)
    export_kwargs = (*IPEXModel.export_kwargs, "use_cache")
    torch_threads_in_generate = None  # the decoder is torch: it needs torch's threads
