"""The relay switch's packet transforms and config, as pure functions (no sockets)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest
from scapy.all import BOOTP, DHCP  # type: ignore[attr-defined]

from harness.dhcp import codec as w
from harness.dhcp.frames import BROADCAST_MAC, LIMITED_BROADCAST
from harness.lab.model import Lab
from harness.sim.relay.config import RelayConfig, RelayConfigError, from_dict, load
from harness.sim.relay.net import parse_ip_addr_json
from harness.sim.relay.packet import Drop, relay_reply, relay_request

MAC = bytes.fromhex("dca632000001")
IP = ipaddress.IPv4Address
CONFIG: dict[str, Any] = {
    "server_address": "10.89.0.10",
    "dhcp_server": "10.89.0.2",
    "ports": [
        {"name": "port1", "address": "10.90.1.1", "subnet": "10.90.1.0/24", "circuit_id": "Gi1/0/1",
         "remote_id": "hex:746f722d61", "vendor_specific": "hex:0000a0b40104deadbeef"},
        {"name": "port2", "address": "10.90.2.1", "circuit_id": "Gi1/0/2", "remote_id": "tor-a",
         "vendor_specific": None},
    ],
}


@pytest.fixture
def cfg() -> RelayConfig:
    return from_dict(CONFIG)


def pi_discover(extra: list[object] | None = None, hops: int = 0, giaddr: str = "0.0.0.0", pad: int = 0) -> bytes:
    """A DISCOVER shaped like the Pi 4's (options 53, 55, 93, 94, 97, 60), built with scapy."""
    opts: list[object] = [
        ("message-type", "discover"),
        ("param_req_list", [1, 3, 43, 60, 66, 67, 128, 129, 130, 131, 132, 133, 134, 135]),
        (93, b"\x00\x00"), (94, b"\x01\x02\x01"), (97, b"\x00" + b"4iPR" + bytes(12)),
        ("vendor_class_id", b"PXEClient:Arch:00000:UNDI:002001"),
    ]
    opts += extra or []
    opts.append("end")
    raw = bytes(BOOTP(op=1, xid=0x5AD50DB4, chaddr=MAC + bytes(10), hops=hops, giaddr=giaddr) / DHCP(options=opts))
    return raw + bytes(pad)


def offer(*, flags: int = 0, giaddr: str = "10.90.1.1", echo82: bytes | None = None, mtype: int = 2,
          yiaddr: str = "10.90.1.150", ciaddr: str = "0.0.0.0") -> bytes:
    options = [(53, bytes([mtype])), (54, IP("10.89.0.2").packed), (66, b"10.89.0.4")]
    if echo82 is not None:
        options.append((82, echo82))
    msg = w.Bootp(op=2, xid=0x5AD50DB4, chaddr=MAC, flags=flags, giaddr=IP(giaddr), yiaddr=IP(yiaddr),
                  ciaddr=IP(ciaddr), hops=1, options=options)
    return w.encode_bootp(msg)


# -- config -------------------------------------------------------------------------------------------------
def test_config_builds_option82_per_port(cfg: RelayConfig) -> None:
    p1, p2 = cfg.ports
    assert p1.subs == {1: b"Gi1/0/1", 2: b"tor-a", 9: bytes.fromhex("0000a0b40104deadbeef")}
    assert p2.subs == {1: b"Gi1/0/2", 2: b"tor-a"}
    assert set(cfg.port_by_address()) == {IP("10.90.1.1"), IP("10.90.2.1")}
    assert cfg.max_hops == 16


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ports": []}, "ports"),
        ({"dhcp_server": "kea"}, "dhcp_server"),
        ({"extra": 1}, "extra"),
        ({"ports": [{**CONFIG["ports"][0], "circuit_id": "hex:zz"}]}, "circuit_id"),
        ({"ports": [{**CONFIG["ports"][0], "address": "10.90.9.1"}]}, "not inside subnet"),
        ({"ports": [CONFIG["ports"][0], CONFIG["ports"][0]]}, "same name"),
        ({"server_address": "10.90.1.1"}, "server_address must differ"),
        ({"ports": [{**CONFIG["ports"][0], "circuit_id": "x" * 200, "remote_id": "y" * 60}]},
         "limit is 255"),
    ],
)
def test_config_errors_are_clear(change: dict[str, object], message: str) -> None:
    with pytest.raises(RelayConfigError, match=message):
        from_dict({**CONFIG, **change})


def test_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(RelayConfigError, match="cannot read"):
        load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{\n  'x'\n}")
    with pytest.raises(RelayConfigError, match=r"bad.json:2: not valid JSON"):
        load(bad)
    good = tmp_path / "relay.json"
    good.write_text(json.dumps(CONFIG))
    assert load(good).ports[0].name == "port1"


def test_config_of_the_lab_model_is_accepted(default_lab: Lab) -> None:
    from harness.lab.services import relay_config

    data = relay_config(default_lab)
    cfg = from_dict(json.loads(json.dumps(data)))
    for port, lab_port in zip(cfg.ports, default_lab.switch.ports, strict=True):
        assert port.address == lab_port.gateway
        assert port.subs == default_lab.switch.option82(lab_port)


# -- towards the server ---------------------------------------------------------------------------------------
def test_request_gets_giaddr_hops_and_option82_before_end(cfg: RelayConfig) -> None:
    raw = pi_discover()
    out = relay_request(raw, cfg.ports[0])
    pkt = BOOTP(out.payload)
    assert pkt.giaddr == "10.90.1.1" and pkt.hops == 1 and pkt.xid == 0x5AD50DB4
    assert bytes(pkt.chaddr)[:6] == MAC
    codes = [w.parse_options(out.payload[240:])[i][0] for i in range(7)]
    assert codes == [53, 55, 93, 94, 97, 60, 82]
    value = w.get_option(w.parse_options(out.payload[240:]), 82)
    assert value is not None
    assert w.parse_option82(value) == {1: b"Gi1/0/1", 2: b"tor-a", 9: bytes.fromhex("0000a0b40104deadbeef")}
    # option 82 is the last option and the end option follows it directly
    tail = w.encode_option82(cfg.ports[0].subs) + b"\xff"
    assert out.payload.endswith(tail)
    # everything before the options is unchanged except hops and giaddr
    assert out.payload[:3] == raw[:3] and out.payload[4:24] == raw[4:24] and out.payload[28:240] == raw[28:240]
    assert out.option82_added and not out.client_option82


def test_request_on_port_without_sub9(cfg: RelayConfig) -> None:
    out = relay_request(pi_discover(), cfg.ports[1])
    value = out.msg.option(82)
    assert value is not None and w.parse_option82(value) == {1: b"Gi1/0/2", 2: b"tor-a"}
    assert out.msg.giaddr == IP("10.90.2.1")


def test_client_supplied_option82_is_replaced(cfg: RelayConfig) -> None:
    spoof = ("relay_agent_information", b"\x01\x07Gi9/9/9\x02\x03bad")
    out = relay_request(pi_discover(extra=[spoof]), cfg.ports[0])
    found = [v for c, v in w.parse_options(out.payload[240:]) if c == 82]
    assert len(found) == 1 and w.parse_option82(found[0])[1] == b"Gi1/0/1"
    assert out.client_option82


def test_existing_giaddr_kept_and_hops_counted(cfg: RelayConfig) -> None:
    out = relay_request(pi_discover(hops=3, giaddr="10.77.0.1"), cfg.ports[0])
    assert out.msg.giaddr == IP("10.77.0.1") and out.msg.hops == 4
    with pytest.raises(Drop) as info:
        relay_request(pi_discover(hops=16), cfg.ports[0])
    assert info.value.reason == "max_hops"


def test_bootp_padding_absorbs_option82(cfg: RelayConfig) -> None:
    raw = pi_discover(pad=60)
    out = relay_request(raw, cfg.ports[0])
    assert len(out.payload) == len(raw)
    assert w.decode_bootp(out.payload).option(82) == cfg.ports[0].option82


def test_option82_left_out_when_it_does_not_fit(cfg: RelayConfig) -> None:
    big = [(200 + i, b"x" * 250) for i in range(5)]
    out = relay_request(pi_discover(extra=big), cfg.ports[0])  # type: ignore[arg-type]
    assert not out.option82_added and out.msg.option(82) is None
    assert out.msg.giaddr == IP("10.90.1.1")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(b"\x01garbage", "malformed"), (offer(), "wrong_op"), (pi_discover()[:-2] + b"\x3c\x09", "malformed")],
)
def test_bad_requests_are_dropped(cfg: RelayConfig, raw: bytes, reason: str) -> None:
    with pytest.raises(Drop) as info:
        relay_request(raw, cfg.ports[0])
    assert info.value.reason == reason


# -- towards the client ---------------------------------------------------------------------------------------
def test_unicast_reply_stripped_and_sent_to_yiaddr_at_chaddr(cfg: RelayConfig) -> None:
    d = relay_reply(offer(echo82=cfg.ports[0].option82), cfg.port_by_address())
    assert d.port.name == "port1"
    assert (d.dst_ip, d.dst_mac, d.broadcast) == (IP("10.90.1.150"), MAC, False)
    assert d.echoed_circuit == b"Gi1/0/1"
    assert 82 not in [c for c, _ in w.parse_options(d.payload[240:])]
    pkt = BOOTP(d.payload)
    assert pkt.yiaddr == "10.90.1.150" and pkt.giaddr == "10.90.1.1"
    opts: dict[str, Any] = dict(o for o in pkt[DHCP].options if isinstance(o, tuple))
    assert opts["message-type"] == 2 and opts["tftp_server_name"] == b"10.89.0.4"


def test_broadcast_flag_means_broadcast(cfg: RelayConfig) -> None:
    d = relay_reply(offer(flags=0x8000, giaddr="10.90.2.1", yiaddr="10.90.2.150"), cfg.port_by_address())
    assert d.port.name == "port2"
    assert (d.dst_ip, d.dst_mac, d.broadcast) == (LIMITED_BROADCAST, BROADCAST_MAC, True)
    assert d.echoed_circuit is None


def test_nak_is_broadcast_and_ciaddr_preferred(cfg: RelayConfig) -> None:
    nak = relay_reply(offer(mtype=6, yiaddr="0.0.0.0"), cfg.port_by_address())
    assert nak.broadcast and nak.dst_mac == BROADCAST_MAC
    renew = relay_reply(offer(mtype=5, ciaddr="10.90.1.120", yiaddr="10.90.1.120"), cfg.port_by_address())
    assert (renew.dst_ip, renew.dst_mac) == (IP("10.90.1.120"), MAC)
    nothing = relay_reply(offer(yiaddr="0.0.0.0"), cfg.port_by_address())
    assert nothing.broadcast


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (offer(giaddr="0.0.0.0"), "no_giaddr"),
        (offer(giaddr="10.90.3.1"), "unknown_giaddr"),
        (pi_discover(), "wrong_op"),
        (b"\x02" * 100, "malformed"),
    ],
)
def test_bad_replies_are_dropped(cfg: RelayConfig, raw: bytes, reason: str) -> None:
    with pytest.raises(Drop) as info:
        relay_reply(raw, cfg.port_by_address())
    assert info.value.reason == reason


def test_broken_echoed_option82_is_still_stripped(cfg: RelayConfig) -> None:
    d = relay_reply(offer(echo82=b"\x01\x09short"), cfg.port_by_address())
    assert d.echoed_circuit is None and d.msg.option(82) is None


# -- interface discovery ---------------------------------------------------------------------------------------
def test_parse_ip_addr_json() -> None:
    text = json.dumps([
        {"ifindex": 1, "ifname": "lo", "address": "00:00:00:00:00:00",
         "addr_info": [{"family": "inet", "local": "127.0.0.1"}]},
        {"ifindex": 7, "ifname": "eth1", "address": "02:42:0a:5a:01:01",
         "addr_info": [{"family": "inet", "local": "10.90.1.1"}, {"family": "inet6", "local": "fe80::1"}]},
        {"ifindex": 9, "ifname": "tun0", "addr_info": [{"family": "inet", "local": "10.9.9.9"}]},
    ])
    found = parse_ip_addr_json(text)
    assert found[IP("10.90.1.1")].name == "eth1" and found[IP("10.90.1.1")].index == 7
    assert found[IP("10.90.1.1")].mac == bytes.fromhex("02420a5a0101")
    assert IP("10.9.9.9") not in found
    with pytest.raises(ValueError, match="not JSON"):
        parse_ip_addr_json("oops")
