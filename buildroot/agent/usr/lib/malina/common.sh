# shellcheck shell=bash
# malina installer: configuration, console logging, HTTP helpers and the option-224 lookup.
# Sourced by /usr/bin/malina-agent and /usr/bin/malina-installer (bash, set -euo pipefail).

# Every setting the agent knows, with its default. Precedence (lowest first): these defaults,
# /etc/malina/agent.conf (MALINA_CONF), the kernel command line (malina.<name>=<value>, e.g.
# malina.disk=/dev/sda, malina.url=http://...), then the process environment.
MALINA_SETTINGS=(
	"MALINA_CONF=/etc/malina/agent.conf"
	"MALINA_CMDLINE_FILE=/proc/cmdline"
	"MALINA_DISK=/dev/mmcblk0"
	"MALINA_SERIAL_FILE=/proc/device-tree/serial-number"
	"MALINA_CPUINFO_FILE=/proc/cpuinfo"
	"MALINA_IFACE=eth0"
	"MALINA_MAC="
	"MALINA_URL="
	"MALINA_RUN_DIR=/run/malina"
	"MALINA_DHCP_ENV="
	"MALINA_LEASE_FILE="
	"MALINA_DHCP_CLIENT=auto"
	"MALINA_DHCP_TIMEOUT=60"
	"MALINA_DHCP_TRIES=3"
	"MALINA_DHCP_RETRY_PAUSE=5"
	"MALINA_DHCP_CONFIGURE=1"
	"MALINA_USER_CLASS=malina"
	"MALINA_PROGRESS_INTERVAL=3"
	"MALINA_CONNECT_TIMEOUT=5"
	"MALINA_HTTP_TIMEOUT=30"
	"MALINA_STALL_SPEED=1024"
	"MALINA_STALL_TIME=30"
	"MALINA_HTTP_RETRIES=3"
	"MALINA_RESULT_RETRIES=10"
	"MALINA_REBOOT_CMD=reboot"
	"MALINA_FAILURE_REBOOT_DELAY=0"
	"MALINA_HASH=auto"
	"MALINA_SSH_UID=1000"
	"MALINA_ORIGINS_FILE=/etc/malina/allowed-origins"
	"MALINA_CA_FILE=/etc/malina/ca.pem"
	"MALINA_NTP_SERVERS="
	"MALINA_CLOCK=auto"
	"MALINA_SET_TIME_CMD=date -u -s"
)

# Size of the image head that is held in RAM and written last (MBR, and a GPT header if any).
MALINA_HEAD_BYTES=1048576

log() { printf 'malina: %s\n' "$*" >&2; }
warn() { printf 'malina: warning: %s\n' "$*" >&2; }
die() { printf 'malina: error: %s\n' "$*" >&2; exit 1; }

_malina_known() {
	local entry
	for entry in "${MALINA_SETTINGS[@]}"; do
		[[ ${entry%%=*} == "$1" ]] && return 0
	done
	return 1
}

# _malina_assign NAME VALUE: set a known setting; unknown names are ignored with a warning.
_malina_assign() {
	if _malina_known "$1"; then
		printf -v "$1" '%s' "$2"
	else
		warn "ignoring unknown setting $1"
	fi
}

malina_load_config() {
	local entry name line key value word
	local -a words=()
	local -A from_env=()
	for entry in "${MALINA_SETTINGS[@]}"; do
		name=${entry%%=*}
		if [[ -n ${!name+set} ]]; then
			from_env[$name]=${!name}
		fi
		printf -v "$name" '%s' "${entry#*=}"
	done
	[[ -n ${from_env[MALINA_CONF]+set} ]] && MALINA_CONF=${from_env[MALINA_CONF]}
	[[ -n ${from_env[MALINA_CMDLINE_FILE]+set} ]] && MALINA_CMDLINE_FILE=${from_env[MALINA_CMDLINE_FILE]}
	# The config file is parsed, never sourced: KEY=VALUE lines, optional quotes, # comments.
	if [[ -r $MALINA_CONF ]]; then
		while IFS= read -r line || [[ -n $line ]]; do
			line=${line#"${line%%[![:space:]]*}"}
			[[ -z $line || $line == \#* ]] && continue
			[[ $line =~ ^(MALINA_[A-Z0-9_]+)=(.*)$ ]] || { warn "bad line in $MALINA_CONF: $line"; continue; }
			key=${BASH_REMATCH[1]}
			value=${BASH_REMATCH[2]}
			value=${value%"${value##*[![:space:]]}"}
			if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then
				value=${BASH_REMATCH[1]}
			fi
			_malina_assign "$key" "$value"
		done <"$MALINA_CONF"
	fi
	if [[ -r $MALINA_CMDLINE_FILE ]]; then
		# the whole file, split on blanks and newlines, never globbed
		read -r -d '' -a words <"$MALINA_CMDLINE_FILE" || true
		for word in "${words[@]}"; do
			[[ $word =~ ^malina\.([a-z0-9_.-]+)=(.*)$ ]] || continue
			key=${BASH_REMATCH[1]^^}
			key=MALINA_${key//[.-]/_}
			_malina_assign "$key" "${BASH_REMATCH[2]}"
		done
	fi
	for name in "${!from_env[@]}"; do
		printf -v "$name" '%s' "${from_env[$name]}"
	done
	[[ -n $MALINA_DHCP_ENV ]] || MALINA_DHCP_ENV=$MALINA_RUN_DIR/dhcp.env
	local n
	for n in MALINA_PROGRESS_INTERVAL MALINA_CONNECT_TIMEOUT MALINA_HTTP_TIMEOUT MALINA_HTTP_RETRIES \
		MALINA_STALL_SPEED MALINA_STALL_TIME MALINA_RESULT_RETRIES MALINA_DHCP_TIMEOUT \
		MALINA_DHCP_RETRY_PAUSE MALINA_FAILURE_REBOOT_DELAY MALINA_SSH_UID; do
		[[ ${!n} =~ ^[0-9]+$ ]] || die "$n must be a non-negative integer, got '${!n}'"
	done
	[[ $MALINA_DHCP_TRIES =~ ^[1-9][0-9]*$ ]] || die "MALINA_DHCP_TRIES must be a positive integer, got '$MALINA_DHCP_TRIES'"
	export "${!MALINA_@}"
}

# --- HTTP -------------------------------------------------------------------------------------------------

# http_get URL FILE: download to FILE with bounded retries; returns curl's status.
http_get() {
	curl -fsS --connect-timeout "$MALINA_CONNECT_TIMEOUT" --max-time "$MALINA_HTTP_TIMEOUT" \
		--retry "$MALINA_HTTP_RETRIES" --retry-delay 1 --retry-connrefused -o "$2" -- "$1"
}

# http_post_fetch URL FILE: POST without a body (a call that changes state, e.g. the scenario), the answer to
# FILE, with bounded retries; returns curl's status.
http_post_fetch() {
	curl -fsS --connect-timeout "$MALINA_CONNECT_TIMEOUT" --max-time "$MALINA_HTTP_TIMEOUT" \
		--retry "$MALINA_HTTP_RETRIES" --retry-delay 1 --retry-connrefused -X POST --data-binary '' \
		-o "$2" -- "$1"
}

# http_post_json URL JSON [RETRIES [MAX_TIME]]: POST a JSON body; returns curl's status.
http_post_json() {
	local retries=${3:-0} max_time=${4:-$MALINA_HTTP_TIMEOUT}
	printf '%s' "$2" | curl -fsS -o /dev/null --connect-timeout "$MALINA_CONNECT_TIMEOUT" \
		--max-time "$max_time" --retry "$retries" --retry-delay 2 --retry-connrefused \
		-H 'Content-Type: application/json' -X POST --data-binary @- -- "$1"
}

# --- identity ---------------------------------------------------------------------------------------------

# board_serial: the board serial as the bootloader prints it (8 lower-case hex digits).
board_serial() {
	local raw=""
	if [[ -r $MALINA_SERIAL_FILE ]]; then
		raw=$(tr -d '\000[:space:]' <"$MALINA_SERIAL_FILE")
	fi
	if [[ -z $raw && -r $MALINA_CPUINFO_FILE ]]; then
		raw=$(sed -n 's/^Serial[[:space:]]*:[[:space:]]*//p' "$MALINA_CPUINFO_FILE" | head -n 1)
	fi
	normalize_serial "$raw"
}

# normalize_serial VALUE: lower-case, optional 0x dropped, the last 8 hex digits ("" when not hex).
normalize_serial() {
	local s=${1,,}
	s=${s#0x}
	[[ $s =~ ^[0-9a-f]+$ ]] || { printf ''; return 0; }
	while ((${#s} < 8)); do s=0$s; done
	printf '%s' "${s: -8}"
}

# with_identity URL: URL with this board's serial and MAC as query parameters. The backend binds an install
# token to its board: every call to it carries the identity read from the board (BOARD_SERIAL, BOARD_MAC).
with_identity() {
	local sep='?'
	[[ $1 == *\?* ]] && sep='&'
	printf '%s%sserial=%s&mac=%s' "$1" "$sep" "$BOARD_SERIAL" "$BOARD_MAC"
}

board_mac() {
	local mac=$MALINA_MAC
	if [[ -z $mac && -r /sys/class/net/$MALINA_IFACE/address ]]; then
		mac=$(<"/sys/class/net/$MALINA_IFACE/address")
	fi
	printf '%s' "${mac,,}"
}

# --- option 224 -------------------------------------------------------------------------------------------

# hex_to_text HEX: decode a hex string (upper or lower case, optional spaces/colons) to text.
hex_to_text() {
	local hex=${1//[[:space:]:]/} out="" i
	[[ $hex =~ ^([0-9A-Fa-f]{2})*$ ]] || return 1
	for ((i = 0; i < ${#hex}; i += 2)); do
		out+="\\x${hex:i:2}"
	done
	# shellcheck disable=SC2059 # the format is built from validated hex escapes only
	printf "$out" | tr -d '\000'
}

# valid_url URL: http or https, no whitespace or quotes.
valid_url() {
	[[ $1 =~ ^https?://[^[:space:]\"\'\\]+$ ]]
}

# lease_opt224 FILE: option 224 (hex) from a systemd-networkd lease file. Older networkd writes
# "OPTION_224=<hex>" lines (env style); current networkd writes JSON with
# "Private_Options": [{"Option": 224, "Data": "<hex>"}]. Both are read.
lease_opt224() {
	local file=$1 hex=""
	[[ -r $file ]] || return 1
	hex=$(sed -n 's/^OPTION_224=\([0-9A-Fa-f]*\)[[:space:]]*$/\1/p' "$file" | head -n 1)
	if [[ -z $hex ]]; then
		hex=$(jq -r '[.Private_Options[]? | select(.Option == 224) | .Data][0] // empty' "$file" 2>/dev/null ||
			true)
	fi
	[[ -n $hex ]] || return 1
	printf '%s' "$hex"
}

default_lease_file() {
	local idx
	if [[ -n $MALINA_LEASE_FILE ]]; then
		printf '%s' "$MALINA_LEASE_FILE"
	elif [[ -r /sys/class/net/$MALINA_IFACE/ifindex ]]; then
		idx=$(<"/sys/class/net/$MALINA_IFACE/ifindex")
		printf '/run/systemd/netif/leases/%s' "$idx"
	fi
}

# find_install_url: print the install URL (option 224) from, in order: MALINA_URL (env, agent.conf or
# malina.url= on the kernel command line), the udhcpc script's MALINA_DHCP_ENV file (opt224=<hex>),
# the systemd-networkd lease file. Returns 1 when none is available.
find_install_url() {
	local hex="" url="" lease
	if [[ -n $MALINA_URL ]]; then
		url=$MALINA_URL
	else
		if [[ -r $MALINA_DHCP_ENV ]]; then
			hex=$(sed -n 's/^opt224=\([0-9A-Fa-f]*\)$/\1/p' "$MALINA_DHCP_ENV" | head -n 1)
		fi
		if [[ -z $hex ]]; then
			lease=$(default_lease_file)
			[[ -n $lease ]] && hex=$(lease_opt224 "$lease" || true)
		fi
		[[ -n $hex ]] || return 1
		url=$(hex_to_text "$hex") || return 1
	fi
	valid_url "$url" || { warn "option 224 is not an http(s) URL: $url"; return 1; }
	printf '%s' "$url"
}

# --- disk -------------------------------------------------------------------------------------------------

# disk_size DISK: size in bytes of a block device or a regular file standing in for one.
disk_size() {
	if [[ -b $1 ]]; then
		blockdev --getsize64 "$1"
	else
		stat -L -c %s -- "$1"
	fi
}

# drop_card_cache DISK: forget what the kernel cached of the card, so that the next reads come from the card
# itself (a read-back served from RAM proves nothing). Call it after a flush (sync DISK): only clean pages can
# be dropped. posix_fadvise(POSIX_FADV_DONTNEED) over the whole file, through GNU dd's "iflag=nocache
# count=0" (coreutils is in the image), works on a block device and on the regular file standing in for one
# (tests, the simulator), needs no privilege and leaves the rest of the system's cache alone. Not chosen:
# /proc/sys/vm/drop_caches (global, root only), O_DIRECT reads (need 512-aligned lengths, which image sizes
# and a bmap's last range are not, and file systems that take them: tmpfs did not before Linux 6.6). On a
# block device the kernel's BLKFLSBUF (blockdev --flushbufs, root) is added; its failure is not fatal, the
# fadvise drop already happened. The card's own internal cache is beyond any host's reach.
drop_card_cache() {
	dd if="$1" iflag=nocache count=0 status=none || return 1
	if [[ -b $1 ]]; then
		blockdev --flushbufs "$1" 2>/dev/null || warn "blockdev --flushbufs $1 failed (the fadvise drop stands)"
	fi
	return 0
}

# zero_head DISK: make the card unbootable (no MBR, no GPT header), durably.
zero_head() {
	dd if=/dev/zero of="$1" bs="$MALINA_HEAD_BYTES" count=1 conv=notrunc,fsync status=none
}

now_ms() {
	local t
	t=$(date +%s%N)
	printf '%s' $((t / 1000000))
}
