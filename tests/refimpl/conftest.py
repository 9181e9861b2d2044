"""Fixtures parametrizing the reference tests over backends."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conformance import zoo
from tests.refimpl.backends import BACKENDS, backend_module, exported_folder


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
