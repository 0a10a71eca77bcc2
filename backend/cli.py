"""``malina backend``: serve the API, migrate the database, manage machines.

    malina backend serve [--host H] [--port P] [--db URL]
    malina backend db upgrade [--db URL]
    malina backend machine add NAME --circuit-id ID [--remote-id ID] ... | --json FILE   [--replace]
    malina backend machine import FILE [--image-url U --image-sha256 H --image-size N] [--ssh-key KEY]
    malina backend machine list [--json]
    malina backend machine reinstall|set-local NAME
    malina backend machine boot-local-method NAME opt66-zero|tftp-deny|opt66-zero+tftp-deny|default
    malina backend machine history NAME [--limit N] [--json]
    malina backend tftp-gate-sync --root DIR --url URL --token TOKEN [--interval S] [--once]

Machine commands talk to a running backend when ``--url`` (or MALINA_BACKEND_URL) is given, with ``--token``
(or MALINA_ADMIN_TOKEN); otherwise they work on the database of ``--db`` (or MALINA_DB_URL) directly.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from backend import labimport, migrate
from backend.client import Admin, AdminError, DbAdmin, HttpAdmin
from backend.config import ConfigError, Settings, from_env
from backend.db import Database
from backend.decision import METHODS
from backend.identity import IdentityError, opaque_to_hex
from backend.schemas import MachineIn
from backend.service import Service


class UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="malina backend", description="the provisioning service")
    commands = parser.add_subparsers(dest="cmd", required=True)
    _serve_parser(commands.add_parser("serve", help="run the HTTP API (migrates the database first)"))
    db_commands = commands.add_parser("db", help="database schema").add_subparsers(dest="db_cmd", required=True)
    for name, help_ in (("upgrade", "migrate to the newest schema"), ("current", "print its revision")):
        command = db_commands.add_parser(name, help=help_)
        command.add_argument("--db", help="database URL (default: MALINA_DB_URL)")
    machine_commands = commands.add_parser("machine", help="manage machines").add_subparsers(
        dest="machine_cmd", required=True)
    _add_parser(_common(machine_commands.add_parser("add", help="add a machine (or redefine it with --replace)")))
    imports = _common(machine_commands.add_parser(
        "import", help="add or redefine machines from a YAML/JSON file or lab.yaml"))
    imports.add_argument("file")
    _install_options(imports)
    _common(machine_commands.add_parser("list", help="machines with their state and last progress"))
    for name in ("reinstall", "set-local"):
        command = _common(machine_commands.add_parser(
            name, help=f"{name} a machine (flushes Kea's cache for its port)"))
        command.add_argument("name")
    method = _common(machine_commands.add_parser(
        "boot-local-method", help="a machine's own boot-local method ('default': the lab's MALINA_BOOT_LOCAL_METHOD)"))
    method.add_argument("name")
    method.add_argument("method", choices=[*METHODS, "default"])
    history = _common(machine_commands.add_parser("history", help="the event history of one machine"))
    history.add_argument("name")
    history.add_argument("--limit", type=int, default=200)
    gate = commands.add_parser("tftp-gate-sync", help="the TFTP gate for tftpd-hpa: move per-serial trees aside "
                                                      "while their gate is closed (backend/tftpsync.py)")
    gate.add_argument("--root", required=True, type=Path, help="the TFTP server's root")
    gate.add_argument("--url", default=os.environ.get("MALINA_BACKEND_URL"), help="the backend (MALINA_BACKEND_URL)")
    gate.add_argument("--token", default=os.environ.get("MALINA_TFTP_GATE_TOKEN"),
                      help="the gate token or the admin read token (default: MALINA_TFTP_GATE_TOKEN)")
    gate.add_argument("--ca-file", default=os.environ.get("MALINA_BACKEND_CA_FILE"),
                      help="an https --url's certificate must chain to this CA (default: MALINA_BACKEND_CA_FILE)")
    gate.add_argument("--interval", type=float, default=1.0, help="seconds between two passes (default 1)")
    gate.add_argument("--once", action="store_true", help="one pass, then exit")
    return parser


def _serve_parser(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--db", help="database URL (default: MALINA_DB_URL or sqlite:////var/lib/malina/malina.db)")
    serve.add_argument("--tftp-server", help="option 66 for installs (default: MALINA_TFTP_SERVER)")
    serve.add_argument("--public-url", help="base of the URLs handed out (default: MALINA_PUBLIC_URL)")
    serve.add_argument("--no-migrate", action="store_true", help="do not upgrade the schema on start")
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.add_argument("--tls-cert", help="serve https with this certificate (PEM, with --tls-key)")
    serve.add_argument("--tls-key", help="the certificate's private key (PEM)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def _common(command: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of every machine command: where the machines are, and the output format."""
    command.add_argument("--url", default=os.environ.get("MALINA_BACKEND_URL"),
                         help="a running backend (default: MALINA_BACKEND_URL); else the database directly")
    command.add_argument("--token", default=os.environ.get("MALINA_ADMIN_TOKEN"),
                         help="admin bearer token for --url (default: MALINA_ADMIN_TOKEN)")
    command.add_argument("--ca-file", default=os.environ.get("MALINA_BACKEND_CA_FILE"),
                         help="an https --url's certificate must chain to this CA (default: MALINA_BACKEND_CA_FILE, "
                              "else the system's CAs)")
    command.add_argument("--db", help="database URL when no --url (default: MALINA_DB_URL)")
    command.add_argument("--json", action="store_true", help="print JSON")
    return command


def _install_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--image-url")
    command.add_argument("--image-sha256", help="SHA-256 of the decompressed image")
    command.add_argument("--image-size", type=int, help="size of the decompressed image in bytes")
    command.add_argument("--compression", choices=["xz", "none"])
    command.add_argument("--bmap-url")
    command.add_argument("--ssh-key", action="append", default=[],
                         help="an authorized key line, or @FILE with one key per line (repeatable)")


def _add_parser(add: argparse.ArgumentParser) -> None:
    add.add_argument("name", nargs="?")
    add.add_argument("--from-json", dest="from_json", metavar="FILE", help="the machine as admin-API JSON")
    add.add_argument("--circuit-id", help="option 82.1: text, or hex:..")
    add.add_argument("--remote-id", help="option 82.2: text, or hex:..")
    add.add_argument("--vendor-specific", help="option 82.9: text, or hex:..")
    add.add_argument("--mac")
    add.add_argument("--serial")
    add.add_argument("--mode", choices=["install", "local"], default="install")
    add.add_argument("--hostname")
    add.add_argument("--address", help="address/prefix of the installed OS, e.g. 10.90.1.50/24")
    add.add_argument("--subnet", help="the switch port's subnet: install tokens work only from it "
                                      "(default: the network of --address)")
    add.add_argument("--gateway")
    add.add_argument("--dns", action="append", default=[])
    add.add_argument("--interface", default="eth0")
    _install_options(add)
    add.add_argument("--replace", action="store_true", help="redefine the machine if it exists")


def _settings(db: str | None) -> Settings:
    settings = from_env()
    return settings.with_(db_url=db) if db else settings


def _ssh_keys(values: list[str]) -> list[str]:
    keys: list[str] = []
    for value in values:
        if value.startswith("@"):
            try:
                text = Path(value[1:]).read_text(encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"cannot read SSH keys from {value[1:]}: {exc.strerror}") from None
            keys += [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
        else:
            keys.append(value.strip())
    return keys


def _install_defaults(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pairs = (("url", args.image_url), ("sha256", args.image_sha256), ("size", args.image_size),
             ("compression", args.compression), ("bmap_url", args.bmap_url))
    image = {key: value for key, value in pairs if value is not None}
    if image:
        out["image"] = image
    keys = _ssh_keys(args.ssh_key)
    if keys:
        out["ssh_authorized_keys"] = keys
    return out


def _admin(args: argparse.Namespace) -> Admin:
    if args.url:
        if not args.token:
            raise UsageError("--url needs --token (or MALINA_ADMIN_TOKEN)")
        return HttpAdmin(args.url, args.token, ca_file=args.ca_file)
    settings = _settings(args.db)
    db = Database(settings.db_url)
    migrate.upgrade(db.engine)
    return DbAdmin(Service(db, settings))


def _spec_from_args(args: argparse.Namespace) -> MachineIn:
    if args.from_json:
        try:
            data = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read {args.from_json}: {exc}") from None
        return MachineIn.model_validate(data)
    if not args.name:
        raise UsageError("give the machine's NAME (or --from-json FILE)")
    try:
        ids = {field: opaque_to_hex(value, opt) for field, value, opt in (
            ("sub82_1", args.circuit_id, "--circuit-id"), ("sub82_2", args.remote_id, "--remote-id"),
            ("sub82_9", args.vendor_specific, "--vendor-specific")) if value}
    except IdentityError as exc:
        raise UsageError(str(exc)) from None
    install: dict[str, Any] | None = None
    if args.hostname or args.address or args.image_url:
        install = {"hostname": args.hostname or args.name,
                   "network": {"interface": args.interface, "address": args.address, "dns": args.dns},
                   **_install_defaults(args)}
        if args.gateway:
            install["network"]["gateway"] = args.gateway
    return MachineIn.model_validate({"name": args.name, **ids, "mac": args.mac, "serial": args.serial,
                                     "boot_mode": args.mode, "install": install, "subnet": args.subnet})


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _progress(attempt: dict[str, Any] | None) -> str:
    if not attempt:
        return "-"
    out = f"#{attempt['number']} {attempt['state']}"
    if attempt.get("bytes_total"):
        out += f" {100.0 * (attempt.get('bytes_written') or 0) / attempt['bytes_total']:.0f}%"
    if attempt.get("rate_bps"):
        out += f" {attempt['rate_bps'] / 1e6:.1f}MB/s"
    return out


def _print_list(machines: list[dict[str, Any]]) -> None:
    rows = [("NAME", "MODE", "FLAG", "BOOT-LOCAL", "ATTEMPTS", "LAST ATTEMPT", "NOTE")]
    for machine in machines:
        last = machine.get("last_attempt")
        note = machine.get("flag_reason") or (last or {}).get("error") or ""
        method = machine.get("boot_local_method_effective", "-")
        if machine.get("boot_local_method") is None:  # the lab's setting, not the machine's own
            method = f"({method})"
        rows.append((machine["name"], machine["boot_mode"], "FLAGGED" if machine["flagged"] else "-", method,
                     str(machine["attempts"]), _progress(last), note))
    widths = [max(len(row[column]) for row in rows) for column in range(6)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row[:6], widths, strict=True)) + "  " + row[6])


def _machine_cmd(args: argparse.Namespace) -> int:
    admin = _admin(args)
    try:
        cmd = args.machine_cmd
        out: Any
        if cmd == "add":
            out = admin.add(_spec_from_args(args), replace=args.replace)
        elif cmd == "import":
            try:
                specs = labimport.load(args.file, _install_defaults(args))
            except labimport.ImportError_ as exc:
                raise UsageError(str(exc)) from None
            out = admin.import_(specs)
        elif cmd == "list":
            out = admin.machines()
            if not args.json:
                _print_list(out)
                return 0
        elif cmd == "reinstall":
            out = admin.reinstall(args.name)
        elif cmd == "set-local":
            out = admin.set_local(args.name)
        elif cmd == "boot-local-method":
            out = admin.set_boot_local_method(args.name, None if args.method == "default" else args.method)
        else:
            out = admin.history(args.name, args.limit)
            if not args.json:
                for event in out["events"]:
                    attempt = f"#{event['attempt']}" if event["attempt"] is not None else "-"
                    print(f"{_when(event['at'])}  {event['kind']:<10} {attempt:<4} {event['message']}")
                return 0
        if args.json or cmd in ("add", "import"):
            print(json.dumps(out, indent=2))
        else:
            machine = out["machine"]
            own = "" if machine["boot_local_method"] else " (the lab default)"
            print(f"{machine['name']}: boot mode {machine['boot_mode']}, boot-local method "
                  f"{machine['boot_local_method_effective']}{own}; kea cache flush: {out['kea_flush']}")
        return 0
    finally:
        admin.close()


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from backend.app import create_app
    from backend.config import PUBLIC_URL_MISSING

    settings = _settings(args.db)
    if args.tftp_server:
        settings = settings.with_(tftp_server=args.tftp_server)
    if args.public_url:
        settings = settings.with_(public_url=args.public_url.rstrip("/"))
    if not settings.tftp_server:
        raise UsageError("the TFTP server for option 66 is not set: MALINA_TFTP_SERVER or --tftp-server")
    if not settings.public_url:
        raise UsageError(PUBLIC_URL_MISSING)
    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    db = Database(settings.db_url)
    if not args.no_migrate:
        rev = migrate.upgrade(db.engine)
        logging.getLogger("backend").info("database %s at schema revision %s", db.backend, rev)
    if not (settings.read_token and settings.write_token):
        logging.getLogger("backend").warning("MALINA_ADMIN_READ_TOKEN/WRITE_TOKEN not both set: "
                                             "the admin API is limited")
    if not settings.hook_secret_file:
        logging.getLogger("backend").warning("MALINA_HOOK_SECRET_FILE unset: /v1/dhcp/options refuses every call")
    service = Service(db, settings)
    app = create_app(settings, service)
    gc.collect()
    gc.freeze()  # the app's long-lived objects: keep them out of every later full collection
    # The event loop serves the hot path while pool threads write; a short GIL switch interval bounds how
    # long a writing thread can keep the loop waiting (the default is 5 ms).
    sys.setswitchinterval(0.0005)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log,
                ssl_certfile=args.tls_cert, ssl_keyfile=args.tls_key)
    service.close()
    return 0


def _gate_sync(args: argparse.Namespace) -> int:
    import ssl
    import time

    import httpx

    from backend import tftpsync

    if not args.url or not args.token:
        raise UsageError("tftp-gate-sync needs --url and --token (or MALINA_BACKEND_URL, MALINA_TFTP_GATE_TOKEN)")
    if not args.root.is_dir():
        raise UsageError(f"--root {args.root} is not a directory")
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=args.ca_file) if args.ca_file else True
    http = httpx.Client(base_url=args.url.rstrip("/"), timeout=2.0, verify=verify,
                        headers={"Authorization": f"Bearer {args.token}"})

    def ask(serial: str) -> bool:
        try:
            response = http.get("/v1/tftp/gate", params={"serial": serial})
        except httpx.HTTPError as exc:
            raise OSError(str(exc)) from None
        return response.status_code == 200 and response.json().get("open") is True

    try:
        while True:
            for change in tftpsync.sync_once(args.root, ask):
                print(f"tftp-gate-sync: {change.serial}: {change.action}", flush=True)
            if args.once:
                return 0
            time.sleep(args.interval)
    finally:
        http.close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.cmd == "serve":
            return _serve(args)
        if args.cmd == "tftp-gate-sync":
            return _gate_sync(args)
        if args.cmd == "db":
            db = Database(_settings(args.db).db_url)
            try:
                if args.db_cmd == "upgrade":
                    print(f"database at schema revision {migrate.upgrade(db.engine)}")
                else:
                    print(migrate.current(db.engine) or "(empty)")
            finally:
                db.dispose()
            return 0
        return _machine_cmd(args)
    except (UsageError, ConfigError, AdminError) as exc:
        print(f"malina backend: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError | ConfigError) else 1
    except ValidationError as exc:
        msgs = [f"{'.'.join(str(part) for part in error['loc']) or 'machine'}: "
                f"{error['msg'].removeprefix('Value error, ')}" for error in exc.errors()]
        print("malina backend: invalid machine:\n  " + "\n  ".join(msgs), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
