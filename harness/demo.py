"""`malina demo`: the main job on the simulated lab, as far as the lab runs today.

It brings up Kea with the remote-options hook, the backend and the file server on internal docker networks,
builds a test Ubuntu card image, imports the boards of lab.yaml into the backend (boot mode *install*), then
for each board runs the bootloader's relayed DHCP exchange (option 97 as a Pi 4 sends it, option 82 as the
switch adds it) through the real hook and backend, turns the board to *local* through the admin API (which
flushes the hook's cache) and runs the exchange again. It prints a per-board table of stages, timings and the
options each board was given, and exits non-zero when any board did not get what the backend decided.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.lab.docker_lab import LabError, LabRun
from harness.lab.model import Board, Lab, LabConfigError, load_lab
from harness.lab.services import ContainerSpec
from harness.sim.osimage import build_image


@dataclass
class BoardResult:
    name: str
    port: str
    stages: dict[str, float] = field(default_factory=dict)
    lease: str = "-"
    install_66: str = "-"
    install_224: str = "-"
    local_66: str = "-"
    local_224: str = "-"
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


@contextmanager
def _timed(stages: dict[str, float], name: str) -> Iterator[None]:
    start = time.monotonic()
    try:
        yield
    finally:
        stages[name] = time.monotonic() - start


def _wait_backend(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v1/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise LabError(f"the backend at {url} did not become healthy within {timeout:.0f} s")


def _dora(run: LabRun, board: Board) -> dict[str, Any]:
    lab = run.lab
    port = lab.port_of(board)
    subs = lab.switch.option82(port)
    cmd = [
        "python", "-m", "harness.lab.dhcpprobe", "--server", str(lab.services.kea.address),
        "--giaddr", str(port.gateway), "--mac", board.mac, "--circuit-id", subs[1].decode(),
        "--remote-id", subs[2].decode(), "--pi-serial", board.serial, "--pi-revision", board.revision,
        "--timeout", "6",
    ]
    if 9 in subs:
        cmd += ["--vendor-specific", subs[9].hex()]
    rc, out = run.exec("probe", cmd)
    lines = out.strip().splitlines()
    result: dict[str, Any] = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    if rc != 0 or not result.get("ok"):
        raise LabError(f"{board.name}: DHCP exchange failed: {result.get('error') or out[-400:]}")
    return result


def _options(result: dict[str, Any]) -> tuple[str, str, str]:
    ack = next(p for p in result["received"] if p["options"].get("message-type") == 5)
    opts = ack["options"]
    opt66 = str(opts.get("tftp_server_name", opts.get("66", "-")))
    opt224 = str(opts.get("224", "-"))
    return str(ack["yiaddr"]), opt66, opt224


def _run_board(run: LabRun, board: Board, admin: httpx.Client) -> BoardResult:
    res = BoardResult(board.name, board.port)
    try:
        with _timed(res.stages, "dhcp-install"):
            res.lease, res.install_66, res.install_224 = _options(_dora(run, board))
        if res.install_66 != str(run.lab.services.tftp.address) or "/v1/install/" not in res.install_224:
            res.error = f"install options wrong: 66={res.install_66} 224={res.install_224}"
            return res
        with _timed(res.stages, "set-local"):
            r = admin.post(f"/v1/admin/machines/{board.name}/set-local")
            r.raise_for_status()
        with _timed(res.stages, "dhcp-local"):
            _, res.local_66, res.local_224 = _options(_dora(run, board))
        if res.local_66 != "0.0.0.0" or res.local_224 != "-":
            res.error = f"boot-local options wrong: 66={res.local_66} 224={res.local_224}"
    except (LabError, httpx.HTTPError, StopIteration, KeyError) as exc:
        res.error = str(exc) or type(exc).__name__
    return res


def _table(results: list[BoardResult], lab_up: float) -> str:
    head = ["board", "port", "lease", "install: 66", "install: 224", "local: 66", "dhcp s", "flip s", "result"]
    rows = []
    for r in results:
        token = r.install_224.rsplit("/", 1)[-1]
        url224 = r.install_224 if len(token) < 12 else r.install_224.replace(token, token[:8] + "…")
        dhcp = r.stages.get("dhcp-install", 0.0) + r.stages.get("dhcp-local", 0.0)
        verdict = "ok" if r.ok else "FAIL: " + " ".join(r.error.split())[:120]
        rows.append([r.name, r.port, r.lease, r.install_66, url224, r.local_66, f"{dhcp:.2f}",
                     f"{r.stages.get('set-local', 0.0):.2f}", verdict])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=False)]
    line = "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))
    out = [f"lab up in {lab_up:.1f} s", line, "-" * len(line)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="malina demo", description=__doc__)
    ap.add_argument("--lab", default="lab.yaml")
    ap.add_argument("--boards", type=int, default=2, help="how many boards of the lab (default 2)")
    args = ap.parse_args(argv)
    try:
        lab: Lab = load_lab(args.lab)
    except LabConfigError as exc:
        print(f"malina demo: {exc}", file=sys.stderr)
        return 2
    boards = lab.boards[: args.boards]
    t0 = time.monotonic()
    try:
        with LabRun(lab, services=("kea", "backend", "files")) as run:
            lab = run.lab
            probe = ContainerSpec(role="probe", image="runtime", command=["sleep", "3600"],
                                  networks={"server": str(lab.services.relay.address)},
                                  cap_add=["NET_ADMIN", "NET_RAW"])
            run.start_spec(probe)
            for port in lab.switch.ports:  # the probe plays the relay: it owns every port's giaddr
                run.exec("probe", ["ip", "addr", "add", f"{port.gateway}/32", "dev", "eth0"])
            print("demo: building the test Ubuntu card image", file=sys.stderr)
            image = build_image(run.workdir / "files", compress=True)
            _wait_backend(lab.services.backend.url)
            lab_up = time.monotonic() - t0
            from backend.labimport import machines_from_doc

            defaults = {"image": {"url": f"{lab.services.files.url}/{image.path.name}", "sha256": image.sha256,
                                  "size": image.size, "compression": "xz"}}
            doc = lab.model_dump(mode="json", exclude_none=True)
            doc["boards"] = [b.model_dump(mode="json", exclude_none=True) for b in boards]
            machines = [m.model_dump(mode="json") for m in machines_from_doc(doc, defaults)]
            b = lab.services.backend
            with httpx.Client(base_url=b.url, timeout=10.0,
                              headers={"Authorization": f"Bearer {b.write_token}"}) as admin:
                admin.post("/v1/admin/import", json={"machines": machines}).raise_for_status()
                with ThreadPoolExecutor(max_workers=len(boards)) as pool:
                    results = list(pool.map(lambda bd: _run_board(run, bd, admin), boards))
            if any(not r.ok for r in results):
                for role in ("kea", "backend"):
                    tail = "\n".join(run.logs(role).splitlines()[-15:])
                    print(f"--- {role} log (last lines) ---\n{tail}", file=sys.stderr)
    except (LabError, httpx.HTTPError) as exc:
        print(f"malina demo: {exc}", file=sys.stderr)
        return 1
    print(_table(results, lab_up))
    failed = [r.name for r in results if not r.ok]
    print(f"demo: {len(results) - len(failed)} of {len(results)} boards ok"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
