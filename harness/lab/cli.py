"""`malina lab up | down | status | images`."""

from __future__ import annotations

import argparse
import json
import sys

from harness.lab import images as lab_images
from harness.lab import links
from harness.lab.docker_lab import INFRA, LabError, LabRun, docker_client, list_runs, reap_stale, remove_all
from harness.lab.docker_lab import _remove_run as remove_run
from harness.lab.keaversions import KEA_VERSIONS, image_name
from harness.lab.model import LabConfigError, load_lab


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="malina lab", description="the docker lab")
    ap.add_argument("--lab", default="lab.yaml", help="lab file (default: lab.yaml)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="bring the lab up and leave it running (take it down with `malina lab down`)")
    up.add_argument("--services", default=",".join(INFRA), help=f"comma list of {INFRA}")
    up.add_argument("--boards", default="", help="comma list of board names (default: none)")
    up.add_argument("--no-hook", action="store_true", help="run Kea without the hook")
    down = sub.add_parser("down", help="remove a run (or all runs, or dead runs' leftovers)")
    down.add_argument("run_id", nargs="?")
    down.add_argument("--all", action="store_true")
    down.add_argument("--stale", action="store_true", help="only runs whose process is gone")
    sub.add_parser("status", help="list runs and their containers")
    img = sub.add_parser("images", help="build the lab images (only what changed)")
    # every Kea release's hook image: make test runs the hook's lab tests on each
    img.add_argument("names", nargs="*", default=["kea", *(image_name(v, hook=True) for v in KEA_VERSIONS),
                                                  "backend", "runtime", "board"])
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        client = docker_client()
        if args.cmd == "images":
            names = [n for n in args.names if n in lab_images.SPECS and lab_images.SPECS[n].dockerfile_exists()]
            tags = lab_images.ensure_images(client, names)
            for name, tag in tags.items():
                print(f"{name:<12} {tag}")
            return 0
        if args.cmd == "status":
            runs = list_runs(client)
            if not runs:
                print("no malina runs")
            for rid, labels in runs.items():
                names = [c.name for c in client.containers.list(all=True, filters={"label": f"malina.run={rid}"})]
                print(json.dumps({"run": rid, "lab": labels.get("malina.lab"), "pid": labels.get("malina.pid"),
                                  "containers": sorted(names)}))
            return 0
        if args.cmd == "down":
            if args.stale:
                reap_stale(client)
                links.reap_stale()  # host links (macvlans, veths, dummies) of dead runs
            elif args.all:
                for rid in remove_all(client):
                    print(f"removed run {rid}")
                for name in links.run_links():  # every malina host link, whoever's run it was
                    links.remove(name)
            elif args.run_id:
                print(f"removed {remove_run(client, args.run_id)} objects of run {args.run_id}")
            else:
                print("malina lab down: give a RUN_ID, --all or --stale", file=sys.stderr)
                return 2
            return 0
        lab = load_lab(args.lab)
        services = [s for s in args.services.split(",") if s]
        boards = [b for b in args.boards.split(",") if b]
        run = LabRun(lab, services=services, boards=boards, detached=True,
                     with_hook=False if args.no_hook else None)
        try:
            run.up()
        except BaseException:
            run.down()
            raise
        up: dict[str, object] = {"run": run.run_id, "containers": sorted(c.name for c in run.containers.values()),
                                 "server_bridge": run.bridge("server")}
        if run.ca_file is not None:  # an https lab: the CA its clients verify against (--ca-file)
            up["ca_file"] = str(run.ca_file)
        print(json.dumps(up))
        return 0
    except (LabError, LabConfigError) as exc:
        print(f"malina lab: {exc}", file=sys.stderr)
        return 1
