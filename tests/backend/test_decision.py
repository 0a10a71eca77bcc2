"""The options decision as a pure function: a table of asks and machine facts → the decision, and whether the
read-only path may answer it (``writes``). The API tests (test_api_options.py) check the same rules end to end."""

from __future__ import annotations

from typing import Any

import pytest

from backend.decision import (
    LOCAL_ANSWER,
    BootLocal,
    CountAsk,
    Decision,
    Flag,
    Install,
    Learn,
    MachineFacts,
    OptionsQuery,
    Policy,
    answer,
    decide,
    writes,
)
from backend.identity import parse_guid, port_key

NOW = 1_000_000.0
POLICY = Policy(tftp_server="10.89.0.4", max_attempts=3, loop_guard_count=5, loop_guard_window_s=600.0)
PORT1 = ("4769312f302f31", "746f722d612d3031")  # Gi1/0/1 on tor-a-01
PORT2 = ("4769312f302f32", "746f722d612d3031")
MAC1, MAC2 = "dc:a6:32:00:00:01", "dc:a6:32:00:00:02"
SERIAL1 = "6e87a401"
# option 97: type 0, RPi4, revision, the MAC's 4 low bytes, the serial (in the wire order the bootloader uses)
GUID1 = "00" + b"RPi4".hex() + "00c03111" + "32000001" + SERIAL1
GUID_OTHER_SERIAL = "00" + b"RPi4".hex() + "00c03111" + "32000001" + "0badcafe"


def facts(machine_id: int = 1, port: tuple[str, str] = PORT1, sub82_9: str = "", **over: Any) -> MachineFacts:
    values: dict[str, Any] = {
        "id": machine_id, "name": f"pi-{machine_id:02d}", "port_key": port_key(*port, sub82_9), "mac": MAC1,
        "serial": SERIAL1, "guid_serial": None, "boot_mode": "install", "flagged": False, "mode_changed_at": 0.0,
        "attempts": 1, "state": "netbooting", "token": "tok-1", "expires_at": NOW + 60, "result_status": None,
    }
    values.update(over)
    return MachineFacts(**values)


def ask(port: tuple[str, str] = PORT1, sub82_9: str = "", mac: str | None = MAC1,
        guid: str | None = None) -> OptionsQuery:
    return OptionsQuery(*port, sub82_9, mac, parse_guid(guid) if guid else None)


def cap_flag(machine_id: int = 1) -> Flag:
    return Flag(machine_id, "attempt cap 3 reached", cancel_attempt=False)


LOOP_REASON = ("loop guard: more than 5 boot asks within 600 s in local mode: its card is not booting")

# (id, query, rows, loop-guard verdict, expected decision, writes)
CASES: list[tuple[str, OptionsQuery, list[MachineFacts], bool | None, Decision, bool]] = [
    ("unknown port", ask(PORT2, mac=None), [], None, BootLocal("unknown switch port"), False),
    ("known board on an unknown port flags it", ask(PORT2), [facts()], None,
     BootLocal("unknown switch port", flags=(Flag(1, f"seen on an unknown switch port ({port_key(*PORT2)})",
                                                  cancel_attempt=False),)), True),
    ("an already flagged board on an unknown port writes nothing", ask(PORT2), [facts(flagged=True)], None,
     BootLocal("unknown switch port"), False),
    ("flagged port", ask(), [facts(flagged=True)], None, BootLocal("pi-01 is flagged", 1), False),
    ("live token", ask(), [facts()], None, Install(1, "10.89.0.4", "tok-1"), False),
    ("live token, sub-option 9 on a port defined without it", ask(sub82_9="00aa"), [facts()], None,
     Install(1, "10.89.0.4", "tok-1"), False),
    ("the exact port (with sub-option 9) wins", ask(sub82_9="00aa", mac=None),
     [facts(2, sub82_9="", mac=None, serial=None), facts(1, sub82_9="00aa")], None,
     Install(1, "10.89.0.4", "tok-1"), False),
    ("a machine defined with sub-option 9 needs it", ask(mac=None), [facts(sub82_9="00aa")], None,
     BootLocal("unknown switch port"), False),
    ("another MAC on the port", ask(mac=MAC2), [facts()], None,
     BootLocal("identity mismatch", 1, flags=(Flag(1, f"MAC {MAC2} asked on the port of pi-01, whose MAC is "
                                                      f"{MAC1}", cancel_attempt=True),)), True),
    ("another machine's board on the port", ask(mac=MAC2), [facts(mac=None), facts(2, PORT2, mac=MAC2)], None,
     BootLocal("identity mismatch", 1, flags=(
         Flag(1, "the board of pi-02 asked on the port of pi-01", cancel_attempt=True),
         Flag(2, "seen on the port of pi-01", cancel_attempt=False))), True),
    ("option 97 serial is not the machine's", ask(guid=GUID_OTHER_SERIAL), [facts()], None,
     BootLocal("identity mismatch", 1, flags=(Flag(1, "option 97 serial 0badcafe/fecaad0b is not pi-01's serial "
                                                      f"{SERIAL1}", cancel_attempt=True),)), True),
    ("option 97 serial bytes changed", ask(guid=GUID_OTHER_SERIAL), [facts(serial=None, guid_serial=SERIAL1)], None,
     BootLocal("identity mismatch", 1, flags=(Flag(1, f"option 97 serial bytes 0badcafe differ from those seen "
                                                      f"before ({SERIAL1})", cancel_attempt=True),)), True),
    ("first sight of the MAC", ask(), [facts(mac=None)], None,
     Install(1, "10.89.0.4", "tok-1", Learn(mac=MAC1)), True),
    ("first sight of the option-97 serial", ask(guid=GUID1), [facts(serial=None)], None,
     Install(1, "10.89.0.4", "tok-1", Learn(guid_serial=SERIAL1)), True),
    ("option 97 matching what is known", ask(guid=GUID1), [facts()], None, Install(1, "10.89.0.4", "tok-1"), False),
    ("local: the ask is counted first", ask(), [facts(boot_mode="local", mode_changed_at=5.0)], None,
     CountAsk(1, 5.0), False),
    ("local, loop guard quiet", ask(), [facts(boot_mode="local")], False, BootLocal("boot mode local", 1), False),
    ("local, loop guard tripped", ask(), [facts(boot_mode="local")], True,
     BootLocal("loop guard", 1, flags=(Flag(1, LOOP_REASON, cancel_attempt=True),), forget_asks=True), True),
    ("the loop guard's verdict does not matter in install", ask(), [facts()], True,
     Install(1, "10.89.0.4", "tok-1"), False),
    ("no attempt yet: a new one", ask(), [facts(attempts=0, state=None, token=None, expires_at=None)], None,
     Install(1, "10.89.0.4", None), True),
    ("expired token: the attempt ends, a new one starts", ask(), [facts(state="writing", expires_at=NOW)], None,
     Install(1, "10.89.0.4", None, expire="token expired in state writing"), True),
    ("expired token at the cap: local", ask(), [facts(attempts=3, expires_at=NOW - 1)], None,
     BootLocal("attempt cap reached", 1, expire="token expired in state netbooting"), True),
    ("last attempt failed at the cap", ask(), [facts(attempts=3, state="failed", token=None)], None,
     BootLocal("attempt cap reached", 1, flags=(cap_flag(),), to_local=True), True),
    ("last attempt failed below the cap", ask(), [facts(attempts=2, state="failed", token=None)], None,
     Install(1, "10.89.0.4", None), True),
    ("result reported, reinstall asked: a new attempt", ask(),
     [facts(state="configured", result_status="success", token=None, attempts=0)], None,
     Install(1, "10.89.0.4", None), True),
]


@pytest.mark.parametrize(("query", "rows", "verdict", "expected", "expect_writes"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_decide(query: OptionsQuery, rows: list[MachineFacts], verdict: bool | None, expected: Decision,
                expect_writes: bool) -> None:
    decision = decide(query, rows, NOW, POLICY, verdict)
    assert decision == expected
    if not isinstance(decision, CountAsk):
        assert writes(decision) is expect_writes


def test_answers() -> None:
    assert answer(BootLocal("flagged"), "http://b") == LOCAL_ANSWER == {"66": "0.0.0.0"}
    assert answer(Install(1, "10.89.0.4", "tok"), "http://b") == {"66": "10.89.0.4", "224": "http://b/v1/install/tok"}
    assert answer(Install(1, "10.89.0.4", None), "http://b", "new") == {"66": "10.89.0.4",
                                                                        "224": "http://b/v1/install/new"}


def test_the_loop_guard_is_asked_only_once_the_identity_is_clear() -> None:
    local = facts(boot_mode="local")
    assert isinstance(decide(ask(), [local], NOW, POLICY, None), CountAsk)
    # a flagged machine or a mismatch is answered before the loop guard counts anything
    assert isinstance(decide(ask(), [local._replace(flagged=True)], NOW, POLICY, None), BootLocal)
    assert isinstance(decide(ask(mac=MAC2), [local], NOW, POLICY, None), BootLocal)
