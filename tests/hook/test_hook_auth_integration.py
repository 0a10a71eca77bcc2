"""The hook in a real kea-dhcp4 sends the lab run's bearer secret on every backend call (issue 13.1)."""

from __future__ import annotations

import pytest

from testkit.hooklab import HookLab

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_every_backend_call_carries_the_runs_secret(fresh: HookLab) -> None:
    clients = [fresh.client(n) for n in (901, 902)]
    results = fresh.exchange(clients)
    assert all(r["offer"] is not None for r in results), results
    seen = fresh.backend_requests()
    assert seen["count"] == 2 and seen["authorizations"] == [f"Bearer {fresh.run.hook_secret}"] * 2, seen
    assert fresh.run.hook_secret not in fresh.kea_logs()  # never logged
