#!/usr/bin/env bash
# One-shot, idempotent set-up of a Debian 12 machine (as root) for malina:
# Debian packages, the docker engine (started when none answers), the Python venv, the base image.
# A second run does nothing that is already done and takes seconds.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)

say() { printf 'setup: %s\n' "$*" >&2; }

# --- Debian packages -------------------------------------------------------------------------------------
APT_PACKAGES=(
    # the docker engine and the base image builder
    docker.io debootstrap iptables iproute2
    # Kea 2.2 for the hook: headers, boost, the server (unit/integration tests), perfdhcp (kea-admin)
    kea-dev libboost-dev libboost-system-dev kea-dhcp4-server kea-ctrl-agent kea-admin
    libcurl4-openssl-dev g++ make pkg-config googletest libgtest-dev
    # backend tests against a real PostgreSQL; stand-in static backend for the hook benchmark
    postgresql nginx-light
    # installer agent and card images on the host
    curl jq xz-utils e2fsprogs mtools dosfstools fdisk util-linux bmap-tools openssl
    # the install benchmark's throttled SD card (a FUSE file: libfuse2 for fusepy, fusermount3)
    libfuse2 fuse3
    # harness tests: a real sshd for paramiko, captures, shell lint
    openssh-server openssh-client tcpdump shellcheck
    # the emulated rack: a pseudo-terminal bridged to a simulated board's UART (a real serial device path)
    socat
    # the backend's web page tested in a real headless browser (selenium drives chromium through its driver)
    chromium chromium-driver
    # python venv
    python3-venv
)
# The Allure CLI runs on a JRE and comes from the npm registry: use the machine's own when present.
command -v java >/dev/null 2>&1 || APT_PACKAGES+=(default-jre-headless)
command -v npm >/dev/null 2>&1 || APT_PACKAGES+=(npm)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    say "Debian packages present"
fi

# --- docker engine ---------------------------------------------------------------------------------------
bash scripts/ensure-docker.sh

# --- Python venv (alone: `make venv`, all lint and lock need) ---------------------------------------------
bash scripts/venv.sh

# --- Allure report CLI (from the npm registry; bundles the Allure jar, runs on the JRE) ------------------
if [ ! -x "$REPO/build/allure/node_modules/.bin/allure" ]; then
    say "installing the Allure CLI (npm allure-commandline)"
    mkdir -p "$REPO/build/allure"
    (cd "$REPO/build/allure" && npm install --silent --no-audit --no-fund allure-commandline@2.46.1 >/dev/null) ||
        say "warning: the Allure CLI did not install; 'make report' will say so"
fi

# --- base image ------------------------------------------------------------------------------------------
bash scripts/base-image.sh
say "done"
