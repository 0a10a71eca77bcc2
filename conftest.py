"""Root conftest: loads the malina pytest plugin when the entry point has not already done it, and the
lab-level fixtures every test directory shares."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from harness.lab.docker_lab import LabError, docker_client
from harness.lab.model import Lab, load_lab

REPO = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    pm = config.pluginmanager
    loaded = pm.has_plugin("malina") or pm.has_plugin("fixtures.plugin")
    if not loaded and importlib.util.find_spec("fixtures.plugin") is not None:
        pm.import_plugin("fixtures.plugin")


@pytest.fixture(scope="session")
def docker_engine() -> object:
    """The docker engine; a test that needs it FAILS (never skips) when none answers."""
    try:
        return docker_client()
    except LabError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def default_lab() -> Lab:
    return load_lab(REPO / "lab.yaml")
