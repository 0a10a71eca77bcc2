# syntax=docker/dockerfile:1
# Python runtime of the lab's harness-side roles (relay, tftp, files, test clients) and, as target `board`, the
# simulated Pi 4: harness/ and the `harness` extra of pyproject.toml (the backend has an image of its own,
# backend.Dockerfile). Python packages come only from the wheelhouse built on the host
# (build/wheelhouse/harness): no index inside builds.
FROM debian:bookworm-slim AS runtime
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      python3 python3-venv iproute2 iputils-ping curl jq xz-utils e2fsprogs dosfstools mtools fdisk \
      util-linux busybox openssh-server openssh-client procps tcpdump ca-certificates kmod \
 && rm -rf /var/lib/apt/lists/*
COPY build/wheelhouse/harness /tmp/wheelhouse
COPY requirements.lock /tmp/
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheelhouse \
      -r /tmp/wheelhouse/requirements.txt -c /tmp/requirements.lock \
 && rm -rf /tmp/wheelhouse \
 && printf '#!/bin/sh\nexec /opt/venv/bin/python -m harness.cli "$@"\n' > /usr/local/bin/malina \
 && chmod 755 /usr/local/bin/malina
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONPATH=/opt/malina
COPY harness /opt/malina/harness
WORKDIR /opt/malina

# The simulated board: the runtime plus the installer agent's files at the paths where the malina-agent
# Buildroot package installs them (buildroot/agent/ is that package's source), the installer image's rootfs
# overlay applied to / as Buildroot applies BR2_ROOTFS_OVERLAY, plus the sim-only shims.
FROM runtime AS board
# sudo as Ubuntu's images give the default user (passwordless), so SSH checks read root-only files as on a Pi
RUN apt-get update && apt-get install -y --no-install-recommends sudo && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /run/sshd /etc/malina \
 && (id ubuntu >/dev/null 2>&1 || useradd -m -s /bin/bash ubuntu) \
 && printf 'ubuntu ALL=(ALL) NOPASSWD:ALL\n' > /etc/sudoers.d/90-malina-ubuntu && chmod 0440 /etc/sudoers.d/90-malina-ubuntu
COPY buildroot/agent/ /
COPY buildroot/board/malina/rootfs-overlay/ /
COPY harness/sim/board/shims/ /usr/local/sbin/
