"""Fixtures parametrizing the reference tests over backends."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from conformance import zoo
from tests.refimpl.backends import BACKENDS, ZOO, backend_module, exported_folder, load, sweep, zoo_folder


@pytest.fixture(params=list(BACKENDS), scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    backend_module(request.param)
    return request.param


@pytest.fixture(scope="session")
def exports_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("exports")


@pytest.fixture
def exported_copy(backend: str, exports_root: Path, tmp_path: Path):
    """Factory: a private copy of the saved export of (arch, task), safe to modify."""

    def make(arch: str = "bert", task: str = "text-classification") -> Path:
        source = exported_folder(backend, zoo.ZooModel(arch, task), exports_root)
        target = tmp_path / f"copy-{arch}-{task}"
        shutil.copytree(source, target)
        return target

    return make


@pytest.fixture(scope="session", params=sweep(ZOO, lambda m: (m.arch, m.task)), ids=lambda m: m.id)
def zoo_export(request: pytest.FixtureRequest, backend: str) -> tuple[zoo.ZooModel, Path, Any]:
    """(zoo model, its zoo folder, the backend's export of it), shared by the parity and round-trip
    tests of every forward-only zoo model. The export is nearly all of their time (1.7-4.3 s per
    OpenVINO model against 0.2 s for the rest), so it runs once for both: pytest groups the tests of
    one session-scoped parameter and drops the export before making the next."""
    model = request.param
    folder = zoo_folder(model)
    return model, folder, load(backend, model.task, folder, export=True)
