"""A PoE switch's SNMP agent for the emulated rack: POWER-ETHERNET-MIB (RFC 3621) ``pethPsePortAdminEnable``
over SNMP v2c on UDP, whose ports switch simulated boards through their power API.

``PoeAgent(ports, community=..., host=..., port=...)``: ``ports`` maps ``(group, port_index)`` to a board's
power API URL (``http://<mgmt>:7000``). GET of ``1.3.6.1.2.1.105.1.1.1.3.<group>.<port>`` answers 1 (true:
powered) or 2 (false) from the board's state; SET to 1 / 2 powers the port on / off; another value is
``wrongValue``, another OID ``noSuchInstance`` (GET) or ``notWritable`` (SET). A request with another community
gets no answer, as from a real switch (v2c authentication failure). ``mute`` makes the agent drop everything
(an agent that does not answer: an infrastructure failure the harness must classify). Written on pysnmp's
message codec only: the protocol handling is this module's own.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

import httpx
from pyasn1.codec.ber import decoder, encoder
from pyasn1.type.univ import Integer, ObjectIdentifier
from pysnmp.proto import api

PETH_ADMIN_ENABLE = (1, 3, 6, 1, 2, 1, 105, 1, 1, 1, 3)
WRONG_VALUE = 10
NOT_WRITABLE = 17
GEN_ERR = 5

log = logging.getLogger(__name__)


class PoeAgent:
    def __init__(self, ports: dict[tuple[int, int], str], *, community: str = "private", host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.ports = dict(ports)
        self.community = community
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(0.2)
        self.address: tuple[str, int] = self.sock.getsockname()
        self.mute = False
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="poe-snmp-agent", daemon=True)

    def start(self) -> PoeAgent:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if self.mute:
                continue
            try:
                answer = self.handle(data)
            except Exception as exc:  # a malformed datagram must not stop the switch
                log.warning("SNMP agent: dropped a request from %s: %s", peer, exc)
                continue
            if answer is not None:
                self.sock.sendto(answer, peer)

    def handle(self, data: bytes) -> bytes | None:
        """One request datagram -> the response datagram (None: no answer)."""
        if int(api.decodeMessageVersion(data)) != api.SNMP_VERSION_2C:
            return None
        p = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
        msg, _ = decoder.decode(data, asn1Spec=p.Message())
        if str(p.apiMessage.get_community(msg)) != self.community:
            return None
        req = p.apiMessage.get_pdu(msg)
        self.requests += 1
        resp = p.apiPDU.get_response(req)
        binds, status, index = self._answer(req, p)
        p.apiPDU.set_varbinds(resp, binds)
        if status:
            p.apiPDU.set_error_status(resp, status)
            p.apiPDU.set_error_index(resp, index)
        out = p.apiMessage.get_response(msg)
        p.apiMessage.set_pdu(out, resp)
        return bytes(encoder.encode(out))

    def _answer(self, req: Any, p: Any) -> tuple[list[tuple[Any, Any]], int, int]:
        setting = req.isSameTypeWith(p.SetRequestPDU())
        if not (setting or req.isSameTypeWith(p.GetRequestPDU())):
            return [(oid, p.Null()) for oid, _ in p.apiPDU.get_varbinds(req)], GEN_ERR, 1
        out: list[tuple[Any, Any]] = []
        for i, (oid, value) in enumerate(p.apiPDU.get_varbinds(req), start=1):
            key = self._port_of(tuple(oid))
            if key is None:
                if setting:
                    return list(p.apiPDU.get_varbinds(req)), NOT_WRITABLE, i
                out.append((oid, p.NoSuchInstance("")))
                continue
            if setting:
                if int(value) not in (1, 2):
                    return list(p.apiPDU.get_varbinds(req)), WRONG_VALUE, i
                self._power(key, "on" if int(value) == 1 else "off")
            out.append((ObjectIdentifier(oid), Integer(self._state(key))))
        return out, 0, 0

    def _port_of(self, oid: tuple[int, ...]) -> tuple[int, int] | None:
        n = len(PETH_ADMIN_ENABLE)
        if len(oid) != n + 2 or oid[:n] != PETH_ADMIN_ENABLE:
            return None
        key = (oid[n], oid[n + 1])
        return key if key in self.ports else None

    def _power(self, key: tuple[int, int], what: str) -> None:
        log.info("PoE port %s.%s: %s", key[0], key[1], what)
        httpx.post(f"{self.ports[key]}/power/{what}", timeout=20.0).raise_for_status()

    def _state(self, key: tuple[int, int]) -> int:
        state = httpx.get(f"{self.ports[key]}/power", timeout=10.0).json().get("state")
        return 1 if state == "on" else 2
