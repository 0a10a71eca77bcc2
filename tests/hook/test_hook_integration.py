"""The hook in the real kea-dhcp4 (multi-threaded) in the docker lab: relayed DHCP sent with scapy from the
relay's address, options 66/224 asserted in OFFER and ACK, the failure policy, the cache and its flush
command, live reconfiguration, and every bad input of issue 3."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import pytest

from backend.kea import KeaNotifier
from harness.lab.docker_lab import put_files
from testkit.hooklab import HookLab, option_text, pi_guid, sub

pytestmark = [pytest.mark.docker, pytest.mark.slow]

_numbers = itertools.count(100)


def new_client(hl: HookLab, **kw: Any) -> dict[str, Any]:
    return hl.client(next(_numbers), **kw)


def expected_query(hl: HookLab, c: dict[str, Any]) -> str:
    subs82 = bytes.fromhex(c["options"]["82"])
    circuit = subs82[2:2 + subs82[1]]
    remote = subs82[4 + len(circuit):]
    parts = [f"sub82_1={circuit.hex()}", f"sub82_2={remote.hex()}", f"mac={c['mac'].replace(':', '')}"]
    if "97" in c["options"]:
        parts.append(f"guid={c['options']['97']}")
    return "&".join(parts)


def assert_install(hl: HookLab, result: dict[str, Any]) -> None:
    tftp = str(hl.lab.services.tftp.address)
    for reply in ("offer", "ack"):
        opts = result[reply]
        assert opts is not None, f"no {reply}: {result}"
        assert option_text(opts, 66) == tftp, f"{reply} option 66: {opts}"
        url = option_text(opts, 224)
        assert url is not None and url.startswith(f"{hl.backend_url}/v1/install/"), f"{reply} 224: {opts}"
    assert option_text(result["offer"], 224) == option_text(result["ack"], 224)
    assert result.get("ack_type") == 5


def assert_boot_local(result: dict[str, Any]) -> None:
    for reply in ("offer", "ack"):
        opts = result[reply]
        assert opts is not None, f"no {reply}: {result}"
        assert option_text(opts, 66) == "0.0.0.0", f"{reply} must carry the failure policy: {opts}"
        assert option_text(opts, 224) is None, f"{reply} must not carry 224: {opts}"


def test_hook_loaded_with_multithreading(hook_lab: HookLab) -> None:
    logs = hook_lab.kea_logs()
    assert "REMOTE_OPTIONS_LOAD_OK" in logs
    assert "DHCP4_MULTI_THREADING_INFO enabled: yes" in logs
    assert "REMOTE_OPTIONS_SINGLE_THREADED" not in logs


def test_offer_and_ack_carry_backend_options_one_call(fresh: HookLab) -> None:
    c = new_client(fresh)
    [result] = fresh.exchange([c])
    assert_install(fresh, result)
    seen = fresh.backend_requests()
    assert seen["count"] == 1, f"DISCOVER + REQUEST must cost one backend call: {seen}"
    assert seen["queries"] == [expected_query(fresh, c)]
    counters = fresh.hook_stats()
    assert counters["backend-calls"] >= 1 and counters["cache-hits"] >= 1, counters
    # Also published as Kea statistics (remote-options-stats publishes them at once).
    published = fresh.kea_statistics("remote-options.")
    assert published["remote-options.backend-calls"] == counters["backend-calls"], published


def test_vendor_specific_suboption_in_query(fresh: HookLab) -> None:
    vendor = bytes.fromhex("00000de90401aa")
    c = new_client(fresh, opt82=sub(1, b"Gi1/0/2") + sub(2, b"tor-a-01") + sub(9, vendor))
    [result] = fresh.exchange([c])
    assert_install(fresh, result)
    [query] = fresh.backend_requests()["queries"]
    head = f"sub82_1={b'Gi1/0/2'.hex()}&sub82_2={b'tor-a-01'.hex()}&sub82_9={vendor.hex()}&mac="
    assert query.startswith(head), query


@pytest.mark.parametrize("variant", ["byte-swapped-guid", "user-class"])
def test_other_matchers(fresh: HookLab, variant: str) -> None:
    if variant == "byte-swapped-guid":
        c = new_client(fresh, guid="4iPR")
    else:
        c = new_client(fresh, guid=None, user_class=fresh.lab.services.kea.user_class)
    [result] = fresh.exchange([c])
    assert_install(fresh, result)
    assert fresh.backend_requests()["count"] == 1


def test_non_matching_client_costs_no_call(fresh: HookLab) -> None:
    results = fresh.exchange([new_client(fresh, guid="RPi3"), new_client(fresh, guid=None)])
    for r in results:
        assert r["offer"] is not None and r["ack"] is not None, r
        assert option_text(r["offer"], 224) is None and option_text(r["offer"], 66) is None
        assert option_text(r["ack"], 224) is None and option_text(r["ack"], 66) is None
    assert fresh.backend_requests()["count"] == 0


def test_floor_library_loads_and_changes_nothing(fresh: HookLab) -> None:
    """The bench's floor library (hook/floor/floor.cc, case ``hook_points_floor``) loads in this release's Kea in
    place of the hook, logs its callouts at the hook's hook points, and a Pi client gets Kea's plain answer."""
    try:
        fresh.reconfigure(fresh.params, with_hook=False, floor=True)
        logs = fresh.kea_logs()
        assert "libdhcp_malina_floor.so" in logs, logs[-2000:]
        [result] = fresh.exchange([new_client(fresh)])
        assert result["offer"] is not None and result["ack"] is not None, result
        for reply in ("offer", "ack"):
            assert option_text(result[reply], 66) is None and option_text(result[reply], 224) is None, result
        assert fresh.backend_requests()["count"] == 0
        answer = fresh.command("remote-options-stats")
        assert answer["result"] != 0, f"the hook is not loaded, so its command must be unknown: {answer}"
        # one hook point alone (the library's "hook-points" parameter): loads, and still changes nothing
        fresh.reconfigure(fresh.params, with_hook=False, floor=True, floor_points=["pkt4_send"])
        [result] = fresh.exchange([new_client(fresh)])
        assert result["ack"] is not None and option_text(result["ack"], 66) is None, result
    finally:
        fresh.reconfigure(fresh.params)
    [result] = fresh.exchange([new_client(fresh)])
    assert_install(fresh, result)


def test_local_boot_answer(fresh: HookLab) -> None:
    fresh.set_mode("local")
    [result] = fresh.exchange([new_client(fresh)])
    assert_boot_local(result)
    assert fresh.backend_requests()["count"] == 1


def test_option_outside_allowlist_ignored(fresh: HookLab) -> None:
    fresh.set_mode("notallowed")
    [result] = fresh.exchange([new_client(fresh)])
    assert_install(fresh, result)
    assert option_text(result["ack"], 6) is None
    assert "REMOTE_OPTIONS_OPTION_NOT_ALLOWED" in fresh.kea_logs()


BAD_ANSWERS = {
    "garbage": "REMOTE_OPTIONS_BACKEND_BAD_JSON",
    "array": "REMOTE_OPTIONS_BACKEND_BAD_JSON",
    "badkey": "REMOTE_OPTIONS_BACKEND_BAD_JSON",
    "key0": "REMOTE_OPTIONS_BACKEND_BAD_JSON",
    "key255": "REMOTE_OPTIONS_BACKEND_BAD_JSON",
    "nonnumeric": "REMOTE_OPTIONS_BACKEND_BAD_JSON",
    "badtype": "REMOTE_OPTIONS_OPTION_BAD_VALUE",
    "huge": "REMOTE_OPTIONS_BACKEND_BODY_TOO_LARGE",
    "redirect": "REMOTE_OPTIONS_BACKEND_HTTP_STATUS",
    "status500": "REMOTE_OPTIONS_BACKEND_HTTP_STATUS",
    "hang": "REMOTE_OPTIONS_BACKEND_TIMEOUT",
}


@pytest.mark.parametrize("mode", sorted(BAD_ANSWERS))
def test_bad_backend_answer_gets_failure_policy(fresh: HookLab, mode: str) -> None:
    before = fresh.kea_logs().count(BAD_ANSWERS[mode])
    fresh.set_mode(mode)
    [result] = fresh.exchange([new_client(fresh)])
    assert_boot_local(result)
    timeout_ms = fresh.params["request-timeout-ms"]
    assert result["offer_ms"] < timeout_ms + 1500, f"OFFER later than the timeout: {result['offer_ms']} ms"
    seen = fresh.backend_requests()
    assert seen["count"] == 1, f"one call per exchange (negative cache), redirects not followed: {seen}"
    assert fresh.kea_logs().count(BAD_ANSWERS[mode]) > before
    # Kea is still healthy: a good answer goes through right after.
    fresh.set_mode("install")
    [ok] = fresh.exchange([new_client(fresh)])
    assert_install(fresh, ok)


MALFORMED_82 = {
    "truncated": bytes([1, 10]) + b"ab",
    "zero-length": sub(1, b"") + sub(2, b""),
    "no-circuit-or-remote": sub(9, b"vendor"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_82))
def test_malformed_option82_never_reaches_backend(fresh: HookLab, case: str) -> None:
    [result] = fresh.exchange([new_client(fresh, opt82=MALFORMED_82[case])])
    assert_boot_local(result)
    assert fresh.backend_requests()["count"] == 0
    assert "REMOTE_OPTIONS_BAD_OPTION82" in fresh.kea_logs()


def test_missing_option82_gets_failure_policy(fresh: HookLab) -> None:
    [result] = fresh.exchange([new_client(fresh, with_82=False)])
    # Kea selects the subnet by giaddr: the client is served, without the backend's options.
    assert_boot_local(result)
    assert fresh.backend_requests()["count"] == 0


def test_huge_option82(fresh: HookLab) -> None:
    circuit, remote = b"C" * 200, b"R" * 49   # option 82 of 253 bytes
    [result] = fresh.exchange([new_client(fresh, opt82=sub(1, circuit) + sub(2, remote))])
    assert_install(fresh, result)
    [query] = fresh.backend_requests()["queries"]
    assert query.startswith(f"sub82_1={circuit.hex()}&sub82_2={remote.hex()}&mac=")


def test_cache_and_flush_command(fresh: HookLab) -> None:
    c = new_client(fresh)
    # both DORAs in one client run: two runs are seconds apart on a loaded machine (the client's start), past the TTL
    fresh.exchange([c, c])
    assert fresh.backend_requests()["count"] == 1, "second DORA within the TTL must come from the cache"
    subs82 = bytes.fromhex(c["options"]["82"])
    circuit = subs82[2:2 + subs82[1]]
    answer = fresh.command("remote-options-cache-flush",
                           {"sub82_1": circuit.hex(), "sub82_2": b"tor-a-01".hex()})
    assert answer["result"] == 0, answer
    assert answer["arguments"]["flushed"] == 1, answer
    [result] = fresh.exchange([c])
    assert_install(fresh, result)
    assert fresh.backend_requests()["count"] == 2, "after the flush the backend is asked again"
    other = new_client(fresh)
    fresh.exchange([other])
    answer = fresh.command("remote-options-cache-flush", {"mac": other["mac"]})
    assert answer["arguments"]["flushed"] == 1, answer
    answer = fresh.command("remote-options-cache-flush")
    assert answer["result"] == 0 and answer["arguments"]["flushed"] >= 1, answer


def test_backend_cache_flush_reaches_this_release(fresh: HookLab) -> None:
    """The backend's own flush (``backend.kea.KeaNotifier``, as MALINA_KEA_CONTROL_URL points it) works on every
    release: through kea-ctrl-agent on Kea 2.x, through kea-dhcp4's HTTP control socket on 3.0."""
    c = new_client(fresh)
    fresh.exchange([c])
    subs82 = bytes.fromhex(c["options"]["82"])
    circuit = subs82[2:2 + subs82[1]]
    notifier = KeaNotifier(f"http://{fresh.kea_address}:{fresh.lab.services.kea.control_port}/", timeout_s=10.0)
    assert notifier.flush({"sub82_1": circuit.hex(), "sub82_2": b"tor-a-01".hex()}) == "ok"
    [result] = fresh.exchange([c])
    assert_install(fresh, result)
    assert fresh.backend_requests()["count"] == 2, "the flushed entry is asked for again"


@pytest.mark.parametrize("args", [{"circuit": "01"}, {"sub82_1": "xyz"}, {"sub82_1": 5}])
def test_flush_command_rejects_bad_arguments(fresh: HookLab, args: dict[str, Any]) -> None:
    answer = fresh.command("remote-options-cache-flush", args)
    assert answer["result"] == 1, answer
    assert answer["text"], answer


def test_hung_backend_does_not_delay_other_clients(fresh: HookLab) -> None:
    fresh.set_mode("hang")
    matching = [new_client(fresh, request=False) for _ in range(2)]
    others = [new_client(fresh, guid=None, request=False) for _ in range(4)]
    results = fresh.exchange(matching + others, parallel=True)
    timeout_ms = fresh.params["request-timeout-ms"]
    for r in results[:2]:
        assert r["offer"] is not None and option_text(r["offer"], 66) == "0.0.0.0", r
    for r in results[2:]:
        assert r["offer"] is not None, r
        # The other clients never wait for the hung backend (their packets go to free threads). Issue 3
        # asks p99 < 10 ms under load (the benchmark's isolation case); here 100 ms leaves room for a
        # loaded 2-core machine and scapy's own latency, and is still a tenth of the 1000 ms timeout.
        assert r["offer_ms"] < 100, f"non-matching OFFER took {r['offer_ms']:.0f} ms (timeout {timeout_ms})"


def test_overloaded_client_is_dropped_not_sent_to_boot_local(fresh: HookLab) -> None:
    """More matching clients at once than max-concurrent-requests (2 here), the backend slow: the two with a
    slot get the failure policy at the timeout; the third gets no reply at all (it retransmits later), never
    a boot-local answer that would send a board to its old card."""
    fresh.set_mode("hang")
    before = fresh.hook_stats()
    clients = [new_client(fresh, request=False) for _ in range(3)]
    results = fresh.exchange(clients, parallel=True)
    answered = [r for r in results if r["offer"] is not None]
    assert len(answered) == 2, results
    assert all(option_text(r["offer"], 66) == "0.0.0.0" and option_text(r["offer"], 224) is None
               for r in answered), results
    after = fresh.hook_stats()
    assert after["overloaded"] - before["overloaded"] == 1, (before, after)
    assert "REMOTE_OPTIONS_OVERLOADED" in fresh.kea_logs()
    # the dropped client's retransmission, once the backend answers again, gets its install options
    fresh.set_mode("install")
    dropped = next(c for c, r in zip(clients, results, strict=True) if r["offer"] is None)
    [again] = fresh.exchange([{**dropped, "request": True}])
    assert_install(fresh, again)


def test_backend_stopped(fresh: HookLab) -> None:
    backend = fresh.run.container("backend")
    backend.stop(timeout=1)
    try:
        results = fresh.exchange([new_client(fresh), new_client(fresh, guid=None)])
        assert_boot_local(results[0])
        assert results[1]["offer"] is not None and option_text(results[1]["offer"], 66) is None
        assert "REMOTE_OPTIONS_BACKEND_CONNECT_ERROR" in fresh.kea_logs() or \
            "REMOTE_OPTIONS_BACKEND_TIMEOUT" in fresh.kea_logs()
    finally:
        backend.start()
        fresh.run.wait_tcp(str(fresh.lab.services.backend.address), fresh.lab.services.backend.port)
    [ok] = fresh.exchange([new_client(fresh)])
    assert_install(fresh, ok)


def test_name_resolution_bounded_by_timeout(hook_lab: HookLab) -> None:
    """The url names a host and the DNS server never answers (glibc would wait 2 x 5 s): the OFFER still
    comes with the failure policy within about the connect timeout (libcurl abandons the resolver thread,
    CURLOPT_QUICK_EXIT), and the ACK from the negative cache."""
    base = dict(hook_lab.params)
    port = hook_lab.lab.services.backend.port
    url = f"http://options-backend.malina.test:{port}/v1/dhcp/options"
    hook_lab.set_mode("install")
    hook_lab.reconfigure({**base, "url": url})
    try:
        hook_lab.reset_backend()
        with hook_lab.silent_dns():
            before = hook_lab.kea_logs().count("REMOTE_OPTIONS_BACKEND_TIMEOUT")
            [result] = hook_lab.exchange([new_client(hook_lab)], timeout=12.0)
            seen = hook_lab.backend_requests()
        assert seen["dns_queries"] >= 1, f"the resolver never asked the sink: {seen}"
        assert seen["count"] == 0
        assert_boot_local(result)
        timeout_ms = base["request-timeout-ms"]
        assert result["offer_ms"] < timeout_ms + 500, \
            f"OFFER after {result['offer_ms']:.0f} ms: name resolution not bounded (timeout {timeout_ms} ms)"
        assert result["ack_ms"] < 500, f"ACK after {result['ack_ms']:.0f} ms (negative cache)"
        assert hook_lab.kea_logs().count("REMOTE_OPTIONS_BACKEND_TIMEOUT") > before
    finally:
        hook_lab.reconfigure(base)   # unloads the hook while the abandoned resolver thread still waits
    started = time.monotonic()
    [ok] = hook_lab.exchange([new_client(hook_lab)])
    assert_install(hook_lab, ok)
    # The abandoned getaddrinfo returns (10 s after it started) into libcurl, which the hook keeps
    # loaded: Kea is still serving afterwards.
    time.sleep(max(0.0, 11.0 - (time.monotonic() - started)))
    [later] = hook_lab.exchange([new_client(hook_lab)])
    assert_install(hook_lab, later)


def test_single_threaded_kea_warns_once_per_configuration(hook_lab: HookLab) -> None:
    """Multi-threading off: one REMOTE_OPTIONS_SINGLE_THREADED per configuration; the hook still calls
    the backend. Multi-threaded again: no new warning."""
    name = "REMOTE_OPTIONS_SINGLE_THREADED"
    before = hook_lab.kea_logs().count(name)
    config = hook_lab.dhcp4_config()
    config["Dhcp4"]["multi-threading"] = {"enable-multi-threading": False}
    try:
        answer = hook_lab.command("config-set", config)
        assert answer["result"] == 0, answer
        hook_lab.wait_log_count(name, before + 1)
        hook_lab.set_mode("install")
        hook_lab.reset_backend()
        [result] = hook_lab.exchange([new_client(hook_lab)])
        assert_install(hook_lab, result)
        assert hook_lab.backend_requests()["count"] == 1
        assert hook_lab.kea_logs().count(name) == before + 1, "once per configuration, not per packet"
        config["Dhcp4"]["multi-threading"] = {"enable-multi-threading": True, "thread-pool-size": 1}
        answer = hook_lab.command("config-set", config)
        assert answer["result"] == 0, answer
        hook_lab.wait_log_count(name, before + 2)
    finally:
        hook_lab.reconfigure(dict(hook_lab.params))   # multi-threaded again (4 threads)
    [ok] = hook_lab.exchange([new_client(hook_lab)])
    assert_install(hook_lab, ok)
    assert hook_lab.kea_logs().count(name) == before + 2, "no warning with a multi-threaded pool"


def test_breaker_opens_then_no_calls(hook_lab: HookLab) -> None:
    base = dict(hook_lab.params)
    hook_lab.reconfigure({**base, "breaker-threshold": 2, "breaker-open-ms": 60000,
                          "request-timeout-ms": 300, "connect-timeout-ms": 100})
    try:
        hook_lab.set_mode("hang")
        hook_lab.reset_backend()
        hook_lab.exchange([new_client(hook_lab, request=False), new_client(hook_lab, request=False)])
        assert hook_lab.backend_requests()["count"] == 2
        assert "REMOTE_OPTIONS_CIRCUIT_OPEN" in hook_lab.kea_logs()
        [result] = hook_lab.exchange([new_client(hook_lab)])
        assert_boot_local(result)
        assert result["offer_ms"] < 300, "an open breaker answers at once"
        assert hook_lab.backend_requests()["count"] == 2, "no call while the breaker is open"
    finally:
        hook_lab.set_mode("install")
        hook_lab.reconfigure(base)   # a fresh hook instance: breaker closed, cache empty
    [ok] = hook_lab.exchange([new_client(hook_lab)])
    assert_install(hook_lab, ok)


def test_pass_through_policy(hook_lab: HookLab) -> None:
    base = dict(hook_lab.params)
    hook_lab.reconfigure({**base, "failure-policy": "pass-through"})
    try:
        hook_lab.set_mode("garbage")
        [result] = hook_lab.exchange([new_client(hook_lab)])
        assert result["offer"] is not None
        assert option_text(result["offer"], 66) is None and option_text(result["offer"], 224) is None
    finally:
        hook_lab.set_mode("install")
        hook_lab.reconfigure(base)


BAD_PARAMS = {
    "missing-url": ({"url": None}, "missing required parameter 'url'"),
    "ftp-url": ({"url": "ftp://10.89.0.3/x"}, "must start with http:// or https://"),
    "not-a-url": ({"url": "10.89.0.3:8080/v1"}, "must start with http:// or https://"),
    "bad-policy": ({"failure-policy": "drop"}, "failure-policy"),
    "unknown": ({"usr-class": "x"}, "unknown parameter 'usr-class'"),
    "bad-allowed": ({"allowed-options": [53]}, "owned by the server"),
    "both-spellings": ({"user_class": "x"}, "given twice"),
    "bad-timeout": ({"request-timeout-ms": "fast"}, "'request-timeout-ms' must be an integer"),
}


@pytest.mark.parametrize("case", sorted(BAD_PARAMS))
def test_bad_parameters_refused(hook_lab: HookLab, case: str) -> None:
    """kea-dhcp4 (each release) refuses to start with a clear message. (Kea 2.2 cannot roll back a live reload
    whose hook fails to load - DHCP4_CONFIG_UNRECOVERABLE_ERROR - so parameters are checked with a fresh server.)"""
    change, message = BAD_PARAMS[case]
    config = hook_lab.dhcp4_config()
    params = config["Dhcp4"]["hooks-libraries"][0]["parameters"]
    for k, v in change.items():
        if v is None:
            params.pop(k, None)
        else:
            params[k] = v
    config["Dhcp4"].pop("control-socket", None)    # Kea 2.x: the UNIX socket
    config["Dhcp4"].pop("control-sockets", None)   # Kea 3.0: the HTTP socket (its port is the running server's)
    config["Dhcp4"]["interfaces-config"]["interfaces"] = []
    path = f"/tmp/bad-{case}.json"
    put_files(hook_lab.run.container("kea"), {path: json.dumps(config).encode()})
    # A second server in the Kea container: its own pid file, no sockets, no control socket.
    script = (f"mkdir -p /tmp/kea-{case} && KEA_PIDFILE_DIR=/tmp/kea-{case} KEA_LOCKFILE_DIR=none "
              f"timeout 20 kea-dhcp4 -c {path}")
    rc, out = hook_lab.run.exec("kea", ["sh", "-c", script])
    assert rc == 1, out
    assert "REMOTE_OPTIONS_LOAD_FAILED" in out and message in out, out
    # The running server is untouched.
    [ok] = hook_lab.exchange([new_client(hook_lab)])
    assert_install(hook_lab, ok)


def test_pi_guid_helper() -> None:
    assert pi_guid("RPi4")[1:5] == b"RPi4" and len(pi_guid()) == 17
