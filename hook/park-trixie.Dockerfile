# syntax=docker/dockerfile:1
# Interim image for the parked path's lab test (tests/hook/test_hook_parked.py): Debian 13's Kea 2.6 with
# the hook built from this tree and its unit and load tests run. To be replaced by the per-version images
# (lab.yaml services.kea.version) when those land; the stages mirror hook/Dockerfile's.
FROM debian:trixie-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends kea-dev libboost-dev libboost-system-dev \
        libcurl4-openssl-dev libgtest-dev g++ make python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY tools/ tools/
COPY src/ src/
COPY tests/ tests/
COPY libloadtests/ libloadtests/
RUN make -j2 test

FROM debian:trixie-slim AS kea-hook-park
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends kea-dhcp4-server kea-ctrl-agent libcurl4t64 iproute2 procps \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /run/kea /var/lib/kea /var/log/kea /etc/kea
# Kea 2.6.2+ refuses a control socket directory that is not mode 750
RUN chmod 750 /run/kea
COPY --from=build /src/build/libdhcp_remote_options.so /usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_remote_options.so
CMD ["kea-dhcp4", "-c", "/etc/kea/kea-dhcp4.conf"]
