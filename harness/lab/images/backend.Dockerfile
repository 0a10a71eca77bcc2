# syntax=docker/dockerfile:1
# The provisioning service as the lab runs it: backend/ and the `backend` extra of pyproject.toml, nothing
# else (no harness, no pytest, no scapy). `malina-backend` is the service's command (backend.cli).
# Python packages come only from the wheelhouse built on the host (build/wheelhouse/backend): no index inside.
FROM debian:bookworm-slim AS backend
ARG DEBIAN_FRONTEND=noninteractive
# iproute2: the lab adds the route to the access subnets via the relay inside the container (ip route)
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv iproute2 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY build/wheelhouse/backend /tmp/wheelhouse
COPY requirements.lock /tmp/
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheelhouse \
      -r /tmp/wheelhouse/requirements.txt -c /tmp/requirements.lock \
 && rm -rf /tmp/wheelhouse \
 && printf '#!/bin/sh\nexec /opt/venv/bin/python -m backend.cli "$@"\n' > /usr/local/bin/malina-backend \
 && chmod 755 /usr/local/bin/malina-backend
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONPATH=/opt/malina
COPY backend /opt/malina/backend
WORKDIR /opt/malina
