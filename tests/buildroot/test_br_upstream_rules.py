"""What a real Buildroot 2026.02.3 build checks on this tree (issue 16), kept without upstream at hand:
merged /usr (check-merged), the agent as the ``malina-agent`` package with one source of its files, the
package's and defconfig's symbols and dependencies, check-package's main rules and its shellcheck run, the
dhtest archive hash. The Kconfig facts come from ``tests/data/buildroot/`` (see its README)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from brcheck import (
    SYMBOLS_FILE,
    Rules,
    config_in_style_problems,
    enabled_closure,
    hash_style_problems,
    load_rules,
    merged_usr_problems,
    mk_installs,
    mk_style_problems,
    tree_rules,
    unmerged_destinations,
    unmet_dependencies,
)

from testkit.agent import AGENT_TREE, BUILDROOT, OVERLAY, REPO

PACKAGES = BUILDROOT / "package"
AGENT_PKG = PACKAGES / "malina-agent"
DEFCONFIG = BUILDROOT / "configs" / "raspberrypi4_64_pxe_defconfig"
# Buildroot 2026.02.3 builds its own host tar >= 1.35 when the host's is older; the archive of the pinned
# dhtest commit made that way (regular files' device fields left empty) has this hash.
DHTEST_GIT4_SHA256 = "5c2bec28d2e0542aab6a5304ed281888e2c353c525dbbe3be7802ff0739d5745"


def _defconfig_on() -> set[str]:
    return set(re.findall(r"^(BR2_\w+)=", DEFCONFIG.read_text(), re.M))


def _package_rules() -> Rules:
    config_in = AGENT_PKG / "Config.in"
    assert config_in.is_file(), "the agent ships as package/malina-agent"
    return tree_rules(config_in)


def _all_tree_rules() -> list[Rules]:
    return [tree_rules(p) for p in sorted(PACKAGES.glob("*/Config.in"))]


# -- merged /usr ---------------------------------------------------------------------------------------------


def test_merged_usr_check_catches_what_check_merged_refuses(tmp_path: Path) -> None:
    (tmp_path / "usr" / "sbin").mkdir(parents=True)
    (tmp_path / "lib").mkdir()
    (tmp_path / "sbin").symlink_to("/usr/sbin")  # absolute: wrong
    assert len(merged_usr_problems(tmp_path)) == 3
    good = tmp_path / "good"
    (good / "usr" / "bin").mkdir(parents=True)
    (good / "bin").symlink_to("usr/bin")
    (good / "usr" / "sbin").symlink_to("bin")
    assert merged_usr_problems(good) == []


@pytest.mark.parametrize("root", [OVERLAY, AGENT_TREE], ids=["rootfs-overlay", "agent-tree"])
def test_no_unmerged_directory_in_overlay_or_agent_tree(root: Path) -> None:
    """The overlay (check-merged -t overlay -u -b in target-finalize) and the agent's tree (installed by the
    package, copied to / by the simulated board) have no real usr/sbin, bin, sbin or lib."""
    assert root.is_dir(), root
    assert merged_usr_problems(root) == []


def test_package_installs_only_into_merged_paths() -> None:
    mk = (AGENT_PKG / "malina-agent.mk").read_text()
    dests = [d for block in ("MALINA_AGENT_INSTALL_TARGET_CMDS", "MALINA_AGENT_INSTALL_INIT_SYSTEMD")
             for _, _, d in mk_installs(mk, block)]
    assert "usr/bin/malina-installer" in dests and "usr/bin/malina-agent" in dests
    assert unmerged_destinations(dests) == []
    unit = (AGENT_TREE / "usr/lib/systemd/system/malina-installer.service").read_text()
    assert re.search(r"^ExecStart=/usr/bin/malina-installer$", unit, re.M)


# -- one source of the agent's files ---------------------------------------------------------------------------


def test_package_installs_the_agent_tree_as_it_is_laid_out() -> None:
    """Every file of buildroot/agent/ is installed to the same relative path, 0755 exactly when it is
    executable in the tree; the unit only with systemd (INSTALL_INIT_SYSTEMD); nothing else."""
    mk = (AGENT_PKG / "malina-agent.mk").read_text()
    assert re.search(r"^MALINA_AGENT_SITE = \$\(BR2_EXTERNAL_MALINA_PATH\)/agent$", mk, re.M)
    assert re.search(r"^MALINA_AGENT_SITE_METHOD = local$", mk, re.M)
    target = mk_installs(mk, "MALINA_AGENT_INSTALL_TARGET_CMDS")
    init = mk_installs(mk, "MALINA_AGENT_INSTALL_INIT_SYSTEMD")
    assert [d for _, _, d in init] == ["usr/lib/systemd/system/malina-installer.service"]
    tree = sorted(str(p.relative_to(AGENT_TREE)) for p in AGENT_TREE.rglob("*") if p.is_file())
    assert sorted(s for _, s, _ in target + init) == tree
    for mode, src, dst in target + init:
        assert src == dst, f"{src} installed as {dst}"
        assert (mode == "0755") == os.access(AGENT_TREE / src, os.X_OK), f"{src}: mode {mode}"


def test_nothing_else_installs_or_fixes_the_agent() -> None:
    """post-build.sh no longer chmods or enables the agent; the overlay holds none of its files."""
    code = [ln for ln in (BUILDROOT / "board/malina/post-build.sh").read_text().splitlines()
            if not ln.lstrip().startswith("#")]
    assert code and not [ln for ln in code if re.search(r"malina-agent|malina-installer|chmod", ln)]
    overlay_files = {str(p.relative_to(OVERLAY)) for p in OVERLAY.rglob("*") if p.is_file()}
    agent_files = {p.name for p in AGENT_TREE.rglob("*") if p.is_file()}
    assert overlay_files and not {Path(f).name for f in overlay_files} & agent_files


def test_sim_board_copies_the_same_source_to_the_same_paths() -> None:
    dockerfile = (REPO / "harness/lab/images/runtime.Dockerfile").read_text()
    copies = re.findall(r"^COPY .*buildroot/.*$", dockerfile, re.M)
    assert "COPY buildroot/agent/ /" in copies, "the board image copies buildroot/agent/ to /"
    assert dockerfile.index("COPY buildroot/agent/ /") > dockerfile.index(" AS board")
    assert not [c for c in copies if "agent" in c and c != "COPY buildroot/agent/ /"], copies
    images = (REPO / "harness/lab/images.py").read_text()
    assert '"buildroot/agent/**/*"' in images, "the board image is rebuilt when an agent file changes"


# -- symbols and dependencies ----------------------------------------------------------------------------------


def test_symbols_the_tree_uses_are_defined() -> None:
    known = {ln for ln in SYMBOLS_FILE.read_text().splitlines() if ln.startswith("BR2_")}
    assert len(known) > 8000
    pkg = _package_rules()
    ours = {s for rules in _all_tree_rules() for s in rules.depends}
    used = _defconfig_on() | {a.lstrip("!") for atoms in pkg.depends.values() for a in atoms}
    for targets in pkg.selects.values():
        for target, cond in targets:
            used |= {target, cond} if cond else {target}
    assert "BR2_PACKAGE_MALINA_AGENT" in _defconfig_on()
    assert sorted(used - known - ours) == []


def test_known_conflicts_drop_nothing_from_the_defconfig() -> None:
    """With the defconfig's symbols and everything they select set, no symbol's dependency fails: the
    defconfig's E2FSPROGS_FSCK needs !UTIL_LINUX_FSCK, which systemd selects (Kconfig dropped it)."""
    upstream = load_rules()
    assert upstream.depends["BR2_PACKAGE_E2FSPROGS_FSCK"] == ["BR2_PACKAGE_E2FSPROGS", "!BR2_PACKAGE_UTIL_LINUX_FSCK"]
    tree = _all_tree_rules()
    on = enabled_closure(_defconfig_on(), upstream, *tree)
    assert unmet_dependencies(on, upstream, *tree) == []
    assert {"BR2_ROOTFS_MERGED_BIN", "BR2_PACKAGE_UTIL_LINUX_FSCK", "BR2_PACKAGE_MALINA_AGENT",
            "BR2_PACKAGE_E2FSPROGS_DEBUGFS", "BR2_PACKAGE_LIBOPENSSL_BIN", "BR2_USE_MMU", "BR2_USE_WCHAR"} <= on
    # the check sees the conflict when the symbol comes back
    assert unmet_dependencies(on | {"BR2_PACKAGE_E2FSPROGS_FSCK"}, upstream) != []


def test_package_propagates_the_dependencies_of_what_it_selects() -> None:
    """Buildroot's rule for select: the selecting symbol repeats the selected one's 'depends on' (or selects
    it too); each selected symbol's dependencies are in the table, so a new select needs a look upstream."""
    upstream = load_rules()
    pkg = _package_rules()
    own = pkg.depends["BR2_PACKAGE_MALINA_AGENT"]
    selects = pkg.selects["BR2_PACKAGE_MALINA_AGENT"]
    assert {"BR2_PACKAGE_LIBCURL_CURL", "BR2_PACKAGE_JQ", "BR2_PACKAGE_XZ", "BR2_PACKAGE_BASH",
            "BR2_PACKAGE_E2FSPROGS_DEBUGFS", "BR2_PACKAGE_MTOOLS"} <= {t for t, _ in selects}
    selected = {t for t, c in selects if c is None}
    missing = []
    for target, cond in selects:
        assert target in upstream.depends, f"{target}: add its 2026.02.3 'depends on' to the rules table"
        for atom in upstream.depends[target]:
            if atom not in own and atom not in selected and atom != cond:
                missing.append(f"{target} needs {atom}")
    assert missing == []
    text = (AGENT_PKG / "Config.in").read_text()
    if any(a.startswith(("BR2_USE_WCHAR", "BR2_TOOLCHAIN_")) for a in own):
        assert re.search(r'^comment "malina-agent needs a toolchain w/ ', text, re.M)


# -- check-package's rules, the dhtest hash ----------------------------------------------------------------------


def test_package_files_follow_check_package_rules() -> None:
    assert (AGENT_PKG / "malina-agent.mk").is_file()
    problems = []
    for pkg in sorted(p for p in PACKAGES.iterdir() if p.is_dir()):
        problems += mk_style_problems(pkg / f"{pkg.name}.mk")
        problems += config_in_style_problems(pkg / "Config.in")
        for hashes in pkg.glob("*.hash"):
            problems += hash_style_problems(hashes)
    problems += config_in_style_problems(BUILDROOT / "Config.in")
    assert problems == []
    # check-package on a defconfig: downloads must be hash-checked
    assert "BR2_DOWNLOAD_FORCE_CHECK_HASHES=y" in DEFCONFIG.read_text().splitlines()


def test_style_checks_catch_what_check_package_refuses(tmp_path: Path) -> None:
    mk = tmp_path / "foo.mk"
    mk.write_text("# foo\nFOO_VERSION = 1\nBAR_SITE = x\nFOO_SOURCE = a  \\\n\tb\n\tFOO_X = 1\n"
                  "define FOO_BUILD_CMDS\n  make\nendef\n")
    # header, BAR_ prefix, two spaces before a backslash, a tab outside define, spaces inside define
    assert len(mk_style_problems(mk)) == 5
    cfg = tmp_path / "Config.in"
    cfg.write_text("config BR2_PACKAGE_FOO\n\tselect BR2_X\n\tdepends on BR2_Y\n\tdefault n\n    help\n")
    assert len(config_in_style_problems(cfg)) >= 3
    hashes = tmp_path / "foo.hash"
    hashes.write_text("sha256 abc foo.tar.gz\n")
    assert hash_style_problems(hashes) != []


def test_shell_scripts_pass_shellcheck_as_check_package_runs_it() -> None:
    """check-package runs 'shellcheck --external-sources FILE' from the tree's root, with no source path:
    the entry points' 'source-path=SCRIPTDIR' directive lets it follow the sourced library (SC1091)."""
    assert shutil.which("shellcheck")
    scripts = [p for p in sorted(BUILDROOT.rglob("*")) if p.is_file() and p.read_bytes()[:11] == b"#!/bin/bash"]
    assert {"malina-agent", "malina-installer", "post-build.sh", "post-image.sh"} <= {p.name for p in scripts}
    for script in scripts:
        r = subprocess.run(["shellcheck", "--external-sources", str(script.relative_to(BUILDROOT))],
                           cwd=BUILDROOT, capture_output=True, text=True, check=False)
        assert r.returncode == 0, r.stdout + r.stderr


def test_dhtest_hash_is_that_of_buildroots_tar_135_archive() -> None:
    mk = (PACKAGES / "dhtest/dhtest.mk").read_text()
    version = re.search(r"^DHTEST_VERSION = (\w+)$", mk, re.M)
    assert version
    lines = (PACKAGES / "dhtest/dhtest.hash").read_text().splitlines()
    archive = f"dhtest-{version.group(1)}-git4.tar.gz"
    assert f"sha256  {DHTEST_GIT4_SHA256}  {archive}" in lines
    assert len([ln for ln in lines if ln.endswith(archive)]) == 1
