"""The repository stands alone: no tracked file names a path of the machine it was written on, and every
source key the code cites for the Pi 4 evidence ([W-E58], [RN 2020-06-03], ...) is in tests/data/pi4/SPEC.md.

What counts as a machine path: a user's home (``/home/<user>``, root's home, ``/Users/<user>``,
``C:\\Users\\<user>``) or the work tree of the machine the project was written on (``WHOLE_DIRS``). Paths
that exist on the simulated board or in the lab's containers are not the machine's: they are allowed one by one
in ``ALLOWED``, each with its reason. (This file spells the patterns so that it does not match itself.)
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "tests" / "data" / "pi4" / "SPEC.md"

HOMES = ("home", "Users")  # /<one of these>/<user>
WHOLE_DIRS = ("root", "work")  # /<one of these>, anything below it: root's home, the machine's work tree
# a path that starts at a root (not part of a longer path or word), then a home or the machine's work tree
MACHINE_PATH = re.compile(
    rf"(?<![\w.~/-])(?:/(?:{'|'.join(HOMES)})/[A-Za-z0-9_.-]+|/(?:{'|'.join(WHOLE_DIRS)})(?![\w.-])"
    r"|[A-Za-z]:\\Users\\[^\\\s]+)"
)
# deliberate exceptions: paths of the board or of a container, never of the machine running the tests
ALLOWED = {
    "/home/ubuntu": "the installed Ubuntu's default user on the board (authorized_keys written by the installer)",
}


def machine_paths(text: str) -> list[str]:
    """The machine paths in ``text`` (allowed ones left out)."""
    return [m.group(0) for m in MACHINE_PATH.finditer(text) if m.group(0) not in ALLOWED]


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=60).stdout
    files = []
    for name in out.decode().split("\0"):
        path = REPO / name
        if not name or not path.is_file():  # deleted in the work tree but not yet committed
            continue
        head = path.read_bytes()[:8192]
        if b"\0" not in head:
            files.append(path)
    return files


def test_no_tracked_file_names_a_path_of_the_machine() -> None:
    files = _tracked_text_files()
    assert len(files) > 100, "git ls-files found too little: is this a git checkout?"
    found = []
    for path in files:
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            found += [f"{path.relative_to(REPO)}:{n}: {p}" for p in machine_paths(line)]
    assert not found, "absolute paths of a machine in tracked files:\n" + "\n".join(found)


def test_the_machine_path_rule_itself() -> None:
    work, home = "/" + "work", "/" + "home"
    for bad in (f"{work}/shared/pi4/README.md", f"see {work}", f'"{home}/alice/x"', "/" + "root/.cache",
                "/" + "Users/bob/src", "C:" + "\\Users\\carol\\x", f"`{home}/bob`"):
        assert machine_paths(bad), bad
    for fine in ("/home/ubuntu/.ssh/authorized_keys", "harness/work/x", "/workspace/x", "/srv/tftp",
                 "./work/x", "buildroot/board/malina/rootfs-overlay/", "/rootfs", "/var/lib/homework"):
        assert not machine_paths(fine), fine


# a source key of SPEC.md as the code cites it: a name, optionally with a release date (RN 2020-06-03)
KEY = r"(?:DOC-[A-Z0-9]+|W-[A-Z0-9]+(?:-timing)?|RN|STR|NST|CMP\d*|BETA|CONF|CFGTOOL|YOCTO|USB\d+|[EFLT]\d+)"
CITATION = re.compile(rf"\[({KEY}(?: [\d-]+)?(?:(?:, |/){KEY}(?: [\d-]+)?)*)\]")


def _spec_keys() -> set[str]:
    text = SPEC.read_text()
    sources = text[text.index("\n## Sources"):]
    return set(re.findall(r"^\| ([A-Z][A-Za-z0-9-]*) \|", sources, re.M))


def cited_keys(text: str) -> set[str]:
    keys = set()
    for m in CITATION.finditer(text):
        keys |= {re.sub(r" [\d-]+$", "", k) for k in re.split(r", |/", m.group(1))}
    return keys


def test_every_cited_source_key_is_in_the_spec() -> None:
    defined = _spec_keys()
    assert {"DOC-BL", "W-E58", "W-E58-timing", "RN", "E376", "F1850"} <= defined
    missing = []
    for path in sorted((REPO / "harness").rglob("*.py")) + sorted((REPO / "tests").rglob("*.py")):
        missing += [f"{path.relative_to(REPO)}: [{k}]" for k in sorted(cited_keys(path.read_text()) - defined)]
    assert not missing, "cited but not in tests/data/pi4/SPEC.md's sources:\n" + "\n".join(missing)


def test_the_citation_pattern_itself() -> None:
    assert cited_keys("x [W-E58, W-T183] y [RN 2020-06-03] [E82/E87] [DOC-BL, RN 2020-03-11]") == {
        "W-E58", "W-T183", "RN", "E82", "E87", "DOC-BL"}
    assert cited_keys("list[str] [SPEC.md (a)] [1, 2] [ERROR]") == set()
