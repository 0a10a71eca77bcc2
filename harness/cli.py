"""The `malina` command: one entry point, each subcommand owned by its package.

    malina lab up|down|status|images   bring the docker lab up, take it down, list runs, build images
    malina backend ...                 the provisioning service (serve, db, machine ...)
    malina console parse FILE --json   bootloader console output -> events
    malina demo                        the full sequence on the simulated lab
    malina boards [--lab FILE]         who holds which board since when, until when; quarantine, health
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import cast

COMMANDS: dict[str, tuple[str, str]] = {
    "lab": ("harness.lab.cli", "bring the docker lab up or down, list runs, build images"),
    "backend": ("backend.cli", "the provisioning service: serve, db, machines"),
    "console": ("harness.console.cli", "parse bootloader console output into events"),
    "demo": ("harness.demo", "run the full netboot sequence on the simulated lab"),
    "boards": ("harness.boards", "board leases: holder, host, since, until; quarantine and health"),
}


def usage() -> str:
    lines = ["usage: malina COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<9} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"malina: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    entry = cast(Callable[[list[str]], int], module.main)
    return int(entry(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
