"""Static checks of the BR2_EXTERNAL tree: defconfig symbols, package files, overlay references, TFTP
layout inputs and shellcheck on every shell script.

The Buildroot symbol list is ``tests/data/buildroot/br2-symbols-2026.02.3.txt`` (a copy of the shared
reference list); with ``BR2_CHECKOUT=/path/to/buildroot`` the symbols are read from that checkout's Config.in
files instead. What upstream checks in a real build is in ``test_br_upstream_rules.py``."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from brcheck import SYMBOLS_FILE

from testkit.agent import AGENT_TREE, BUILDROOT, OVERLAY

DEFCONFIG = BUILDROOT / "configs" / "raspberrypi4_64_pxe_defconfig"
BOARD = BUILDROOT / "board" / "malina"
# The BCM2711 boards that netboot this image: Pi 4 Model B, Pi 400, Compute Module 4.
PI4_DTBS = ("bcm2711-rpi-4-b.dtb", "bcm2711-rpi-400.dtb", "bcm2711-rpi-cm4.dtb")
CONFIG_RE = re.compile(r"^\s*(?:menu)?config\s+(BR2_[A-Za-z0-9_]+)", re.M)


def _external_name() -> str:
    m = re.search(r"^name:\s*(\S+)\s*$", (BUILDROOT / "external.desc").read_text(), re.M)
    assert m, "external.desc has no name"
    return m.group(1)


def _buildroot_symbols() -> set[str]:
    checkout = os.environ.get("BR2_CHECKOUT")
    if checkout:
        root = Path(checkout)
        files = [p for p in root.rglob("Config.in*") if p.name != "Config.in.legacy" and p.is_file()]
        assert files, f"BR2_CHECKOUT={checkout} has no Config.in files"
        return {m for p in files for m in CONFIG_RE.findall(p.read_text(errors="replace"))}
    return {ln.strip() for ln in SYMBOLS_FILE.read_text().splitlines() if ln.startswith("BR2_")}


def _tree_symbols() -> set[str]:
    return {m for p in BUILDROOT.rglob("Config.in") for m in CONFIG_RE.findall(p.read_text())}


def _defconfig_symbols() -> list[str]:
    syms = []
    for line in DEFCONFIG.read_text().splitlines():
        m = re.match(r"^(BR2_[A-Za-z0-9_]+)=", line) or re.match(r"^# (BR2_[A-Za-z0-9_]+) is not set$", line)
        if m:
            syms.append(m.group(1))
        else:
            assert line == "" or line.startswith("#"), f"unexpected defconfig line: {line!r}"
    return syms


def _expand(value: str) -> Path:
    name = _external_name()
    return Path(value.replace(f"$(BR2_EXTERNAL_{name}_PATH)", str(BUILDROOT)))


def _defconfig_value(sym: str) -> str:
    m = re.search(rf'^{sym}="([^"]*)"$', DEFCONFIG.read_text(), re.M)
    assert m, f"{sym} not set in the defconfig"
    return m.group(1)


def test_every_defconfig_symbol_is_defined() -> None:
    known = _buildroot_symbols() | _tree_symbols()
    syms = _defconfig_symbols()
    assert len(syms) > 30
    unknown = [s for s in syms if s not in known]
    assert not unknown, f"symbols defined neither by Buildroot 2026.02.3 nor by this tree: {unknown}"
    assert len(syms) == len(set(syms)), "a symbol is set twice"


def _package_selects() -> set[str]:
    """What the tree's packages enabled in the defconfig select (unconditionally or not)."""
    on = set(_defconfig_symbols())
    found: set[str] = set()
    for cfg in (BUILDROOT / "package").glob("*/Config.in"):
        text = cfg.read_text()
        m = CONFIG_RE.search(text)
        if m and m.group(1) in on:
            found |= set(re.findall(r"^\tselect (BR2_\w+)", text, re.M))
    return found


def test_defconfig_has_what_the_agent_needs() -> None:
    syms = set(_defconfig_symbols()) | _package_selects()
    for need in ("BR2_INIT_SYSTEMD", "BR2_PACKAGE_SYSTEMD_NETWORKD", "BR2_PACKAGE_LIBCURL_CURL",
                 "BR2_PACKAGE_JQ", "BR2_PACKAGE_XZ", "BR2_PACKAGE_UTIL_LINUX", "BR2_PACKAGE_E2FSPROGS",
                 "BR2_PACKAGE_E2FSPROGS_DEBUGFS", "BR2_PACKAGE_DOSFSTOOLS", "BR2_PACKAGE_MTOOLS",
                 "BR2_PACKAGE_BASH", "BR2_PACKAGE_COREUTILS", "BR2_PACKAGE_LIBOPENSSL_BIN",
                 "BR2_TARGET_ROOTFS_CPIO", "BR2_PACKAGE_RPI_FIRMWARE_VARIANT_PI4", "BR2_PACKAGE_DHTEST"):
        assert need in syms, need


def test_external_tree_files() -> None:
    name = _external_name()
    assert re.fullmatch(r"[A-Z0-9_]+", name)
    top = (BUILDROOT / "Config.in").read_text()
    mk = (BUILDROOT / "external.mk").read_text()
    assert f"$(BR2_EXTERNAL_{name}_PATH)/package/" in mk
    for pkg in sorted(p for p in (BUILDROOT / "package").iterdir() if p.is_dir()):
        upper = pkg.name.upper().replace("-", "_")
        assert f'source "$BR2_EXTERNAL_{name}_PATH/package/{pkg.name}/Config.in"' in top
        assert f"config BR2_PACKAGE_{upper}\n" in (pkg / "Config.in").read_text()
        mkfile = (pkg / f"{pkg.name}.mk").read_text()
        assert "$(eval $(generic-package))" in mkfile
        if re.search(rf"^{upper}_SITE_METHOD = local$", mkfile, re.M):
            continue  # sources in the tree: no version, no hash
        version = re.search(rf"^{upper}_VERSION = (\S+)$", mkfile, re.M)
        assert version
        hashes = [ln for ln in (pkg / f"{pkg.name}.hash").read_text().splitlines() if ln and ln[0] != "#"]
        assert hashes and all(re.fullmatch(r"sha256\s+[0-9a-f]{64}\s+\S+", ln) for ln in hashes)
        suffix = "-git4.tar.gz" if re.search(rf"^{upper}_SITE_METHOD = git$", mkfile, re.M) else ""
        assert any(ln.endswith(f"{pkg.name}-{version.group(1)}{suffix}") for ln in hashes)


def test_defconfig_paths_exist() -> None:
    for sym in ("BR2_ROOTFS_OVERLAY", "BR2_ROOTFS_POST_BUILD_SCRIPT", "BR2_ROOTFS_POST_IMAGE_SCRIPT",
                "BR2_PACKAGE_RPI_FIRMWARE_CONFIG_FILE"):
        path = _expand(_defconfig_value(sym))
        assert path.exists(), f"{sym} -> {path}"
        if sym.endswith("_SCRIPT"):
            assert os.access(path, os.X_OK), f"{path} not executable"
    assert _expand(_defconfig_value("BR2_ROOTFS_OVERLAY")) == OVERLAY


def test_overlay_units_and_scripts_reference_existing_files() -> None:
    units = list(AGENT_TREE.rglob("*.service"))
    assert units
    for unit in units:
        for m in re.finditer(r"^Exec\w*=[-@+!]*(/\S+)", unit.read_text(), re.M):
            target = m.group(1)
            if target.startswith(("/bin/", "/usr/bin/curl")):
                continue
            assert (AGENT_TREE / target.lstrip("/")).is_file(), f"{unit.name}: {target}"
            assert os.access(AGENT_TREE / target.lstrip("/"), os.X_OK), target
    # Every /usr/... or /etc/malina path the scripts name that belongs to malina exists in the agent's tree.
    scripts = [AGENT_TREE / "usr/bin/malina-agent", AGENT_TREE / "usr/bin/malina-installer",
               *sorted((AGENT_TREE / "usr/lib/malina").glob("*.sh"))]
    for script in scripts:
        text = script.read_text()
        for m in re.finditer(r"(/usr/(?:lib/malina|s?bin/malina|share/udhcpc)[\w./-]*)", text):
            assert (AGENT_TREE / m.group(1).lstrip("/")).exists(), f"{script.name}: {m.group(1)}"
        for m in re.finditer(r'\$MALINA_LIB/([\w.-]+)', text):
            assert (AGENT_TREE / "usr/lib/malina" / m.group(1)).is_file(), f"{script.name}: {m.group(1)}"


def test_tftp_tree_inputs() -> None:
    config = (BOARD / "config.txt").read_text()
    cmdline = (BOARD / "cmdline.txt").read_text()
    assert cmdline.count("\n") == 1, "cmdline.txt must be one line"
    assert "console=serial0,115200" in cmdline.split()
    assert "net.ifnames=0" in cmdline.split()
    for line in ("enable_uart=1", "uart_2ndstage=1", "arm_64bit=1", "kernel=kernel8.img",
                 "initramfs initramfs.cpio.gz followkernel"):
        assert line in config.splitlines(), line
    post_image = (BOARD / "post-image.sh").read_text()
    for name in ("start4.elf", "fixup4.dat", "config.txt", "cmdline.txt", "kernel8.img", *PI4_DTBS,
                 "initramfs.cpio.gz"):
        assert name in post_image, name
    built = [Path(n).name + ".dtb" for n in _defconfig_value("BR2_LINUX_KERNEL_INTREE_DTS_NAME").split()]
    assert sorted(built) == sorted(PI4_DTBS), "the kernel must build every board's device tree"
    budget = re.search(r"MAX_INITRAMFS=\$\(\((\d+) \* 1024 \* 1024\)\)", post_image)
    assert budget and int(budget.group(1)) < 96


def test_post_image_lays_out_the_tftp_tree(tmp_path: Path) -> None:
    fw = tmp_path / "rpi-firmware"
    fw.mkdir()
    for rel in ("rpi-firmware/start4.elf", "rpi-firmware/fixup4.dat", "Image", *PI4_DTBS, "rootfs.cpio.gz"):
        (tmp_path / rel).write_bytes(rel.encode())
    env = dict(os.environ, BINARIES_DIR=str(tmp_path))
    subprocess.run([str(BOARD / "post-image.sh")], env=env, check=True, capture_output=True)
    tree = tmp_path / "tftp"
    assert sorted(p.name for p in tree.iterdir()) == sorted([
        "start4.elf", "fixup4.dat", "config.txt", "cmdline.txt", "kernel8.img", *PI4_DTBS,
        "initramfs.cpio.gz", "SHA256SUMS"])
    assert (tree / "kernel8.img").read_bytes() == b"Image"
    for dtb in PI4_DTBS:
        assert (tree / dtb).read_bytes() == dtb.encode()
    assert (tree / "config.txt").read_text() == (BOARD / "config.txt").read_text()
    sums = (tree / "SHA256SUMS").read_text()
    assert "kernel8.img" in sums and "SHA256SUMS" not in sums
    # An initramfs over the budget fails the build.
    with (tmp_path / "rootfs.cpio.gz").open("wb") as f:
        f.truncate(70 * 1024 * 1024)
    r = subprocess.run([str(BOARD / "post-image.sh")], env=env, capture_output=True, text=True, check=False)
    assert r.returncode != 0 and "budget" in r.stderr


def _shell_files() -> list[Path]:
    found = []
    for p in sorted(BUILDROOT.rglob("*")):
        if not p.is_file() or p.suffix in (".mk", ".hash", ".txt", ".md", ".service", ".network", ".conf"):
            continue
        head = p.read_bytes()[:200]
        shebang = head.startswith((b"#!/bin/bash", b"#!/bin/sh"))
        if p.suffix == ".sh" or shebang or b"shellcheck shell=" in head:
            found.append(p)
    return found


def test_shellcheck_all_shell() -> None:
    files = _shell_files()
    names = {p.name for p in files}
    assert {"malina-agent", "malina-installer", "malina.script", "common.sh", "writer.sh", "rootfs.sh",
            "post-build.sh", "post-image.sh"} <= names
    r = subprocess.run(["shellcheck", "-x", "-P", "SCRIPTDIR", *map(str, files)], capture_output=True,
                       text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("script", ["usr/bin/malina-agent", "usr/bin/malina-installer",
                                    "usr/share/udhcpc/malina.script"])
def test_agent_scripts_are_executable(script: str) -> None:
    assert os.access(AGENT_TREE / script, os.X_OK)


def test_busybox_has_the_ntpd_the_agent_sets_the_clock_with() -> None:
    """trust.sh runs busybox ``ntpd -n -q -p`` for DHCP option 42; Buildroot's default busybox configuration
    leaves ntpd out, so the defconfig merges a fragment that turns it on."""
    fragment = BOARD / "busybox.fragment"
    assert re.search(r"^CONFIG_NTPD=y$", fragment.read_text(), re.M)
    assert ('BR2_PACKAGE_BUSYBOX_CONFIG_FRAGMENT_FILES="$(BR2_EXTERNAL_MALINA_PATH)/board/malina/busybox.fragment"'
            in DEFCONFIG.read_text().splitlines())
    trust = BUILDROOT / "agent" / "usr" / "lib" / "malina" / "trust.sh"
    assert "ntpd -n -q -p" in trust.read_text()
