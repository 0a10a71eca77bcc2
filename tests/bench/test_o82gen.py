"""bench/o82gen.py, the option-82-per-client generator of bench.hook, against a tiny responder on loopback."""

from __future__ import annotations

import ipaddress
import socket
import threading

from bench.o82gen import circuit82, request, run
from harness.dhcp.codec import BOOTREPLY, Bootp, MessageType, decode_bootp, encode_bootp, parse_option82

SERVER, RELAY = "127.0.0.1", "127.0.0.2"


def test_each_client_has_its_own_circuit_id() -> None:
    first = decode_bootp(request(MessageType.DISCOVER, 1, RELAY, [], circuit82(1, b"tor"), b"guid"))
    second = decode_bootp(request(MessageType.DISCOVER, 2, RELAY, [], circuit82(2, b"tor"), None))
    assert parse_option82(first.option(82) or b"")[1] == b"Gi1"
    assert parse_option82(second.option(82) or b"")[1] == b"Gi2"
    assert first.mac != second.mac
    assert first.option(97) == b"guid" and second.option(97) is None
    assert str(first.giaddr) == RELAY


def responder(sock: socket.socket, stop: threading.Event, seen: set[bytes]) -> None:
    """Answer DISCOVER with OFFER and REQUEST with ACK (+ option 224), to the relay's address and port."""
    sock.settimeout(0.1)
    while not stop.is_set():
        try:
            data, _ = sock.recvfrom(4096)
        except TimeoutError:
            continue
        msg = decode_bootp(data)
        seen.add(msg.option(82) or b"")
        kind = MessageType.OFFER if msg.message_type == MessageType.DISCOVER else MessageType.ACK
        options = [(53, bytes([int(kind)])), (54, ipaddress.IPv4Address(SERVER).packed)]
        if kind == MessageType.ACK:
            options.append((224, b"http://backend/v1/install/x"))
        reply = Bootp(op=BOOTREPLY, xid=msg.xid, chaddr=msg.chaddr, giaddr=msg.giaddr,
                      yiaddr=ipaddress.IPv4Address("10.200.0.10"), options=options)
        sock.sendto(encode_bootp(reply), (str(msg.giaddr), sock.getsockname()[1]))


def test_run_completes_every_exchange_with_distinct_option82() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind((SERVER, 0))
    stop, seen = threading.Event(), set[bytes]()
    thread = threading.Thread(target=responder, args=(server, stop, seen), daemon=True)
    thread.start()
    try:
        result = run(SERVER, RELAY, rate=200, duration=0.5, timeout=1.0, guid=None, remote=b"tor",
                     port=server.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        server.close()
    assert result["offered"] == 100
    assert result["acks"] == 100 and result["acks_with_224"] == 100
    assert len(seen) == 100   # one option 82 per client (DISCOVER and REQUEST of a client carry the same)
    assert result["ack_p99"] is not None and result["ack_p99"] < 1000
