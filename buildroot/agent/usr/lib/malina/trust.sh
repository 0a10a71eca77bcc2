# shellcheck shell=bash
# malina installer: whom the agent trusts (issue 13.3). Sourced by /usr/bin/malina-agent after common.sh.
#
# - The install URL (option 224) is followed only when its origin (scheme://host:port) is listed in
#   MALINA_ORIGINS_FILE (/etc/malina/allowed-origins, installed by the malina-agent package from
#   BR2_PACKAGE_MALINA_AGENT_ALLOWED_ORIGINS): anyone on the segment can answer DHCP, nobody else can change
#   the image. A missing or empty list trusts no origin.
# - https: curl verifies the server against MALINA_CA_FILE (/etc/malina/ca.pem, from
#   BR2_PACKAGE_MALINA_AGENT_CA_FILE) instead of a system store the ramdisk does not have.
# - The Pi has no RTC: before the first https call the clock is set, from the NTP servers of DHCP option 42
#   when offered, else from the Date header of the backend's /v1/health. Never backwards.

# origin_of URL: scheme://host:port, lower-case, with the scheme's default port made explicit; fails for a URL
# that is not http(s) or carries user info.
origin_of() {
	local url=${1,,} scheme rest hostport host port
	[[ $url =~ ^(https?)://([^/?#]*) ]] || return 1
	scheme=${BASH_REMATCH[1]}
	hostport=${BASH_REMATCH[2]}
	[[ -n $hostport && $hostport != *@* ]] || return 1
	if [[ $hostport =~ ^(\[[0-9a-f:.]+\])(:([0-9]+))?$ || $hostport =~ ^([a-z0-9.-]+)(:([0-9]+))?$ ]]; then
		host=${BASH_REMATCH[1]}
		port=${BASH_REMATCH[3]}
	else
		return 1
	fi
	rest=$([[ $scheme == https ]] && echo 443 || echo 80)
	port=${port:-$rest}
	printf '%s://%s:%s' "$scheme" "$host" "$((10#$port))"
}

# origin_allowed URL: whether the URL's origin is in MALINA_ORIGINS_FILE (one origin per line, # comments; a
# listed origin without a port means the scheme's default port).
origin_allowed() {
	local want line listed
	want=$(origin_of "$1") || return 1
	[[ -r $MALINA_ORIGINS_FILE ]] || return 1
	while IFS= read -r line || [[ -n $line ]]; do
		line=${line%%#*}
		line=${line//[[:space:]]/}
		[[ -n $line ]] || continue
		listed=$(origin_of "$line") || continue
		[[ $listed == "$want" ]] && return 0
	done <"$MALINA_ORIGINS_FILE"
	return 1
}

# use_ca: point curl at the image's CA file (CURL_CA_BUNDLE, read by every curl the agent runs).
use_ca() {
	if [[ -n $MALINA_CA_FILE && -r $MALINA_CA_FILE ]]; then
		export CURL_CA_BUNDLE=$MALINA_CA_FILE
	fi
}

# tls_refused CURL_STATUS: whether curl failed because the server could not prove itself (handshake, certificate
# not signed by the CA file, unreadable CA file), as opposed to an unreachable or refusing server.
tls_refused() {
	case $1 in
	35 | 51 | 53 | 54 | 58 | 59 | 60 | 64 | 66 | 77 | 80 | 82 | 83 | 90 | 91) return 0 ;;
	*) return 1 ;;
	esac
}

# ntp_servers: MALINA_NTP_SERVERS, else option 42 of the lease (udhcpc's ntpsrv=, networkd's NTP=).
ntp_servers() {
	local servers=$MALINA_NTP_SERVERS lease
	if [[ -z $servers && -r $MALINA_DHCP_ENV ]]; then
		servers=$(sed -n 's/^ntpsrv=\([0-9. ]*\)$/\1/p' "$MALINA_DHCP_ENV" | head -n 1)
	fi
	if [[ -z $servers ]]; then
		lease=$(default_lease_file)
		[[ -n $lease && -r $lease ]] && servers=$(sed -n 's/^NTP=\([0-9. ]*\)$/\1/p' "$lease" | head -n 1)
	fi
	printf '%s' "$servers"
}

# clock_from_ntp: one busybox ntpd query (-q: set the clock once and exit) per server until one works.
clock_from_ntp() {
	local server
	for server in $(ntp_servers); do
		if timeout "$MALINA_CONNECT_TIMEOUT" ntpd -n -q -p "$server" >/dev/null 2>&1; then
			log "clock set from NTP server $server (DHCP option 42): $(date -u +%Y-%m-%dT%H:%M:%SZ)"
			return 0
		fi
		warn "NTP server $server did not answer"
	done
	return 1
}

# clock_from_backend URL: the Date header of ORIGIN/v1/health. This one request cannot verify the certificate
# (the clock is what is wrong), so it carries nothing (no token) and its answer is used for the time only; the
# clock only moves forward, and every later call verifies the certificate against the CA with that time.
clock_from_backend() {
	local origin date_line epoch now
	origin=$(origin_of "$1") || return 1
	date_line=$(curl -sS -k -I --connect-timeout "$MALINA_CONNECT_TIMEOUT" --max-time "$MALINA_CONNECT_TIMEOUT" \
		-- "$origin/v1/health" 2>/dev/null | tr -d '\r' | sed -n 's/^[Dd]ate:[[:space:]]*//p' | head -n 1)
	[[ -n $date_line ]] || return 1
	epoch=$(date -u -d "$date_line" +%s 2>/dev/null) || return 1
	now=$(date -u +%s)
	if ((epoch > now)); then
		$MALINA_SET_TIME_CMD "@$epoch" >/dev/null 2>&1 || { warn "cannot set the clock to $date_line"; return 1; }
	fi
	log "clock set from the backend's Date header ($origin): $(date -u +%Y-%m-%dT%H:%M:%SZ)"
}

# prepare_tls URL: for an https URL, the CA and the clock, before the first https call.
prepare_tls() {
	use_ca
	[[ ${1,,} == https://* ]] || return 0
	[[ $MALINA_CLOCK == skip ]] && return 0
	clock_from_ntp || clock_from_backend "$1" ||
		warn "the clock could not be set (no NTP from DHCP option 42, no Date from the backend): TLS may fail"
}
