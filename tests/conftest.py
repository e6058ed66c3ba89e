"""Fixtures shared across the test packages."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_gpkg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Isfana demo workspace, built once per session; copy it before writing to it."""
    from jer_data import DEMO_WORKSPACE

    path = tmp_path_factory.mktemp("demo") / "isfana.gpkg"
    if DEMO_WORKSPACE.exists():
        shutil.copyfile(DEMO_WORKSPACE, path)
    else:
        from jer_data.demo.generate import write_demo

        write_demo(path)
    return path


@pytest.fixture
def demo_copy(demo_gpkg: Path, tmp_path: Path) -> Path:
    """A private copy of the demo workspace for tests that write."""
    path = tmp_path / "isfana.gpkg"
    shutil.copyfile(demo_gpkg, path)
    return path
