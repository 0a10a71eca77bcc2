"""What upstream Buildroot 2026.02.3 checks on a BR2_EXTERNAL tree in a real build, redone for the tests
without an upstream checkout: the merged-/usr rules of ``support/scripts/check-merged``, the main style rules
of ``utils/check-package`` for ``.mk``, ``Config.in`` and ``.hash`` files, and Kconfig's ``select`` /
``depends on`` semantics over a hand-written table of upstream facts (``tests/data/buildroot/``).

Own code, written from upstream's documented behaviour; none of upstream's code is copied."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data" / "buildroot"
SYMBOLS_FILE = DATA / "br2-symbols-2026.02.3.txt"
RULES_FILE = DATA / "br2-rules-2026.02.3.txt"

# -- merged /usr ---------------------------------------------------------------------------------------------

# With BR2_ROOTFS_MERGED_USR and BR2_ROOTFS_MERGED_BIN (both selected by systemd) these are symlinks in the
# image: an overlay or package that brings a real directory there breaks the build (or the image).
MERGED_LINKS = (("bin", "usr/bin"), ("lib", "usr/lib"), ("sbin", "usr/sbin"), ("usr/sbin", "bin"))


def merged_usr_problems(root: Path) -> list[str]:
    """Why ``root`` (an overlay, or a tree copied to / like one) does not fit a merged /usr + /usr/bin system:
    usr/bin and usr/lib must be missing or real directories; bin, lib, sbin missing or relative symlinks to
    usr/bin, usr/lib, usr/sbin; usr/sbin missing or a relative symlink to bin."""
    problems = []
    for rel in ("usr/bin", "usr/lib"):
        path = root / rel
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            problems.append(f"/{rel} should be missing or a real directory")
    for rel, target in MERGED_LINKS:
        path = root / rel
        present = path.exists() or path.is_symlink()
        if present and not (path.is_symlink() and os.readlink(path) == target):
            problems.append(f"/{rel} should be missing or a relative symlink to {target}")
    return problems


def unmerged_destinations(paths: list[str]) -> list[str]:
    """The target paths (relative to TARGET_DIR) that lie in a directory merged /usr turns into a symlink."""
    return [p for p in paths if any(p.startswith(f"{rel}/") for rel, _ in MERGED_LINKS)]


# -- package .mk files ---------------------------------------------------------------------------------------

INSTALL_RE = re.compile(r"^\$\(INSTALL\) -D -m (0[0-7]{3}) \$\(@D\)/(\S+) \$\(TARGET_DIR\)/(\S+)$")


def mk_defines(text: str) -> dict[str, list[str]]:
    """``define NAME ... endef`` blocks of a .mk file: their commands, continuation lines joined."""
    defines: dict[str, list[str]] = {}
    current: list[str] | None = None
    pending = ""
    for line in text.splitlines():
        if m := re.match(r"^define (\w+)$", line):
            current = defines.setdefault(m.group(1), [])
        elif line == "endef":
            current = None
        elif current is not None:
            pending += line.strip()
            if pending.endswith("\\"):
                pending = pending[:-1].rstrip() + " "
                continue
            current.append(pending)
            pending = ""
    return defines


def mk_installs(text: str, define: str) -> list[tuple[str, str, str]]:
    """(mode, source relative to the package's build dir, destination relative to TARGET_DIR) of every
    ``$(INSTALL) -D -m MODE $(@D)/SRC $(TARGET_DIR)/DST`` in the block; any other command is an error."""
    found = []
    for cmd in mk_defines(text).get(define, []):
        m = INSTALL_RE.match(cmd)
        assert m, f"{define}: not a plain install command: {cmd!r}"
        found.append((m.group(1), m.group(2), m.group(3)))
    return found


# -- check-package's main rules ------------------------------------------------------------------------------


def _common_problems(path: Path) -> list[str]:
    text = path.read_text()
    lines = text.splitlines()
    problems = []
    if os.access(path, os.X_OK):
        problems.append(f"{path.name}: does not need to be executable")
    if text and not text.endswith("\n"):
        problems.append(f"{path.name}: missing newline at end of file")
    if lines and lines[-1].strip() == "":
        problems.append(f"{path.name}: empty line at end of file")
    for n, line in enumerate(lines, 1):
        if line != line.rstrip():
            problems.append(f"{path.name}:{n}: trailing whitespace")
        if n > 1 and line.strip() == "" == lines[n - 2].strip():
            problems.append(f"{path.name}:{n}: consecutive empty lines")
        if not line.isascii():
            problems.append(f"{path.name}:{n}: non-ASCII characters")
    return problems


def mk_style_problems(path: Path) -> list[str]:
    """check-package's rules for a package .mk: the 6-line header, variables prefixed with the package's
    name, tabs exactly inside define blocks and continuation lines, one space before a backslash, no ifdef,
    no default value spelled out."""
    pkg = path.name.removesuffix(".mk")
    prefix = pkg.upper().replace("-", "_")
    lines = path.read_text().splitlines()
    problems = _common_problems(path)
    header = ["#" * 80, "#", f"# {pkg}", "#", "#" * 80, ""]
    if lines[:6] != header:
        problems.append(f"{path.name}: header must be {header}")
    in_define = continued = False
    for n, line in enumerate(lines, 1):
        var = re.match(r"^(?:define\s+)?([A-Z0-9_]+_[A-Z0-9_]+)", line)
        if var and not re.match(rf"(HOST_)?{prefix}_", var.group(1)):
            problems.append(f"{path.name}:{n}: variable not prefixed with {prefix}_: {var.group(1)}")
        if re.match(r"^\s*(else\s+)?ifn?def\s", line):
            problems.append(f"{path.name}:{n}: use ifeq/ifneq ($(SYMBOL),y), not ifdef")
        if re.match(r"^.*(  |\t ?)\\$", line):
            problems.append(f"{path.name}:{n}: one space before a backslash")
        if re.search(r"_(INSTALL_TARGET\s*=\s*YES|INSTALL_STAGING\s*=\s*NO|INSTALL_IMAGES\s*=\s*NO)", line):
            problems.append(f"{path.name}:{n}: useless default value")
        if re.match(r"^define\s", line):
            in_define = True
        elif line.startswith("endef"):
            in_define = False
        elif line.strip() and not line.lstrip().startswith("#"):
            want_tab = in_define or continued
            if want_tab != line.startswith("\t"):
                problems.append(f"{path.name}:{n}: {'expected' if want_tab else 'unexpected'} indent with tabs")
        continued = line.endswith("\\") and not line.startswith("#")
    return problems


CONFIG_ORDER = {"bool": 1, "prompt": 1, "string": 1, "default": 2, "depends": 3, "select": 4, "help": 5}
CONFIG_TOP = ("choice", "comment", "config", "endchoice", "endif", "endmenu", "if", "menu", "menuconfig",
              "source")


def config_in_style_problems(path: Path) -> list[str]:
    """check-package's rules for a Config.in: attribute order (type, default, depends on, select, help),
    attributes indented by one tab and entries not at all, help text as <tab><2 spaces> and at most 62
    characters, no 'default n'."""
    problems = _common_problems(path)
    state = 0
    in_help = False
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip() == "" or line.lstrip().startswith("#"):
            continue
        if in_help and line.startswith("\t  "):
            if len(line) > 3 + 62 and not re.fullmatch(r"\t  (https?|git)://\S*", line):
                problems.append(f"{path.name}:{n}: help text over 62 characters")
            continue
        in_help = False
        word = line.split()[0]
        if word in CONFIG_TOP:
            state = 0
            if line[0].isspace():
                problems.append(f"{path.name}:{n}: {word} must not be indented")
            continue
        if word in CONFIG_ORDER:
            if not line.startswith(f"\t{word}"):
                problems.append(f"{path.name}:{n}: {word} must be indented with one tab")
            if CONFIG_ORDER[word] < state:
                problems.append(f"{path.name}:{n}: attributes order: type, default, depends on, select, help")
            state = CONFIG_ORDER[word]
            in_help = word == "help"
        if re.match(r"^\tdefault n\s*(#.*)?$", line):
            problems.append(f"{path.name}:{n}: 'default n' is redundant")
    return problems


HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128}


def hash_style_problems(path: Path) -> list[str]:
    """check-package's rules for a .hash file: TYPE  HEX  FILE, two spaces apart, HEX as long as TYPE says."""
    problems = _common_problems(path)
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip() == "" or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 3 or line != "  ".join(fields):
            problems.append(f"{path.name}:{n}: expected TYPE  HASH  FILE, two spaces apart")
        elif not re.fullmatch(rf"[0-9a-fA-F]{{{HASH_LENGTHS.get(fields[0], 0)}}}", fields[1]):
            problems.append(f"{path.name}:{n}: unknown hash type or wrong length")
    return problems


# -- Kconfig select / depends on -----------------------------------------------------------------------------


@dataclass
class Rules:
    """``select`` and ``depends on`` facts: upstream's from the table, the tree's from its Config.in files.
    A select may carry one condition symbol (``select X if Y``); depends are conjunctions of atoms, ``!X``
    meaning X unset."""

    selects: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)
    depends: dict[str, list[str]] = field(default_factory=dict)

    def add_select(self, sym: str, target: str, cond: str | None = None) -> None:
        self.selects.setdefault(sym, []).append((target, cond))


def load_rules(path: Path = RULES_FILE) -> Rules:
    rules = Rules()
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        sym, verb, *rest = line.split()
        assert verb in ("selects", "chooses", "depends"), line
        if verb == "depends":
            assert sym not in rules.depends, f"{sym}: depends given twice"
            rules.depends[sym] = rest
        else:  # a choice's default counts as a select when nothing else picks one
            for target in rest:
                rules.add_select(sym, target)
    return rules


def tree_rules(config_in: Path) -> Rules:
    """The select / depends on lines of one of the tree's Config.in files (simple atoms only)."""
    rules = Rules()
    sym = None
    for line in config_in.read_text().splitlines():
        code = line.split("#")[0].rstrip()
        if m := re.match(r"^(?:menu)?config (BR2_\w+)$", code):
            sym = m.group(1)
            rules.depends.setdefault(sym, [])
        elif re.match(r"^(comment|choice|endchoice|if|endif|menu|endmenu|source)\b", code):
            sym = None
        elif sym and (m := re.match(r"^\tdepends on (!?BR2_\w+)$", code)):
            rules.depends[sym].append(m.group(1))
        elif sym and (m := re.match(r"^\tselect (BR2_\w+)(?: if (BR2_\w+))?$", code)):
            rules.add_select(sym, m.group(1), m.group(2))
        elif sym:
            assert not re.match(r"^\t(depends|select)\b", code), f"{config_in}: too complex for the tests: {line}"
    return rules


def enabled_closure(start: set[str], *rule_sets: Rules) -> set[str]:
    """The symbols set once Kconfig has applied every select (conditions evaluated on the growing set)."""
    on = set(start)
    changed = True
    while changed:
        changed = False
        for rules in rule_sets:
            for sym, targets in rules.selects.items():
                if sym not in on:
                    continue
                for target, cond in targets:
                    if target not in on and (cond is None or cond in on):
                        on.add(target)
                        changed = True
    return on


def unmet_dependencies(on: set[str], *rule_sets: Rules) -> list[str]:
    """Set symbols whose ``depends on`` fails: Kconfig drops them (or, when selected, warns and builds an
    image that misses what they promised)."""
    problems = []
    for rules in rule_sets:
        for sym, atoms in rules.depends.items():
            if sym not in on:
                continue
            for atom in atoms:
                holds = atom[1:] not in on if atom.startswith("!") else atom in on
                if not holds:
                    problems.append(f"{sym} is set but its dependency {atom} does not hold")
    return problems
