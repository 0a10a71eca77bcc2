"""Lab-file texts in tests: the error a text gets, the line a needle is on."""

from __future__ import annotations

import pytest

from harness.lab.model import LabConfigError, parse_lab


def config_error(text: str, name: str = "lab.yaml") -> str:
    """The ``LabConfigError`` message ``text`` gets (the test fails when it loads)."""
    with pytest.raises(LabConfigError) as info:
        parse_lab(text, name)
    return str(info.value)


def line_of(text: str, needle: str) -> int:
    """The 1-based number of the first line of ``text`` containing ``needle``."""
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)
