"""Test infrastructure that tests and benchmarks share: loopback ports, stand-in backends, the hook's lab.

Imported by ``tests/`` and ``bench/`` (never the other way round: benches do not import from ``tests/``), and
``testkit.browser`` by ``scenarios/test_ui.py``; not a dependency of ``harness/``, ``backend/`` or the pytest
plugin. ``testkit.style`` holds the style checks ``make lint`` and ``tests/test_style.py`` share;
``testkit.browser`` (selenium) is imported on its own, not here. See testkit/README.md.
"""

from __future__ import annotations

from testkit.agent import run_agent
from testkit.agent_backend import BackendStub, FileFault
from testkit.hooklab import HookLab, option_text, pi_guid, sub
from testkit.ports import free_port

__all__ = ["BackendStub", "FileFault", "HookLab", "free_port", "option_text", "pi_guid", "run_agent", "sub"]
