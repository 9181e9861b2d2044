"""The `Runtime` protocol: one loaded artifact and the means to run it, implemented once per backend.

A model (`OptimizedModel`) holds named components, `model.components: dict[str, Runtime]`:
`"model"` for every class today, `"encoder"` and `"decoder"` for seq2seq later. The model owns
everything that is not runtime-specific (Hub, config, export decision, input feeding, output
classes, saving config and preprocessors); a component owns only its runtime object.

A new backend provides one class that satisfies `Runtime` (it need not inherit from it) and a
model class naming it `runtime_class`, with `exporter` (PyTorch -> artifact), `artifact_pattern`,
`default_file_name`, `runtime_kwargs` (the options `load` takes) and `export_kwargs`.

A new component provides its name (the key in `components`), its standard file name per backend
(`OptimizedModel._file_name`), its inputs and outputs in `reference/tasks.py`, and the export and
loading of its artifact; every backend's `Runtime` class then serves it unchanged.

Example, the shape of a backend's runtime (see `reference/onnxruntime/modeling.py`):

    class EchoRuntime:
        def __init__(self, path):
            self.path, self.native = path, None

        @classmethod
        def companions(cls, path):
            return []

        @classmethod
        def load(cls, path, **options):
            return cls(path)

        def io(self):
            return {"input_ids": np.dtype(np.int64)}, ["logits"]

        def shapes(self):
            return {"input_ids": [None, None]}

        def run(self, feed):
            return {"logits": feed["input_ids"].astype(np.float32)}

        def save(self, path):
            shutil.copyfile(self.path, path)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Runtime(Protocol):
    """One artifact loaded into a runtime: what `OptimizedModel` asks of a backend, and nothing more."""

    path: Path
    """The artifact file this runtime was loaded from (its companions sit beside it)."""

    native: Any
    """The runtime's own object (InferenceSession, openvino.Model, ScriptModule): `model.model`."""

    @classmethod
    def companions(cls, path: Path) -> list[str]:
        """Files the artifact at `path` needs beside it, relative to its folder, fetched before `load`.

        Raises `CorruptArtifactError` if `path` cannot be read far enough to tell.
        """

    @classmethod
    def load(cls, path: Path, **options: Any) -> Runtime:
        """Load the artifact at `path` with backend `options` (the model class's `runtime_kwargs`).

        Raises `FileNotFoundError` for a missing file, `CorruptArtifactError` for an unreadable one,
        and `ValueError` for an option this machine cannot honour (unknown device or provider).
        """

    def io(self) -> tuple[dict[str, np.dtype], list[str]]:
        """({input name: numpy dtype}, [output names]), in the artifact's order."""

    def shapes(self) -> dict[str, list[int | None]]:
        """{input name: its dims}, None where the axis is dynamic (a decoder's zero past is built from these)."""

    def run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Outputs by name for `feed`, one array per input of `io()` with its dtype.

        The arrays returned belong to the caller: a later call must not overwrite them. Calls from
        several threads at once must each get their own correct results.
        """

    def save(self, path: Path) -> None:
        """Write the artifact as `path` (its standard name) and its companions beside it under theirs."""


class CorruptArtifactError(OSError):
    """An artifact file exists but cannot be read by the runtime (truncated, garbled, empty)."""

    def __init__(self, path: os.PathLike | str, reason: str) -> None:
        self.path = Path(path)
        super().__init__(
            f"{self.path} cannot be loaded: {reason}. The file is truncated or corrupt: export the "
            "model again, or download it again with force_download=True."
        )
