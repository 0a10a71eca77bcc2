"""backend.kea.KeaNotifier against both shapes of Kea's control API answer: a one-element list (kea-ctrl-agent on
Kea 2.x, and Kea 3.0's own HTTP socket, which emulates the agent by default) and a bare map (Kea 3.0 with
``emulate-agent-response`` off)."""

from __future__ import annotations

from typing import Any

import pytest
from backend_helpers import KeaStub

from backend.kea import KeaNotifier

PORT = {"sub82_1": "01", "sub82_2": "02", "mac": "dca632000001"}


@pytest.mark.parametrize("answer", [[{"result": 0, "text": "1 cache entries flushed"}],
                                    {"result": 0, "text": "1 cache entries flushed"}], ids=["list", "map"])
def test_flush_reads_either_answer_shape(answer: Any) -> None:
    stub = KeaStub(answer)
    try:
        assert KeaNotifier(stub.url).flush(PORT) == "ok"
        [command] = stub.commands
        assert command == {"command": "remote-options-cache-flush", "service": ["dhcp4"],
                           "arguments": {"sub82_1": "01", "sub82_2": "02"}}
    finally:
        stub.close()


@pytest.mark.parametrize("answer", [[{"result": 1, "text": "bad"}], {"result": 1, "text": "bad"}], ids=["list", "map"])
def test_refusal_in_either_shape_is_reported(answer: Any) -> None:
    stub = KeaStub(answer)
    try:
        assert KeaNotifier(stub.url).flush(PORT) == "failed: result 1: bad"
    finally:
        stub.close()
