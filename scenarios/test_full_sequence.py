"""Scenario 1: the full sequence on one board, from power-off to SSH on the installed system; once per console
format generation of the lab's boards (on the sim: pi-01 2022, pi-02 2024, pi-03 2021), so that the console
parser reads every generation's netboot and SD boot end to end."""

from __future__ import annotations

import pytest

from harness.drivers.base import Backend, DhcpTrace
from harness.session import Session, Target
from harness.strategy.boot import BootStrategy
from scenarios.checks import (
    acks,
    assert_relayed_with_port,
    assert_tree_served,
    boot_modes,
    check_generation,
    events_of,
    option,
)


@pytest.mark.release_gate
@pytest.mark.per_uart_format
def test_full_sequence(board_name: str, board: Target, strategy: BootStrategy, dhcp_trace: DhcpTrace,
                       lab_session: Session, backend: Backend) -> None:
    lab = lab_session.lab
    tftp_ip = str(lab.services.tftp.address)
    started = lab_session.tftp.served()
    with strategy.install(tftp_server=tftp_ip) as ssh:
        strategy.attach()
        # console: BOOT_ORDER 0xf12 as the bootloader printed it, network first, then SD after the install
        events = strategy.console_events()
        summary = events_of(events, "summary")[-1]
        assert summary["boot_order"] == "0xf12", summary
        banner = events_of(events, "banner")[0]
        assert banner["serial"] == board.board.serial
        first = events_of(events, "boot_mode")[0]
        assert (first["mode"], first["nibble"], first["order"]) == ("NETWORK", 2, "f1")
        modes = boot_modes(events)
        assert modes[-1] == "SD" and "NETWORK" in modes[:-1], modes
        paths = [e["path"] for e in events_of(events, "tftp_get")]
        assert paths[0] == f"{board.board.serial}/start4.elf", paths  # the bootloader prints its own reads
        assert f"{board.board.serial}/config.txt" in paths, paths
        assert events_of(events, "login_prompt")[-1]["host"] == board.board.install.hostname
        check_generation(events, board.board.uart_format, sim=lab.lab.kind == "sim")

        # TFTP server side: the tree was really served to this board (its transfer log; without one, as on a
        # rack's tftpd-hpa, the tree is read back over TFTP)
        assert_tree_served(lab_session, board, ("start4.elf", "config.txt", "cmdline.txt", "kernel8.img"), started)

        # DHCP: relayed with the port's option 82; the first ACK carries 66 = TFTP and 224 = the install URL,
        # which is what the agent fetched; after the verified install the answer is 66 = 0.0.0.0, no 224
        port = lab.port_of(board.board)
        assert_relayed_with_port(dhcp_trace, board, lab.switch.option82(port)[1])
        got = acks(dhcp_trace, board)
        install_ack = got[0]
        assert option(install_ack, 66) == tftp_ip, dhcp_trace.table(board.board.mac)
        url224 = option(install_ack, 224)
        assert url224 is not None and url224.startswith(f"{lab.services.backend.url}/v1/install/"), url224
        assert strategy.report.facts["install_url"] == url224
        discover = dhcp_trace.exchanges(board.board.mac)[0].packets[0]
        assert 97 in discover.options, "the bootloader's DISCOVER carries option 97 (GUID)"
        local_ack = got[-1]
        assert option(local_ack, 66) == "0.0.0.0" and 224 not in local_ack.options, dhcp_trace.table(board.board.mac)

        # backend: verified install, flipped to local, the installed system called back once
        m = backend.wait_state(board.name, {"booted-ok"}, timeout=30.0)
        assert m["boot_mode"] == "local" and not m["flagged"], m
        assert m["last_attempt"]["bytes_written"] == lab_session.image["size"]

        # SSH on the installed system
        inst = board.board.install
        # (run_checked: a command that exits non-zero fails the test with its exit status, stdout and stderr)
        assert ssh.run_checked("hostname").strip() == inst.hostname
        netplan = ssh.run_checked("sudo -n cat /etc/netplan/90-malina.yaml")
        assert str(inst.address) in netplan and "eth0" in netplan, netplan
        mode = ssh.run_checked("stat -c %a /etc/netplan/90-malina.yaml").strip()
        assert mode == "600", mode
        addrs = ssh.run_checked("ip -4 -o addr show dev eth0")
        assert str(inst.address) in addrs, addrs
        has_vcgencmd = ssh.run("sudo -n sh -c 'command -v vcgencmd'").ok  # a question: its exit status is the answer
        if lab.lab.kind == "sim" or has_vcgencmd:  # the sim board offers it; a rack board when installed
            eeprom = ssh.run_checked("sudo -n vcgencmd bootloader_config")
            assert "BOOT_ORDER=0xf12" in eeprom, eeprom
