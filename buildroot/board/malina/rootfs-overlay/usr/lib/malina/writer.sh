# shellcheck shell=bash disable=SC2034 # globals are read by the sourcing scripts
# malina installer: the verified streaming write.
#
#   curl URL | [xz -dc] | head (first MALINA_HEAD_BYTES to RAM) | tee hash-fifo | card from the head offset on
#                                                                   `-> sha256 of the decompressed stream
#
# The card's head (MBR) is zeroed durably before the body is written and the real head is written last,
# only after the stream ended at the expected size with the expected sha256 and the body was flushed. A
# short read, a hash mismatch, a dead stream or a power cut therefore leave a card that does not boot (the
# Pi falls back to netboot). With a bmap, only the mapped ranges of the body are written (the whole
# stream is still hashed). Needs common.sh. Sets WRITE_SHA256, WRITE_BYTES and WRITE_ERROR.

WRITE_SHA256=""
WRITE_BYTES=0
WRITE_ERROR=""
WRITE_MS=0

_hash_cmd() {
	local mode=$MALINA_HASH
	if [[ $mode == auto ]]; then
		if command -v openssl >/dev/null 2>&1; then mode=openssl; else mode=sha256sum; fi
	fi
	case $mode in
	openssl) openssl dgst -sha256 -r ;;
	sha256sum) sha256sum ;;
	*) die "MALINA_HASH must be auto, openssl or sha256sum" ;;
	esac
}

# _fd_pos PID FD: the file offset of an open descriptor (0 when unknown).
_fd_pos() {
	local pos
	pos=$(sed -n 's/^pos:[[:space:]]*//p' "/proc/$1/fdinfo/$2" 2>/dev/null || true)
	printf '%s' "${pos:-0}"
}

# _dd_bytes OUTPUT: the byte count from GNU dd's final statistics line.
_dd_bytes() {
	local line
	line=$(printf '%s\n' "$1" | sed -n 's/^\([0-9][0-9]*\) bytes\{0,1\} .*copied.*/\1/p' | tail -n 1)
	printf '%s' "${line:-0}"
}

# parse_bmap FILE SIZE OUT: check a bmaptool XML file (format 1.x or 2.x) against the image size and write
# its mapped ranges as "first_byte end_byte" lines (end exclusive, sorted, merged) to OUT.
parse_bmap() {
	local file=$1 size=$2 out=$3 image_size block_size blocks
	image_size=$(sed -n 's:.*<ImageSize>[[:space:]]*\([0-9][0-9]*\)[[:space:]]*</ImageSize>.*:\1:p' "$file")
	block_size=$(sed -n 's:.*<BlockSize>[[:space:]]*\([0-9][0-9]*\)[[:space:]]*</BlockSize>.*:\1:p' "$file")
	blocks=$(sed -n 's:.*<BlocksCount>[[:space:]]*\([0-9][0-9]*\)[[:space:]]*</BlocksCount>.*:\1:p' "$file")
	grep -q '<bmap[[:space:]]' "$file" || { WRITE_ERROR="bmap: not a bmap file"; return 1; }
	[[ -n $image_size && -n $block_size && -n $blocks ]] ||
		{ WRITE_ERROR="bmap: ImageSize, BlockSize or BlocksCount missing"; return 1; }
	[[ $image_size == "$size" ]] ||
		{ WRITE_ERROR="bmap: ImageSize $image_size differs from the image size $size"; return 1; }
	((block_size > 0 && block_size % 512 == 0)) || { WRITE_ERROR="bmap: bad BlockSize $block_size"; return 1; }
	((blocks == (size + block_size - 1) / block_size)) ||
		{ WRITE_ERROR="bmap: BlocksCount $blocks does not match ImageSize"; return 1; }
	if ! sed -n 's:.*<Range[^>]*>[[:space:]]*\([^<]*[^[:space:]<]\)[[:space:]]*</Range>.*:\1:p' "$file" |
		awk -v bs="$block_size" -v blocks="$blocks" -v size="$size" '
			BEGIN { n = 0; last_end = -1 }
			{
				if ($0 ~ /^[0-9]+$/) { a = $0 + 0; b = a }
				else if ($0 ~ /^[0-9]+-[0-9]+$/) { split($0, p, "-"); a = p[1] + 0; b = p[2] + 0 }
				else { print "bmap: bad range \"" $0 "\"" > "/dev/stderr"; exit 1 }
				if (b < a || b >= blocks) { print "bmap: range " $0 " out of bounds" > "/dev/stderr"; exit 1 }
				if (a <= last_end) { print "bmap: ranges overlap or are unsorted at " $0 > "/dev/stderr"; exit 1 }
				s = a * bs; e = (b + 1) * bs; if (e > size) e = size
				if (n > 0 && s == cur_e) { cur_e = e } else { if (n > 0) printf "%d %d\n", cur_s, cur_e; cur_s = s; cur_e = e }
				n++; last_end = b
			}
			END { if (n > 0) printf "%d %d\n", cur_s, cur_e }' >"$out" 2>"$out.err"; then
		WRITE_ERROR=$(head -n 1 "$out.err")
		return 1
	fi
	return 0
}

# _fetch_stream URL COMPRESSION: the decompressed image on stdout.
_fetch_stream() {
	if [[ $2 == xz ]]; then
		curl -fsS --connect-timeout "$MALINA_CONNECT_TIMEOUT" -- "$1" | xz -dc
	else
		curl -fsS --connect-timeout "$MALINA_CONNECT_TIMEOUT" -- "$1"
	fi
}

# _write_body RANGES: runs as the last pipeline stage. stdin = decompressed image, fd 7 = the card (offset
# 0). Puts the head in RAM and into the hash fifo, zeroes the card's head, then writes the body.
_write_body() {
	local ranges=$1 run=$MALINA_RUN_DIR head_bytes=$MALINA_HEAD_BYTES got pos wpos start end n out
	exec 5>"$run/hash.fifo" # keeps the hasher's input open across the stages below
	dd bs="$head_bytes" count=1 iflag=fullblock of="$run/head.bin" status=none || exit 21
	got=$(stat -c %s "$run/head.bin")
	if ((got < head_bytes)); then
		cat "$run/head.bin" >&5
		printf '%s\n' "$got" >"$run/stream.bytes"
		exit 22
	fi
	cat "$run/head.bin" >&5
	# Zero the head durably through fd 7: this also leaves fd 7's offset at the start of the body.
	dd if=/dev/zero bs="$head_bytes" count=1 conv=notrunc,fsync status=none >&7 || exit 23
	touch "$run/card.touched"
	if [[ -z $ranges ]]; then
		# tee writes in 8 KiB pieces; dd regroups them into 4 MiB writes for the card (fd 7's offset is shared)
		tee "$run/hash.fifo" | dd bs=4M iflag=fullblock conv=notrunc status=none >&7 || exit 24
		_fd_pos "$BASHPID" 7 >"$run/stream.bytes"
		exit 0
	fi
	# bmap: the whole stream goes to the hasher, only mapped ranges to the card.
	# dd seeks its stdout relative to the current offset, so wpos tracks fd 7's offset.
	tee "$run/hash.fifo" | {
		pos=$head_bytes
		wpos=$head_bytes
		while read -r start end <&9; do
			((end > head_bytes)) || continue
			((start < head_bytes)) && start=$head_bytes
			if ((start > pos)); then
				printf '%s\n' "$pos" >"$run/stream.pos"
				out=$(dd bs=4M iflag=fullblock,count_bytes count=$((start - pos)) of=/dev/null 2>&1) || exit 25
				n=$(_dd_bytes "$out")
				pos=$((pos + n))
				((pos == start)) || { printf '%s\n' "$pos" >"$run/stream.bytes"; exit 26; }
			fi
			printf '%s\n' "$pos" >"$run/stream.pos"
			out=$(dd bs=4M iflag=fullblock,count_bytes count=$((end - start)) oflag=seek_bytes \
				seek=$((start - wpos)) conv=notrunc 2>&1 >&7) || exit 27
			n=$(_dd_bytes "$out")
			pos=$((pos + n))
			wpos=$pos
			((pos == end)) || { printf '%s\n' "$pos" >"$run/stream.bytes"; exit 26; }
		done 9<"$ranges"
		printf '%s\n' "$pos" >"$run/stream.pos"
		out=$(dd bs=4M of=/dev/null 2>&1) || exit 25
		n=$(_dd_bytes "$out")
		printf '%s\n' $((pos + n)) >"$run/stream.bytes"
	} || exit $?
	exit 0
}

# _progress_loop TOTAL PROGRESS_URL: report phase "writing" every MALINA_PROGRESS_INTERVAL seconds.
_progress_loop() {
	local total=$1 url=$2 run=$MALINA_RUN_DIR t0 t pos alt rate eta body
	t0=$(now_ms)
	while sleep "$MALINA_PROGRESS_INTERVAL"; do
		pos=$(_fd_pos "$WRITE_OWNER_PID" 7)
		alt=$(cat "$run/stream.pos" 2>/dev/null || echo 0)
		((alt > pos)) && pos=$alt
		((pos > total)) && pos=$total
		t=$(($(now_ms) - t0))
		((t > 0)) || t=1
		rate=$((pos * 1000 / t))
		eta=-1
		((rate > 0)) && eta=$(((total - pos) / rate))
		log "$(printf 'writing %d/%d MiB (%d%%) %d.%d MiB/s ETA %s s' $((pos >> 20)) $((total >> 20)) \
			$((pos * 100 / total)) $((rate >> 20)) $(((rate % 1048576) * 10 / 1048576)) "$eta")"
		if [[ -n $url ]]; then
			body=$(printf '{"phase":"writing","bytes_written":%d,"bytes_total":%d,"rate_bps":%d}' \
				"$pos" "$total" "$rate")
			http_post_json "$url" "$body" 0 2>/dev/null || true
		fi
	done
}

# write_image DISK URL SHA256 SIZE COMPRESSION [BMAP_FILE] [PROGRESS_URL]
# Returns 0 only when the card holds the verified body (flushed) and its head is zero; the verified head is
# in $MALINA_RUN_DIR/head.bin for commit_head (the caller may configure the rootfs in between).
write_image() {
	local disk=$1 url=$2 sha=${3,,} size=$4 comp=$5 bmap=${6:-} progress_url=${7:-}
	local run=$MALINA_RUN_DIR ranges="" hpid rpid="" rc t0 statuses got
	WRITE_SHA256="" WRITE_BYTES=0 WRITE_ERROR=""
	[[ $sha =~ ^[0-9a-f]{64}$ ]] || { WRITE_ERROR="bad sha256 '$sha'"; return 1; }
	if ! [[ $size =~ ^[0-9]+$ ]] || ((size <= MALINA_HEAD_BYTES)); then
		WRITE_ERROR="bad image size '$size' (must exceed $MALINA_HEAD_BYTES bytes)"
		return 1
	fi
	[[ $comp == xz || $comp == none ]] || { WRITE_ERROR="unknown compression '$comp'"; return 1; }
	[[ -e $disk ]] || { WRITE_ERROR="card $disk not found"; return 1; }
	[[ -w $disk ]] || { WRITE_ERROR="card $disk not writable"; return 1; }
	local card
	card=$(disk_size "$disk") || { WRITE_ERROR="cannot read the size of $disk"; return 1; }
	if ((card < size)); then
		WRITE_ERROR="card too small: $disk has $card bytes, the image needs $size"
		return 1
	fi
	mkdir -p "$run"
	rm -f "$run/hash.fifo" "$run/hash.out" "$run/head.bin" "$run/stream.bytes" "$run/stream.pos" \
		"$run/card.touched" "$run/ranges"
	if [[ -n $bmap ]]; then
		parse_bmap "$bmap" "$size" "$run/ranges" || return 1
		ranges=$run/ranges
	fi
	mkfifo "$run/hash.fifo"
	_hash_cmd <"$run/hash.fifo" >"$run/hash.out" &
	hpid=$!
	exec 7<>"$disk"
	WRITE_OWNER_PID=$BASHPID
	if ((MALINA_PROGRESS_INTERVAL > 0)); then
		_progress_loop "$size" "$progress_url" &
		rpid=$!
	fi
	t0=$(now_ms)
	set +e
	_fetch_stream "$url" "$comp" | _write_body "$ranges"
	statuses=("${PIPESTATUS[@]}")
	set -e
	exec 7>&-
	# If the writer never opened the fifo, unblock the hasher (O_RDWR on a fifo never blocks).
	exec 8<>"$run/hash.fifo"
	exec 8>&-
	wait "$hpid" || true
	if [[ -n $rpid ]]; then
		kill "$rpid" 2>/dev/null || true
		wait "$rpid" 2>/dev/null || true
	fi
	got=$(cat "$run/stream.bytes" 2>/dev/null || echo 0)
	WRITE_BYTES=$got
	WRITE_SHA256=$(cut -d ' ' -f 1 "$run/hash.out" 2>/dev/null || true)
	WRITE_MS=$(($(now_ms) - t0))
	rc=0
	if ((statuses[0] != 0)); then
		WRITE_ERROR="download failed (curl/xz status ${statuses[0]}) after $got of $size bytes"
		rc=1
	elif ((statuses[1] != 0)); then
		WRITE_ERROR="write failed (writer status ${statuses[1]}) after $got of $size bytes"
		rc=1
	elif ((got != size)); then
		WRITE_ERROR="short image: got $got of $size bytes"
		((got > size)) && WRITE_ERROR="image longer than announced: got $got, expected $size bytes"
		rc=1
	elif [[ $WRITE_SHA256 != "$sha" ]]; then
		WRITE_ERROR="sha256 mismatch: got ${WRITE_SHA256:-none}, expected $sha"
		rc=1
	fi
	if ((rc != 0)); then
		# The head was zeroed before any body byte was written; keep it that way.
		[[ -e $run/card.touched ]] && { zero_head "$disk" || true; }
		return 1
	fi
	# The body is made durable here; the head stays in RAM until commit_head.
	sync "$disk"
	WRITE_MS=$(($(now_ms) - t0))
	return 0
}

# commit_head DISK: write the verified image's head (MBR) last, durably, then re-read the partition table.
commit_head() {
	local disk=$1 run=$MALINA_RUN_DIR
	[[ -s $run/head.bin ]] || { WRITE_ERROR="no verified head to write"; return 1; }
	if ! dd if="$run/head.bin" of="$disk" bs="$MALINA_HEAD_BYTES" count=1 conv=notrunc,fsync status=none; then
		WRITE_ERROR="writing the card's head failed"
		zero_head "$disk" || true
		return 1
	fi
	rm -f "$run/head.bin" "$run/hash.fifo"
	if [[ -b $disk ]]; then
		blockdev --rereadpt "$disk" 2>/dev/null || partx -u "$disk" 2>/dev/null ||
			warn "could not re-read the partition table of $disk"
	fi
	return 0
}
