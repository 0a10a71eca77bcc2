#!/usr/bin/env bash
# Make sure debian:<suite>-slim exists locally (suite: first argument, default bookworm; trixie and forky
# carry newer Kea releases). Try a pull first (works where a registry is reachable); otherwise build it
# with debootstrap from the host's configured Debian mirror and `docker import` it under that tag.
set -euo pipefail

SUITE="${1:-bookworm}"
case "$SUITE" in
    bookworm | trixie | forky) ;;
    *) echo "base image: unknown suite '$SUITE' (bookworm, trixie or forky)" >&2; exit 2 ;;
esac
TAG="${BASE_IMAGE_TAG:-debian:$SUITE-slim}"
DOCKER="${DOCKER:-docker}"

if "$DOCKER" image inspect "$TAG" >/dev/null 2>&1; then
    echo "base image: $TAG present"
    exit 0
fi

if timeout 20 "$DOCKER" pull "$TAG" >/dev/null 2>&1; then
    echo "base image: pulled $TAG"
    exit 0
fi

mirror_from_sources() {
    local uri=""
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    fi
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list)
    fi
    printf '%s\n' "$uri"
}

MIRROR="${DEBIAN_MIRROR:-$(mirror_from_sources)}"
if [ -z "$MIRROR" ]; then
    echo "base image: cannot find a Debian mirror in /etc/apt sources; set DEBIAN_MIRROR" >&2
    exit 1
fi

work=$(mktemp -d /var/tmp/malina-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
echo "base image: debootstrap $SUITE (minbase) from the configured mirror; this takes a few minutes"
# debootstrap knows a suite by its script; the testing suite (forky) bootstraps as sid does.
script=/usr/share/debootstrap/scripts/$SUITE
[ -e "$script" ] || script=/usr/share/debootstrap/scripts/sid
debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$root" "$MIRROR" "$script" 2>&1 |
    awk '/^I: (Retrieving|Validating|Extracting|Unpacking|Configuring) / {n++; if (n % 25 == 0) {printf "  debootstrap: %d steps (%s)\n", n, $2; fflush()}} /^[EW]:/ {print; fflush()}'

# Make it slim the way the official image is: no docs, no apt lists, no caches.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* \
    "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/log/*.log
cat > "$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
CFG
# Same mirror the host uses, with the image's own suite, so image builds reach only the Debian archive.
sources=/etc/apt/sources.list.d/debian.sources
if [ -f "$sources" ]; then
    sed "s/bookworm/$SUITE/g" "$sources" >"$root/etc/apt/sources.list.d/debian.sources"
    rm -f "$root/etc/apt/sources.list"
else
    sed "s/bookworm/$SUITE/g" /etc/apt/sources.list >"$root/etc/apt/sources.list"
fi

# The archive may be a dated snapshot: a testing suite's Release file (forky) carries a Valid-Until of a few
# days, so apt would refuse it as expired. Signatures are still checked.
cat >"$root/etc/apt/apt.conf.d/99malina-release-age" <<'APT'
Acquire::Check-Valid-Until "false";
APT

echo "base image: importing as $TAG"
tar -C "$root" -c . | "$DOCKER" import --change 'CMD ["bash"]' - "$TAG" >/dev/null
echo "base image: $TAG built"
