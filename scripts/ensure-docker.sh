#!/usr/bin/env bash
# Make sure a docker engine answers: when none does, start dockerd in the background and wait for it.
set -euo pipefail

LOG=${DOCKERD_LOG:-/var/log/malina-dockerd.log}
if docker info >/dev/null 2>&1; then
    echo "docker: engine answers" >&2
    exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
    echo "docker: dockerd is not installed (package docker.io)" >&2
    exit 1
fi
echo "docker: starting dockerd in the background (log: $LOG)" >&2
if command -v systemctl >/dev/null 2>&1 && systemctl start docker >/dev/null 2>&1; then
    :
else
    nohup dockerd >"$LOG" 2>&1 &
fi
for _ in $(seq 1 120); do
    if docker info >/dev/null 2>&1; then
        echo "docker: engine answers" >&2
        exit 0
    fi
    sleep 0.5
done
echo "docker: dockerd did not answer within 60 s; see $LOG" >&2
tail -20 "$LOG" >&2 || true
exit 1
