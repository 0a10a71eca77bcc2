"""Managed services of a rack (lab.yaml ``services.managed``), started once per run and shared by its sessions.

A ``RackSession`` on a managed lab either starts the services itself (one process: ``start``) or, when the run
already has them, attaches to them (``attach``): ``python -m harness.rackservices --lab FILE -- pytest -n N ...``
brings them up once, writes what the sessions need (``managed.json``: the run, the TFTP root and log, the install
image, the Kea container) and names that file in ``MALINA_MANAGED_SERVICES`` for every pytest-xdist worker;
at the end of COMMAND everything is taken down (containers, the macvlan network, the host's macvlan).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.lab.docker_lab import LabError, Printer, _say
from harness.lab.managed import ManagedRun
from harness.lab.model import Lab, LabConfigError, load_lab

ENV = "MALINA_MANAGED_SERVICES"


@dataclass
class Managed:
    """What a session needs of a run's managed services."""

    lab: str
    run_id: str
    kea_container: str
    tftp_root: str
    tftp_log: str
    image: dict[str, Any]
    image_raw: str | None


def start(lab: Lab, workdir: Path, say: Printer = _say) -> tuple[ManagedRun, Managed]:
    """Bring the services up, stage the TFTP trees (``services.tftp.root`` as it is, else the stand-in tree)
    and put the install image on the file server (``services.files.image`` names one already there; without
    it the sim's test image is built)."""
    from harness.sim.media.osimage import build_image
    from harness.sim.media.tftptree import standin_tree

    t = lab.services.tftp
    base = Path(lab.source).parent
    files = lab.services.files.root
    run = ManagedRun(lab, workdir=workdir, say=say, tftp_root=base / t.root if t.root else None,
                     files_root=base / files if files else None)
    run.__enter__()
    try:
        root = base / t.root if t.root else run.workdir / "tftp"
        if t.root is None:
            tree = standin_tree({"progress_interval": "1"})
            for board in lab.boards:
                _stage(root, board.serial, tree)
        raw: Path | None = None
        given = lab.services.files.image
        if given is not None:
            image = given.spec()
        else:
            say("rack: building the 64 MiB test Ubuntu image for the managed file server")
            img = build_image(run.workdir / "files", size=64 * 1024 * 1024, compress=True)
            image = {"url": f"{lab.services.files.url}/{img.path.name}", "sha256": img.sha256, "size": img.size,
                     "compression": "xz"}
            raw = img.raw
    except BaseException:
        run.down()
        raise
    info = Managed(lab=lab.lab.name, run_id=run.run_id, kea_container=run.container("kea").name or "",
                   tftp_root=str(root), tftp_log=str(run.workdir / "logs" / "tftp" / "tftp.jsonl"), image=image,
                   image_raw=str(raw) if raw else None)
    (run.workdir / "managed.json").write_text(json.dumps(asdict(info), indent=2) + "\n")
    return run, info


def _stage(root: Path, serial: str, tree: dict[str, bytes]) -> None:
    from harness.drivers.tftp import DirTftp

    DirTftp(root, None).stage(serial, tree)


def attached(lab: Lab) -> Managed | None:
    """The run's managed services when a wrapper started them for this lab (``MALINA_MANAGED_SERVICES``)."""
    path = os.environ.get(ENV)
    if not path:
        return None
    info = Managed(**json.loads(Path(path).read_text()))
    if info.lab != lab.lab.name:
        raise LabError(f"{ENV}={path} holds the services of lab {info.lab!r}, not {lab.lab.name!r}")
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.rackservices", description=__doc__)
    ap.add_argument("--lab", required=True)
    ap.add_argument("--workdir", default="build/rack-services")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("give the COMMAND to run with the services up (after --)")
    try:
        lab = load_lab(args.lab)
        run, _ = start(lab, Path(args.workdir) / lab.lab.name)
    except (LabError, LabConfigError) as exc:
        print(f"rack services: {exc}", file=sys.stderr)
        return 1
    try:
        env = {**os.environ, ENV: str(run.workdir / "managed.json")}
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:
        return 130
    finally:
        run.down()


if __name__ == "__main__":
    sys.exit(main())
