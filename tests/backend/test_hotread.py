"""The hot-path reader: same answers as the ORM path, and it survives a connection that went away."""

from __future__ import annotations

from backend_helpers import machine, port_query

from backend.identity import port_key
from backend.schemas import MachineIn
from backend.service import Service


def test_reads_and_reconnects(service: Service) -> None:
    service.add(MachineIn.model_validate(machine()))
    q = port_query(1)
    key = port_key(q["sub82_1"], q["sub82_2"], "")
    rows = service.reader.rows([key], None, ())
    assert [(r.port_key, r.mac, r.boot_mode, r.flagged, r.state) for r in rows] == [
        (key, "dc:a6:32:00:00:01", "install", False, None)
    ]
    # by MAC and by serial too, in the same statement
    assert len(service.reader.rows(["nothing"], "dc:a6:32:00:00:01", ())) == 1
    assert len(service.reader.rows(["nothing"], None, ("6e87a401", "01a4876e"))) == 1
    assert service.reader.rows(["nothing"], "dc:a6:32:00:00:99", ("00000000",)) == []
    # the connection breaks (server restart, idle timeout): the next read opens a new one
    service.reader._local.conn.close()
    assert len(service.reader.rows([key], None, ())) == 1
