"""Qualification of the boot-local methods on every board (issue 19; ``-m qualify``).

For each board of the lab and each method (``opt66-zero``, ``tftp-deny``, ``opt66-zero+tftp-deny``) the board's
machine is put in boot-local by that method, the board is powered on, and its console tells whether and how fast
it reached the SD boot mode, and which bootloader release it runs (its banner). The table (bootloader version x
method → falls back / loops / netboots / no fallback, and the time) is attached to the Allure report as HTML and
CSV, printed, and written to ``build/qualify/boot-local-<lab>.csv``. The run fails when the lab's configured
method (``services.backend.boot_local_method``) does not fall back on some board; the other methods are
recorded, not judged (they are what an operator compares before switching).

On the sim it runs in ``make test`` (every board's bootloader is the simulated one, in its own format generation
and release); on a rack an operator runs it once per EEPROM release before rolling that release out
(docs/RACK.md, "Qualifying a bootloader release").
"""

from __future__ import annotations

from pathlib import Path

import allure
import pytest

from harness.bootlocal import Observation, observe, table_csv, table_html, table_text
from harness.drivers.backend import HttpBackend
from harness.session import Session, Target

METHODS = ("opt66-zero", "tftp-deny", "opt66-zero+tftp-deny")


def _budget(session: Session) -> float:
    """How long to wait for the SD boot mode: two network tries at the documented worst case (DHCP_TIMEOUT 45 s
    each, the 5 s retry pause, the mode switch) with room, scaled to the lab's time; at least 20 s of host time."""
    return max(20.0, session.lab.scaled(150.0) + 10.0)


def _qualify(target: Target, method: str, session: Session, backend: HttpBackend) -> Observation:
    backend.set_local(target.name)
    backend.set_boot_local_method(target.name, method)
    try:
        return observe(target, method, timeout=_budget(session), time_factor=session.lab.lab.time_factor,
                       retries=int(target.board.eeprom.get("NET_BOOT_MAX_RETRIES", 1)))
    finally:
        target.power.off()


@pytest.mark.qualify
@pytest.mark.board(count="all")
def test_boot_local_qualification(boards: list[Target], lab_session: Session, backend: HttpBackend,
                                  capsys: pytest.CaptureFixture[str], pytestconfig: pytest.Config) -> None:
    lab = lab_session.lab
    configured = lab.services.backend.boot_local_method
    rows: list[Observation] = []
    try:
        for target in boards:
            for method in METHODS:
                with allure.step(f"{target.name}: boot local by {method}"):
                    rows.append(_qualify(target, method, lab_session, backend))
    finally:
        for target in boards:
            backend.set_boot_local_method(target.name, None)
    title = f"boot-local qualification, lab {lab.lab.name} (configured method: {configured})"
    allure.attach(table_html(rows, title), name="boot-local qualification",
                  attachment_type=allure.attachment_type.HTML)
    allure.attach(table_csv(rows), name="boot-local qualification (CSV)", attachment_type=allure.attachment_type.CSV)
    out = Path(str(pytestconfig.rootpath)) / "build" / "qualify" / f"boot-local-{lab.lab.name}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table_csv(rows))
    with capsys.disabled():
        print(f"\n{title}\n{table_text(rows)}\n(written to {out})")

    assert len(rows) == len(boards) * len(METHODS)
    failing = [r for r in rows if r.method == configured and r.outcome != "falls back"]
    assert not failing, (f"the configured boot-local method {configured} does not fall back on "
                         f"{', '.join(f'{r.board} ({r.bootloader}): {r.outcome}' for r in failing)}\n"
                         + table_text(rows))
    assert all(r.bootloader != "?" for r in rows), "a board printed no bootloader banner (BOOT_UART=1?)\n" \
        + table_text(rows)
    if lab.lab.kind == "sim":  # every method falls back on the simulated bootloader (its time: make bench-sim)
        assert {r.outcome for r in rows} == {"falls back"}, table_text(rows)
        assert {r.network_tries for r in rows} == {2}, table_text(rows)  # NET_BOOT_MAX_RETRIES=1: two tries
        assert len({r.bootloader for r in rows}) == len({b.board.uart_format for b in boards}), table_text(rows)
