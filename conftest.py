"""Root conftest: loads the malina pytest plugin when the entry point has not already done it (a checkout
without ``pip install -e .``), early enough for its options (``--lab``), and the lab-level fixtures every test
directory shares. ``docker_engine`` lives in the plugin."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.lab.model import Lab, load_lab

REPO = Path(__file__).resolve().parent

# The entry point ``malina`` (pytest11) imports fixtures.plugin before any conftest; registering the module a
# second time under another name would be an error, so only a checkout without the entry point loads it here.
# ``pytest_plugins`` in the root conftest is read while the initial conftests load, before the command line is
# parsed, so ``--lab`` is known either way.
pytest_plugins = [] if "fixtures.plugin" in sys.modules else ["fixtures.plugin"]


@pytest.fixture(scope="session")
def default_lab() -> Lab:
    return load_lab(REPO / "lab.yaml")
