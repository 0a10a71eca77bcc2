"""Fixtures of the hook's integration tests: one docker lab (Kea + hook, stand-in backend, relay/client)
per test module and Kea release (2.2, 2.6, 3.0: every test runs on each)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from harness.lab.keaversions import KEA_VERSIONS
from harness.lab.model import Lab
from testkit.hooklab import HookLab

# Parameters of the Kea under test: short timeouts, every failure logged, the breaker out of the way
# (its own test turns it on with reconfigure()).
TEST_PARAMS: dict[str, Any] = {
    "connect-timeout-ms": 200,
    "request-timeout-ms": 1000,
    "cache-ttl-ms": 5000,
    "negative-cache-ttl-ms": 300,
    "breaker-threshold": 1000,
    "log-interval-ms": 0,
    "max-concurrent-requests": 2,
}


@pytest.fixture(scope="module", params=KEA_VERSIONS, ids=[f"kea{v}" for v in KEA_VERSIONS])
def hook_lab(request: pytest.FixtureRequest, default_lab: Lab, docker_engine: object) -> Iterator[HookLab]:
    """The lab on each Kea release in turn (pytest orders the module's tests by release: one lab each)."""
    with HookLab.up(default_lab.with_kea_version(request.param), params=TEST_PARAMS, threads=4) as hl:
        yield hl


@pytest.fixture
def fresh(hook_lab: HookLab) -> Iterator[HookLab]:
    """The lab with the backend in `install` mode, its request log empty and the hook's cache flushed."""
    hook_lab.set_mode("install")
    hook_lab.reset_backend()
    answer = hook_lab.command("remote-options-cache-flush")
    assert answer["result"] == 0, answer
    yield hook_lab
