"""Drivers log their actions to ``logging`` (one logger per module, ``harness.drivers.<module>``), which pytest
captures into a failed test's report."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from harness.drivers.power import CommandPower
from harness.drivers.tftp import DirTftp


def test_power_and_tftp_actions_are_logged(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    with caplog.at_level(logging.INFO, logger="harness"):
        power = CommandPower("true", "true")
        power.on()
        power.off()
        DirTftp(tmp_path, None).stage("6e87a417", {"config.txt": b"x"})
    seen = [(r.name, r.getMessage()) for r in caplog.records]
    assert ("harness.drivers.power", "power on: true") in seen
    assert ("harness.drivers.power", "power off: true") in seen
    assert any(name == "harness.drivers.tftp" and msg.startswith("tftp staged 6e87a417: 1 file(s)")
               for name, msg in seen), seen


def test_the_plugin_lets_harness_info_through(pytestconfig: pytest.Config) -> None:
    # the malina plugin is loaded in this repository's tests; without --log-level it opens INFO of ``harness``
    if pytestconfig.getoption("log_level", None) or pytestconfig.getini("log_level"):
        return  # the run chose its own level
    assert logging.getLogger("harness").getEffectiveLevel() <= logging.INFO
