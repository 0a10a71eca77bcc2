"""The agent's failure paths found by the audit, each run for real on the host (unchanged overlay scripts,
card files, the stand-in backend): bmap offsets past 2 GiB, a wrong bmap, write and flush errors, a stalled
download, unexpected errors, a dead or broken hasher, progress reports (ETA, the backend's schema, none
after the result)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from backend.schemas import ProgressIn
from harness.sim.media.osimage import MiB, OsImage, blank_card, sha256_file
from testkit.agent import AGENT, AGENT_TREE, run_agent
from testkit.agent_backend import BackendStub, FileFault

LIB = AGENT_TREE / "usr" / "lib" / "malina"
GiB = 1024 * MiB


def _card(env: dict[str, str], size: int = 80 * MiB) -> Path:
    card = Path(env["MALINA_DISK"])
    blank_card(card, size, fill=b"OLD-BOOTABLE-CARD" * 64)
    with card.open("r+b") as f:
        f.seek(510)
        f.write(b"\x55\xaa")
    return card


def _head_zero(card: Path) -> bool:
    with card.open("rb") as f:
        return f.read(MiB) == bytes(MiB)


def _setup(backend: BackendStub, img: OsImage, *, bmap: Path | None = None,
           fault: FileFault | None = None) -> None:
    url = backend.serve("image", img.raw, fault)
    bmap_url = backend.serve("image.bmap", bmap) if bmap else None
    backend.set_scenario(image_url=url, sha256=img.sha256, size=img.size, compression="none",
                         bmap_url=bmap_url)


def _shim(tmp_path: Path, name: str, body: str) -> str:
    """A PATH whose first directory holds a stand-in for NAME."""
    d = tmp_path / "shims"
    d.mkdir(exist_ok=True)
    f = d / name
    f.write_text("#!/bin/bash\n" + body)
    f.chmod(0o755)
    return f"{d}:{os.environ['PATH']}"


def _bmap_xml(size: int, ranges: list[str], block: int = 4096) -> str:
    body = "".join(f"        <Range> {r} </Range>\n" for r in ranges)
    return (f'<?xml version="1.0" ?>\n<bmap version="2.0">\n    <ImageSize> {size} </ImageSize>\n'
            f"    <BlockSize> {block} </BlockSize>\n    <BlocksCount> {(size + block - 1) // block} </BlocksCount>\n"
            f"    <BlockMap>\n{body}    </BlockMap>\n</bmap>\n")


def _parse_bmap(tmp_path: Path, bmap: Path, size: int, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    out = tmp_path / "ranges"
    script = (f'set -euo pipefail; . "{LIB}/common.sh"; . "{LIB}/writer.sh"; '
              f'parse_bmap "$1" "$2" "$3" || {{ echo "$WRITE_ERROR" >&2; exit 1; }}')
    return subprocess.run(["bash", "-c", script, "parse", str(bmap), str(size), str(out)], env=env,
                          capture_output=True, text=True, timeout=30, check=False)


# --- 1: bmap offsets past 2 GiB ----------------------------------------------------------------------------

def test_parse_bmap_offsets_beyond_2gib_without_awk(tmp_path: Path) -> None:
    """Byte offsets are computed in bash (64-bit). Host awk (mawk) and busybox awk print "%d" as a 32-bit
    int (2147483647), so the parser must not depend on any awk: a failing awk is first on PATH."""
    size = 6 * GiB + 12345
    bmap = tmp_path / "big.bmap"
    # blocks of 4 KiB: 0, 524288 = 2 GiB exactly, 1048576-1048577 = 4 GiB, the partial last block
    last = (size + 4095) // 4096 - 1
    bmap.write_text(_bmap_xml(size, ["0", "524287-524288", "524289", "1048576-1048577", f"{last}"]))
    env = dict(os.environ, PATH=_shim(tmp_path, "awk", "echo 'awk must not be needed' >&2; exit 99\n"))
    r = _parse_bmap(tmp_path, bmap, size, env)
    assert r.returncode == 0, r.stderr
    lines = (tmp_path / "ranges").read_text().split("\n")
    assert lines == ["0 4096",
                     f"{524287 * 4096} {524290 * 4096}",  # merged across the 2 GiB boundary
                     f"{4 * GiB} {4 * GiB + 8192}",
                     f"{last * 4096} {size}",  # the last block ends at ImageSize
                     ""]


@pytest.mark.parametrize("ranges, error", [
    (["0", "99999999999999999999"], "bad range"),  # more digits than 64-bit arithmetic holds
    (["0", "2000000"], "out of bounds"),
    (["5", "3"], "unsorted"),
])
def test_parse_bmap_rejects_bad_ranges(tmp_path: Path, ranges: list[str], error: str) -> None:
    size = 6 * GiB
    bmap = tmp_path / "bad.bmap"
    bmap.write_text(_bmap_xml(size, ranges))
    r = _parse_bmap(tmp_path, bmap, size, dict(os.environ))
    assert r.returncode == 1
    assert error in r.stderr


def test_bmap_write_beyond_2gib(board: dict[str, str], backend: BackendStub, tmp_path: Path) -> None:
    """End to end on sparse files (a few MiB of real disk): an image of 2 GiB + 16 MiB whose bmap maps the head
    and a range past 2 GiB; the card must hold that range afterwards (the 32-bit awk skipped it)."""
    size = 2 * GiB + 16 * MiB
    far = 2 * GiB + 4 * MiB
    img = tmp_path / "big.img"
    head = os.urandom(4096)[:510] + b"\x55\xaa" + os.urandom(4096 - 512)
    data = os.urandom(MiB)
    with img.open("wb") as f:
        f.truncate(size)
        f.write(head)
        f.seek(far)
        f.write(data)
    bmap = tmp_path / "big.bmap"
    bmap.write_text(_bmap_xml(size, ["0", f"{far // 4096}-{(far + MiB) // 4096 - 1}"]))
    card = Path(board["MALINA_DISK"])
    blank_card(card, size + 16 * MiB)
    with card.open("r+b") as f:  # old contents where the far range goes
        f.seek(far)
        f.write(b"X" * MiB)
    url = backend.serve("big.img", img)
    r = run_agent(board, "write", "--url", url, "--sha256", sha256_file(img), "--size", str(size), "--bmap",
                  str(bmap), timeout=600)
    assert r.returncode == 0, r.stderr
    with card.open("rb") as f:
        assert f.read(4096) == head
        f.seek(far)
        assert f.read(MiB) == data
    assert os.stat(card).st_blocks * 512 < 64 * MiB  # the unmapped 2 GiB were never written


# --- 2: a wrong bmap ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("holes", [True, False], ids=["sparse-probe", "no-holes-tr"])
def test_stale_bmap_fails_the_write(board: dict[str, str], backend: BackendStub, plain_image: OsImage,
                                    tmp_path: Path, holes: bool) -> None:
    """A bmap that leaves a data range unmapped: the stream's sha256 still matches, but the card would miss
    that data. The skipped bytes must all be zero, so the write fails and the head stays zero. Both checks:
    the sparse scratch file, and tr for a run dir without holes (stat reports allocated blocks)."""
    assert plain_image.bmap is not None
    text = plain_image.bmap.read_text()
    raw = plain_image.raw.read_bytes()
    dropped = None
    for line in text.splitlines():
        if "<Range" not in line:
            continue
        rng = line.split(">")[1].split("<")[0].strip()
        a, _, b = rng.partition("-")
        lo, hi = int(a) * 4096, (int(b or a) + 1) * 4096
        if lo >= MiB and raw[lo:hi].strip(b"\0"):
            dropped = line
            break
    assert dropped is not None, "the test image has no data range past the head"
    stale = tmp_path / "stale.bmap"
    stale.write_text(text.replace(dropped + "\n", ""))
    card = _card(board)
    _setup(backend, plain_image, bmap=stale)
    env = board
    if not holes:
        env = dict(board, PATH=_shim(tmp_path, "stat", '[[ "$*" == *%b* ]] && { echo 8; exit 0; }\n'
                                     'exec /usr/bin/stat "$@"\n'))
    r = run_agent(env, "install", "--url", backend.url)
    assert r.returncode == 6, r.stderr
    assert _head_zero(card)
    res = backend.state.results
    assert len(res) == 1 and res[0]["status"] == "failure"
    assert "bmap is wrong" in res[0]["error"], res[0]["error"]
    assert "INSTALL FAILED" in r.stderr


# --- 3: write and flush errors -----------------------------------------------------------------------------

def test_flush_error_fails_and_leaves_head_zero(board: dict[str, str], backend: BackendStub,
                                                plain_image: OsImage, tmp_path: Path) -> None:
    card = _card(board)
    _setup(backend, plain_image)
    env = dict(board, PATH=_shim(tmp_path, "sync", "echo 'sync: EIO' >&2; exit 1\n"))
    r = run_agent(env, "install", "--url", backend.url)
    assert r.returncode == 6, r.stderr
    assert _head_zero(card)
    res = backend.state.results
    assert [x["status"] for x in res] == ["failure"] and "flushing" in res[0]["error"]


def test_write_error_mid_card_fails_and_leaves_head_zero(board: dict[str, str], backend: BackendStub,
                                                         plain_image: OsImage) -> None:
    """A card that refuses writes past 16 MiB (RLIMIT_FSIZE: writes at or beyond it fail with EFBIG)."""
    card = _card(board)
    _setup(backend, plain_image)
    r = subprocess.run(["bash", "-c", 'ulimit -f 16384; exec "$0" "$@"', str(AGENT), "install", "--url",
                        backend.url], env=board, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 6, r.stderr
    assert _head_zero(card)
    res = backend.state.results
    assert [x["status"] for x in res] == ["failure"] and "write failed" in res[0]["error"], res


# --- 4: a stalled download ---------------------------------------------------------------------------------

def test_stalled_download_fails_in_bounded_time(board: dict[str, str], backend: BackendStub,
                                                plain_image: OsImage) -> None:
    card = _card(board)
    _setup(backend, plain_image, fault=FileFault(stall_at=8 * MiB))
    env = dict(board, MALINA_STALL_TIME="2")
    t0 = time.monotonic()
    r = run_agent(env, "install", "--url", backend.url, timeout=60)
    assert time.monotonic() - t0 < 30
    assert r.returncode == 6, r.stderr
    assert _head_zero(card)
    res = backend.state.results
    assert len(res) == 1 and "stalled" in res[0]["error"], res


# --- 5: unexpected errors ----------------------------------------------------------------------------------

def test_unexpected_error_is_reported(board: dict[str, str], backend: BackendStub, plain_image: OsImage,
                                      tmp_path: Path) -> None:
    """cp fails while the install files are staged (a set -e exit nobody handles): INSTALL FAILED on the
    console, a failure report, the card untouched."""
    card = _card(board)
    before = sha256_file(card)
    _setup(backend, plain_image)
    env = dict(board, PATH=_shim(tmp_path, "cp", "exit 1\n"))
    r = run_agent(env, "install", "--url", backend.url)
    assert r.returncode == 5, r.stderr
    assert "INSTALL FAILED: unexpected error" in r.stderr
    res = backend.state.results
    assert len(res) == 1 and res[0]["status"] == "failure" and "cp" in res[0]["error"], res
    assert sha256_file(card) == before
    assert not any(q.startswith("GET /files/image") for q in backend.state.requests)


# --- 6: the hasher -----------------------------------------------------------------------------------------

def test_broken_hash_tool_refused_before_writing(board: dict[str, str], backend: BackendStub,
                                                 plain_image: OsImage, tmp_path: Path) -> None:
    card = _card(board)
    before = sha256_file(card)
    _setup(backend, plain_image)
    env = dict(board, MALINA_HASH="openssl", PATH=_shim(tmp_path, "openssl", "exit 1\n"))
    r = run_agent(env, "install", "--url", backend.url, timeout=60)
    assert r.returncode == 5, r.stderr
    assert sha256_file(card) == before
    assert "sha256 tool" in backend.state.results[0]["error"]


def test_hasher_dying_mid_stream_cannot_hang(board: dict[str, str], backend: BackendStub,
                                             plain_image: OsImage, tmp_path: Path) -> None:
    """The hash tool works on small input (the agent's self-test) but dies after 4 MiB of the image."""
    card = _card(board)
    _setup(backend, plain_image)
    shim = ('t=$(mktemp); head -c 4194304 >"$t"\n'
            'if (($(stat -c %s "$t") < 4194304)); then /usr/bin/sha256sum <"$t"; rc=$?; rm -f "$t"; exit $rc; fi\n'
            'rm -f "$t"; exit 3\n')
    env = dict(board, MALINA_HASH="sha256sum", PATH=_shim(tmp_path, "sha256sum", shim))
    t0 = time.monotonic()
    r = run_agent(env, "install", "--url", backend.url, timeout=60)
    assert time.monotonic() - t0 < 45
    assert r.returncode == 6, r.stderr
    assert _head_zero(card)
    err = backend.state.results[0]["error"]
    assert "hasher" in err, err


# --- 8, 11: progress reports -------------------------------------------------------------------------------

def test_progress_carries_eta_and_fits_the_backend_schema(board: dict[str, str], backend: BackendStub,
                                                          plain_image: OsImage) -> None:
    _card(board)
    _setup(backend, plain_image, fault=FileFault(rate_bps=16 * MiB))
    r = run_agent(board, "install", "--url", backend.url)
    assert r.returncode == 0, r.stderr
    writing = [p for p in backend.state.progress if p["phase"] == "writing"]
    assert len(writing) >= 2
    assert writing[0]["bytes_written"] == 0  # the write's start, reported at once: no rate, no ETA yet
    assert all("eta_s" in p for p in writing[1:])
    assert any(isinstance(p["eta_s"], int) and p["eta_s"] >= 0 for p in writing[1:])
    for p in backend.state.progress:  # the real backend accepts every report as sent
        ProgressIn.model_validate(p)


def test_no_progress_report_after_the_write_ended(board: dict[str, str], backend: BackendStub,
                                                  plain_image: OsImage) -> None:
    """Each "writing" report takes 3 s at the backend: the one in flight when the write ends must be
    finished before the agent reports "verifying" and the result (the backend refuses progress after it)."""
    _card(board)
    _setup(backend, plain_image, fault=FileFault(rate_bps=12 * MiB))
    backend.state.progress_delay = 3.0
    r = run_agent(board, "install", "--url", backend.url)
    assert r.returncode == 0, r.stderr
    ev = backend.state.events
    assert ev[-1] == "result success", ev
    first_after = ev.index("progress verifying")
    assert "progress writing" in ev[:first_after]
    assert "progress writing" not in ev[first_after:], ev
