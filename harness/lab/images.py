"""Lab images: built with the docker SDK, tagged by a hash of their inputs, rebuilt only when those change.

- ``debian:<suite>-slim`` comes from a pull or, with no registry, from ``scripts/base-image.sh <suite>``
  (debootstrap). The Python images use bookworm; each Kea image its release's suite (``keaversions.SUITES``),
  passed to ``hook/Dockerfile`` as the build argument ``SUITE`` and hashed into the tag.
- Python packages enter images only from a host-built wheelhouse per pyproject extra
  (``build/wheelhouse/<extra>``): the ``backend`` image gets the ``backend`` extra (no harness, no pytest, no
  scapy), the ``runtime`` and ``board`` images the ``harness`` extra.
- A build prints its steps as they run (progress for a person waiting).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, BuildError, ImageNotFound

from harness.lab.keaversions import DEFAULT_KEA_VERSION, KEA_VERSIONS, SUITES, image_name

REPO = Path(__file__).resolve().parents[2]
BASE_SUITE = "bookworm"
BASE_IMAGE = f"debian:{BASE_SUITE}-slim"
LABEL = "malina.image"

Printer = Callable[[str], None]


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class ImageSpec:
    """One image: where its Dockerfile and context are and which files decide its content."""

    name: str
    dockerfile: str  # relative to the repo
    context: str  # relative to the repo
    target: str | None
    inputs: tuple[str, ...]  # globs relative to the repo
    extra: str | None = None  # the pyproject extra its wheelhouse holds (None: no Python packages)
    requires: tuple[str, ...] = ()  # paths that must exist for the build to work
    extra_hash: tuple[str, ...] = field(default_factory=tuple)
    suite: str | None = None  # the Debian suite of its base image, passed as build argument SUITE (None: bookworm)

    @property
    def base_image(self) -> str:
        return f"debian:{self.suite or BASE_SUITE}-slim"

    def dockerfile_exists(self) -> bool:
        """Whether the image can be built from this checkout (its Dockerfile declares the target)."""
        path = REPO / self.dockerfile
        if not path.exists() or not all((REPO / r).exists() for r in self.requires):
            return False
        if self.target is None:
            return True
        return f" AS {self.target}".lower() in path.read_text().lower()

    def files(self) -> list[Path]:
        found: set[Path] = {REPO / self.dockerfile}
        for pattern in self.inputs:
            for p in REPO.glob(pattern):
                if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc":
                    found.add(p)
        return sorted(found)

    def digest(self) -> str:
        h = hashlib.sha256()
        h.update(f"{self.name}|{self.target}|{self.base_image}|".encode())
        for extra in self.extra_hash:
            h.update(extra.encode())
        if self.extra is not None:
            h.update("\n".join(extra_requirements(self.extra)).encode())
        for p in self.files():
            h.update(str(p.relative_to(REPO)).encode())
            h.update(b"\0")
            h.update(p.read_bytes())
            h.update(b"\0")
        return h.hexdigest()[:16]

    @property
    def repository(self) -> str:
        return f"malina/{self.name}"

    def tag(self) -> str:
        return f"{self.repository}:{self.digest()}"


RUNTIME_INPUTS = ("requirements.lock", "harness/**/*")
HOOK_INPUTS = ("hook/Makefile", "hook/.dockerignore", "hook/src/**/*", "hook/tests/**/*", "hook/libloadtests/**/*",
               "hook/tools/**/*", "hook/floor/**/*")


def _kea_specs() -> dict[str, ImageSpec]:
    """One plain Kea and one Kea + hook image per Kea release (``kea-2.6``, ``kea-hook-2.6``, ...), each its own
    repository (pruning keeps a few builds per repository, so releases never evict each other); ``kea`` and
    ``kea-hook`` name the default release's."""
    specs: dict[str, ImageSpec] = {}
    for version in KEA_VERSIONS:
        for hook in (False, True):
            name = image_name(version, hook=hook)
            specs[name] = ImageSpec(name=name, dockerfile="hook/Dockerfile", context="hook",
                                    target="kea-hook" if hook else "kea", inputs=HOOK_INPUTS if hook else (),
                                    suite=SUITES[version])
    specs["kea"] = specs[image_name(DEFAULT_KEA_VERSION, hook=False)]
    specs["kea-hook"] = specs[image_name(DEFAULT_KEA_VERSION, hook=True)]
    return specs


SPECS: dict[str, ImageSpec] = {
    **_kea_specs(),
    "backend": ImageSpec(
        name="backend",
        dockerfile="harness/lab/images/backend.Dockerfile",
        context=".",
        target="backend",
        inputs=("requirements.lock", "backend/**/*"),
        extra="backend",
    ),
    "runtime": ImageSpec(
        name="runtime",
        dockerfile="harness/lab/images/runtime.Dockerfile",
        context=".",
        target="runtime",
        inputs=RUNTIME_INPUTS,
        extra="harness",
    ),
    "board": ImageSpec(
        name="board",
        dockerfile="harness/lab/images/runtime.Dockerfile",
        context=".",
        target="board",
        inputs=(*RUNTIME_INPUTS, "buildroot/agent/**/*", "buildroot/board/malina/rootfs-overlay/**/*",
                "harness/sim/board/shims/*"),
        extra="harness",
        requires=("buildroot/agent", "buildroot/board/malina/rootfs-overlay", "harness/sim/board/shims"),
    ),
}


# -- prerequisites ---------------------------------------------------------------------------------------------


def ensure_base_image(client: docker.DockerClient, say: Printer = _say, suite: str = BASE_SUITE) -> None:
    image = f"debian:{suite}-slim"
    try:
        client.images.get(image)
        return
    except ImageNotFound:
        pass
    say(f"image {image}: missing, making it (pull or debootstrap)")
    subprocess.run(["bash", str(REPO / "scripts" / "base-image.sh"), suite], check=True)


def extra_requirements(extra: str) -> list[str]:
    """The requirements an image of ``extra`` installs: pyproject's [project] dependencies and the extra's,
    ``malina[...]`` references to other extras expanded, as written there (each once, in order)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras: dict[str, list[str]] = project.get("optional-dependencies", {})
    if extra not in extras:
        raise KeyError(f"pyproject.toml has no extra {extra!r} (extras: {', '.join(sorted(extras))})")
    found: list[str] = []
    pending = [*project.get("dependencies", []), *extras[extra]]
    while pending:
        req = pending.pop(0)
        self_ref = re.fullmatch(rf"{re.escape(project['name'])}\[([\w,\s-]+)\]", req.strip())
        if self_ref:
            pending += [r for name in self_ref.group(1).split(",") for r in extras[name.strip()]]
        elif req not in found:
            found.append(req)
    return found


def ensure_wheelhouse(extra: str, say: Printer = _say) -> Path:
    """Wheels for an extra's requirements (``build/wheelhouse/<extra>``, with its ``requirements.txt``), built
    from the host's pip configuration at the versions of requirements.lock; rebuilt when either changes."""
    wheelhouse = REPO / "build" / "wheelhouse" / extra
    stamp = wheelhouse / ".stamp"
    requirements = "".join(f"{req}\n" for req in extra_requirements(extra))
    want = hashlib.sha256(requirements.encode() + (REPO / "requirements.lock").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == want:
        return wheelhouse
    say(f"wheelhouse {extra}: building wheels for the images (pip wheel, from the host's package index)")
    wheelhouse.mkdir(parents=True, exist_ok=True)
    # also the wheels of the former single wheelhouse (build/wheelhouse/*.whl): they would only bloat the context
    for old in [*wheelhouse.glob("*.whl"), *wheelhouse.parent.glob("*.whl")]:
        old.unlink()
    (wheelhouse / "requirements.txt").write_text(requirements)
    subprocess.run(
        [
            sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheelhouse),
            "-r", str(wheelhouse / "requirements.txt"), "-c", str(REPO / "requirements.lock"),
        ],
        check=True,
    )
    stamp.write_text(want)
    return wheelhouse


# -- building --------------------------------------------------------------------------------------------------


def _stream(lines: Iterable[dict[str, Any]], name: str, say: Printer) -> str | None:
    image_id: str | None = None
    for chunk in lines:
        if "error" in chunk:
            raise BuildError(chunk["error"], build_log=[])
        text = chunk.get("stream", "")
        for line in text.splitlines():
            line = line.rstrip()
            if line.startswith("Step ") or line.startswith("Successfully built"):
                say(f"  [{name}] {line}")
            elif line.startswith(("Get:", "Setting up ", "Unpacking ")) and "Setting up" in line:
                say(f"  [{name}]   {line[:100]}")
        aux = chunk.get("aux")
        if isinstance(aux, dict) and "ID" in aux:
            image_id = str(aux["ID"])
    return image_id


def ensure_image(client: docker.DockerClient, name: str, say: Printer = _say) -> str:
    """The tag of an up-to-date image ``name``; built only when its inputs changed."""
    spec = SPECS[name]
    tag = spec.tag()
    try:
        client.images.get(tag)
        return tag
    except ImageNotFound:
        pass
    ensure_base_image(client, say, spec.suite or BASE_SUITE)
    if spec.extra is not None:
        ensure_wheelhouse(spec.extra, say)
    say(f"image {tag}: building (target {spec.target}) — progress below")
    try:
        stream = client.api.build(
            path=str(REPO / spec.context),
            dockerfile=str((REPO / spec.dockerfile).relative_to(REPO / spec.context)),
            target=spec.target,
            tag=tag,
            labels={LABEL: spec.name},
            rm=True,
            forcerm=True,
            decode=True,
            network_mode="default",
            buildargs={"SUITE": spec.suite} if spec.suite else None,
        )
        _stream(stream, spec.name, say)
    except APIError as exc:
        raise BuildError(f"building {tag}: {exc.explanation}", build_log=[]) from None
    client.images.get(tag)  # raises when the build produced nothing
    _prune_old(client, spec, tag, say)
    say(f"image {tag}: ready")
    return tag


# Older builds of one image that stay: another checkout or lab run on this engine (a second worktree, CI beside
# a developer) may be about to start containers from its own build, which a newer build must not pull away.
KEEP_BUILDS = 4


def _prune_old(client: docker.DockerClient, spec: ImageSpec, keep: str, say: Printer) -> None:
    """Remove builds of ``spec`` older than the ``KEEP_BUILDS`` newest (``keep`` always stays)."""
    builds = sorted(client.images.list(name=spec.repository), key=lambda i: str(i.attrs.get("Created", "")),
                    reverse=True)
    for image in builds[KEEP_BUILDS:]:
        if keep in image.tags:
            continue
        for t in image.tags:
            try:
                client.images.remove(t, noprune=False)
            except APIError:
                pass  # still used by a running lab: leave it


def ensure_images(client: docker.DockerClient, names: Iterable[str], say: Printer = _say) -> dict[str, str]:
    return {name: ensure_image(client, name, say) for name in names}
