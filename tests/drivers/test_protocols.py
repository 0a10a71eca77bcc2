"""Each driver names the protocol it implements (``harness.drivers.base``) as a base class: mypy then checks
every member's signature, and an instance passes the protocol's runtime check."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.drivers import base
from harness.drivers.backend import HttpBackend
from harness.drivers.console import SerialConsole
from harness.drivers.dhcptrace import ScapyTrace
from harness.drivers.kea import AgentKea, DockerKea
from harness.drivers.power import CommandPower, SimPower, SnmpPower
from harness.drivers.ssh import SshConnection
from harness.drivers.tftp import DirTftp

DECLARED: list[tuple[type, type]] = [
    (SerialConsole, base.Console),
    (SimPower, base.Power), (SnmpPower, base.Power), (CommandPower, base.Power),
    (SshConnection, base.Ssh),
    (AgentKea, base.Kea), (DockerKea, base.Kea),
    (HttpBackend, base.Backend),
    (DirTftp, base.Tftp),
    (ScapyTrace, base.DhcpTrace),
]


@pytest.mark.parametrize(("driver", "protocol"), DECLARED, ids=[d.__name__ for d, _ in DECLARED])
def test_the_driver_declares_its_protocol(driver: type, protocol: type) -> None:
    assert protocol in driver.__mro__


def test_instances_pass_the_runtime_check(tmp_path: Path) -> None:
    made = [
        (SerialConsole("socket://127.0.0.1:9"), base.Console),  # not opened: nothing is contacted
        (SimPower("http://127.0.0.1:9"), base.Power),
        (CommandPower("true", "true"), base.Power),
        (SshConnection("127.0.0.1", "u", tmp_path / "k"), base.Ssh),
        (AgentKea("http://127.0.0.1:9/"), base.Kea),
        (DirTftp(tmp_path, None), base.Tftp),
        (ScapyTrace(None, tmp_path / "x.pcap"), base.DhcpTrace),
    ]
    for obj, protocol in made:
        assert isinstance(obj, protocol), (type(obj).__name__, protocol.__name__)
    backend = HttpBackend("http://127.0.0.1:9", "r", "w")
    try:
        assert isinstance(backend, base.Backend)
    finally:
        backend.close()
