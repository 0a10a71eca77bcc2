# shellcheck shell=bash disable=SC2034 # globals are read by the sourcing scripts
# malina installer: the verified streaming write.
#
#   curl URL | [xz -dc] | head (first MALINA_HEAD_BYTES to RAM) | tee >(sha256) | card from the head offset on
#                                                                      `-> sha256 of the decompressed stream
#
# The card's head (MBR) is zeroed durably before the body is written and the real head is written last,
# only after the stream ended at the expected size with the expected sha256 and the body was flushed. A
# short read, a hash mismatch, a dead or stalled stream, a write or flush error or a power cut therefore
# leave a card that does not boot (the Pi falls back to netboot). With a bmap, only the mapped ranges of
# the body are written; the whole stream is still hashed and every byte the bmap leaves unmapped must be
# zero (a wrong or stale bmap fails the write). Needs common.sh. Sets WRITE_SHA256, WRITE_BYTES,
# WRITE_ERROR and WRITE_TOUCHED (1 once the card may have been changed).
#
# Then readback_image drops the kernel's cache of the card and hashes what the card returns (the head from
# RAM, the body from the card: all of it, or with a bmap its mapped ranges and zeros for the rest) against the
# image's sha256: a card that drops writes, wraps around past a fake capacity or flips bits fails here.
# commit_head reads the head back too.

WRITE_SHA256=""
WRITE_BYTES=0
WRITE_ERROR=""
WRITE_MS=0
WRITE_TOUCHED=0
WRITE_HASH_MODE=""
WRITE_SPARSE_PROBE=0
WRITE_RANGES=""
VERIFY_SHA256=""
VERIFY_READ=0
VERIFY_MS=0

SHA256_EMPTY=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

# _hash_mode: the hash tool MALINA_HASH names (auto: openssl when present, else sha256sum); 1 when unusable.
_hash_mode() {
	local mode=$MALINA_HASH
	if [[ $mode == auto ]]; then
		if command -v openssl >/dev/null 2>&1; then mode=openssl; else mode=sha256sum; fi
	fi
	case $mode in
	openssl | sha256sum) command -v "$mode" >/dev/null 2>&1 || return 1 ;;
	*) return 1 ;;
	esac
	printf '%s' "$mode"
}

# _hash_cmd MODE: sha256 of stdin, as "<hex> ..." on stdout.
_hash_cmd() {
	case $1 in
	openssl) openssl dgst -sha256 -r ;;
	sha256sum) sha256sum ;;
	*) return 1 ;;
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

# _uint VALUE: true when VALUE is a decimal integer that fits bash's 64-bit arithmetic comfortably.
_uint() { [[ $1 =~ ^[0-9]{1,18}$ ]]; }

# parse_bmap FILE SIZE OUT: check a bmaptool XML file (format 1.x or 2.x) against the image size and write
# its mapped ranges as "first_byte end_byte" lines (end exclusive, sorted, merged) to OUT. All arithmetic
# is bash's (64-bit): no awk, whose printf "%d" is 32-bit in busybox and mawk.
parse_bmap() {
	local file=$1 size=$2 out=$3 image_size block_size blocks line a b s e cur_s=-1 cur_e=-1 last_end=-1
	image_size=$(sed -n 's:.*<ImageSize>[[:space:]]*\([0-9][0-9]*\)[[:space:]]*</ImageSize>.*:\1:p' "$file")
	block_size=$(sed -n 's:.*<BlockSize>[[:space:]]*\([0-9][0-9]*\)[[:space:]]*</BlockSize>.*:\1:p' "$file")
	blocks=$(sed -n 's:.*<BlocksCount>[[:space:]]*\([0-9][0-9]*\)[[:space:]]*</BlocksCount>.*:\1:p' "$file")
	grep -q '<bmap[[:space:]]' "$file" || { WRITE_ERROR="bmap: not a bmap file"; return 1; }
	[[ -n $image_size && -n $block_size && -n $blocks ]] ||
		{ WRITE_ERROR="bmap: ImageSize, BlockSize or BlocksCount missing"; return 1; }
	if ! _uint "$image_size" || ! _uint "$block_size" || ! _uint "$blocks"; then
		WRITE_ERROR="bmap: ImageSize, BlockSize or BlocksCount out of range"
		return 1
	fi
	image_size=$((10#$image_size)) block_size=$((10#$block_size)) blocks=$((10#$blocks))
	((image_size == size)) ||
		{ WRITE_ERROR="bmap: ImageSize $image_size differs from the image size $size"; return 1; }
	((block_size > 0 && block_size % 512 == 0)) || { WRITE_ERROR="bmap: bad BlockSize $block_size"; return 1; }
	((blocks == (size + block_size - 1) / block_size)) ||
		{ WRITE_ERROR="bmap: BlocksCount $blocks does not match ImageSize"; return 1; }
	: >"$out" || { WRITE_ERROR="bmap: cannot write $out"; return 1; }
	while IFS= read -r line; do
		if [[ $line =~ ^([0-9]{1,18})$ ]]; then
			a=$((10#${BASH_REMATCH[1]})) b=$a
		elif [[ $line =~ ^([0-9]{1,18})-([0-9]{1,18})$ ]]; then
			a=$((10#${BASH_REMATCH[1]})) b=$((10#${BASH_REMATCH[2]}))
		else
			WRITE_ERROR="bmap: bad range \"$line\""
			return 1
		fi
		((b >= a && b < blocks)) || { WRITE_ERROR="bmap: range $line out of bounds"; return 1; }
		((a > last_end)) || { WRITE_ERROR="bmap: ranges overlap or are unsorted at $line"; return 1; }
		s=$((a * block_size)) e=$(((b + 1) * block_size))
		((e > size)) && e=$size
		if ((cur_s >= 0 && s == cur_e)); then
			cur_e=$e
		else
			if ((cur_s >= 0)); then printf '%d %d\n' "$cur_s" "$cur_e" >>"$out" || return 1; fi
			cur_s=$s cur_e=$e
		fi
		last_end=$b
	done < <(sed -n 's:.*<Range[^>]*>[[:space:]]*\([^<]*[^[:space:]<]\)[[:space:]]*</Range>.*:\1:p' "$file")
	if ((cur_s >= 0)); then printf '%d %d\n' "$cur_s" "$cur_e" >>"$out" || return 1; fi
	return 0
}

# _fetch_stream URL COMPRESSION: the decompressed image on stdout; curl's status to $MALINA_RUN_DIR/curl.rc.
# A transfer slower than MALINA_STALL_SPEED bytes/s for MALINA_STALL_TIME seconds is aborted (curl 28).
_fetch_stream() {
	local run=$MALINA_RUN_DIR
	if [[ $2 == xz ]]; then
		{
			curl -fsS --connect-timeout "$MALINA_CONNECT_TIMEOUT" --speed-limit "$MALINA_STALL_SPEED" \
				--speed-time "$MALINA_STALL_TIME" -- "$1"
			printf '%s\n' "$?" >"$run/curl.rc"
		} | xz -dc
	else
		curl -fsS --connect-timeout "$MALINA_CONNECT_TIMEOUT" --speed-limit "$MALINA_STALL_SPEED" \
			--speed-time "$MALINA_STALL_TIME" -- "$1"
		local rc=$?
		printf '%s\n' "$rc" >"$run/curl.rc"
		return "$rc"
	fi
}

# _skip_zero COUNT: read COUNT bytes of stdin (or up to EOF) that the bmap leaves unmapped; they must all
# be zero. Prints the number of bytes read; returns 1 when some are not zero, 2 when reading failed.
# Fast path: dd conv=sparse into a scratch file seeks over all-zero 4 MiB blocks and writes the others, so
# the scratch file gets allocated blocks only when data arrived (32 MiB at a time: bounded RAM on tmpfs).
# Without hole support in the run dir, tr deletes the zero bytes and whatever is left is counted.
_skip_zero() {
	local left=$1 run=$MALINA_RUN_DIR total=0 n chunk out nonzero
	while ((left > 0)); do
		chunk=$((left < 33554432 ? left : 33554432))
		if ((WRITE_SPARSE_PROBE)); then
			out=$(dd bs=4M iflag=fullblock,count_bytes count="$chunk" conv=sparse of="$run/gap.probe" 2>&1) ||
				{ printf '%s' "$total"; return 2; }
			n=$(_dd_bytes "$out")
			total=$((total + n))
			[[ $(stat -c %b "$run/gap.probe") == 0 ]] || { printf '%s' "$total"; return 1; }
		else
			nonzero=$(dd bs=4M iflag=fullblock,count_bytes count="$chunk" 2>"$run/skip.err" | tr -d '\000' | wc -c) ||
				{ printf '%s' "$total"; return 2; }
			n=$(_dd_bytes "$(cat "$run/skip.err")")
			total=$((total + n))
			((nonzero == 0)) || { printf '%s' "$total"; return 1; }
		fi
		((n == chunk)) || break # end of the stream
		left=$((left - n))
	done
	printf '%s' "$total"
	return 0
}

# _write_body RANGES: runs as the last pipeline stage. stdin = decompressed image, fd 7 = the card (offset
# 0). The hasher is a process substitution on fd 5 (writes to it never block: if the hasher dies, they
# fail). Puts the head in RAM and into the hasher, zeroes the card's head, then writes the body. Exit
# status 0 when the stream was written (its length is checked by the caller); on failure the reason is
# in $MALINA_RUN_DIR/write.err.
_write_body() {
	local ranges=$1 run=$MALINA_RUN_DIR head_bytes=$MALINA_HEAD_BYTES got pos wpos start end n out hpid rc
	exec 5> >(_hash_cmd "$WRITE_HASH_MODE" >"$run/hash.out")
	hpid=$!
	# _done CODE [REASON]: close the hasher's input, wait for it, exit (a dead hasher fails the write).
	_done() {
		local code=$1 hrc=0
		[[ -n ${2:-} ]] && printf '%s\n' "$2" >"$run/write.err"
		exec 5>&-
		wait "$hpid" || hrc=$?
		if ((hrc != 0)); then
			printf 'the hasher (%s) failed with status %s\n' "$WRITE_HASH_MODE" "$hrc" >"$run/write.err"
			((code == 0)) && code=29
		fi
		exit "$code"
	}
	dd bs="$head_bytes" count=1 iflag=fullblock of="$run/head.bin" status=none || _done 21 "reading the image head failed"
	got=$(stat -c %s "$run/head.bin") || _done 21 "reading the image head failed"
	cat "$run/head.bin" >&5 || _done 21 "feeding the hasher failed"
	if ((got < head_bytes)); then
		printf '%s\n' "$got" >"$run/stream.bytes"
		_done 22
	fi
	# Zero the head durably through fd 7: this also leaves fd 7's offset at the start of the body.
	touch "$run/card.touched"
	dd if=/dev/zero bs="$head_bytes" count=1 conv=notrunc,fsync status=none >&7 ||
		_done 23 "zeroing the card's head failed"
	if [[ -z $ranges ]]; then
		# tee writes in 8 KiB pieces; dd regroups them into 4 MiB writes for the card (fd 7's offset is shared)
		tee /dev/fd/5 | dd bs=4M iflag=fullblock conv=notrunc status=none >&7 ||
			_done 24 "writing the card failed"
		_fd_pos "$BASHPID" 7 >"$run/stream.bytes"
		_done 0
	fi
	# bmap: the whole stream goes to the hasher, only mapped ranges to the card; unmapped bytes must be zero.
	# dd seeks its stdout relative to the current offset, so wpos tracks fd 7's offset.
	rc=0
	tee /dev/fd/5 | {
		pos=$head_bytes
		wpos=$head_bytes
		while read -r start end <&9; do
			((end > head_bytes)) || continue
			((start < head_bytes)) && start=$head_bytes
			if ((start > pos)); then
				printf '%s\n' "$pos" >"$run/stream.pos"
				n=0 rc=0
				n=$(_skip_zero $((start - pos))) || rc=$?
				((rc == 2)) && { echo "reading the image failed" >"$run/write.err"; exit 25; }
				if ((rc == 1)); then
					printf 'the bmap is wrong for this image: bytes %d-%d, which it leaves unmapped, are not zero\n' \
						"$pos" "$((start - 1))" >"$run/write.err"
					exit 28
				fi
				pos=$((pos + n))
				((pos == start)) || { printf '%s\n' "$pos" >"$run/stream.bytes"; exit 26; }
			fi
			printf '%s\n' "$pos" >"$run/stream.pos"
			out=$(dd bs=4M iflag=fullblock,count_bytes count=$((end - start)) oflag=seek_bytes \
				seek=$((start - wpos)) conv=notrunc 2>&1 >&7) || { echo "writing the card failed" >"$run/write.err"; exit 27; }
			n=$(_dd_bytes "$out")
			pos=$((pos + n))
			wpos=$pos
			((pos == end)) || { printf '%s\n' "$pos" >"$run/stream.bytes"; exit 26; }
		done 9<"$ranges"
		printf '%s\n' "$pos" >"$run/stream.pos"
		n=0 rc=0
		n=$(_skip_zero $((1 << 62))) || rc=$?
		printf '%s\n' $((pos + n)) >"$run/stream.bytes"
		((rc == 2)) && { echo "reading the image failed" >"$run/write.err"; exit 25; }
		if ((rc == 1)); then
			printf 'the bmap is wrong for this image: bytes after %d, which it leaves unmapped, are not zero\n' \
				"$pos" >"$run/write.err"
			exit 28
		fi
		exit 0
	} || rc=$?
	_done "$rc"
}

# _progress_loop PHASE TOTAL PROGRESS_URL: report PHASE ("writing", "verifying") every MALINA_PROGRESS_INTERVAL
# seconds; the position is the card descriptor's offset (fd 7 of WRITE_OWNER_PID) or stream.pos, whichever
# is further. On SIGTERM it finishes the report in flight (at most 5 s) and exits, so that no progress report
# can reach the backend after the result.
_progress_loop() {
	local phase=$1 total=$2 url=$3 run=$MALINA_RUN_DIR t0 t pos alt rate eta eta_json body child="" stop=0 mt
	trap 'stop=1' TERM
	mt=$MALINA_HTTP_TIMEOUT
	((mt > 5)) && mt=5
	t0=$(now_ms)
	while ((!stop)); do
		sleep "$MALINA_PROGRESS_INTERVAL" &
		child=$!
		wait "$child" 2>/dev/null || true
		if ((stop)); then kill "$child" 2>/dev/null || true; break; fi
		pos=$(_fd_pos "$WRITE_OWNER_PID" 7)
		alt=$(cat "$run/stream.pos" 2>/dev/null || echo 0)
		((alt > pos)) && pos=$alt
		((pos > total)) && pos=$total
		t=$(($(now_ms) - t0))
		((t > 0)) || t=1
		rate=$((pos * 1000 / t))
		eta=-1 eta_json=null
		((rate > 0)) && eta=$(((total - pos) / rate)) && eta_json=$eta
		log "$(printf '%s %d/%d MiB (%d%%) %d.%d MiB/s ETA %s s' "$phase" $((pos >> 20)) $((total >> 20)) \
			$((pos * 100 / total)) $((rate >> 20)) $(((rate % 1048576) * 10 / 1048576)) "$eta")"
		((stop)) && break
		if [[ -n $url ]]; then
			body=$(printf '{"phase":"%s","bytes_written":%d,"bytes_total":%d,"rate_bps":%d,"eta_s":%s}' \
				"$phase" "$pos" "$total" "$rate" "$eta_json")
			http_post_json "$url" "$body" 0 "$mt" 2>/dev/null &
			child=$!
			# wait returns early when SIGTERM arrives; the report in flight is still waited for
			while kill -0 "$child" 2>/dev/null; do wait "$child" 2>/dev/null || true; done
		fi
	done
	exit 0
}

# _stop_progress PID: stop the progress loop and wait until it (and its report in flight) ended.
_stop_progress() {
	[[ -n $1 ]] || return 0
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# write_image DISK URL SHA256 SIZE COMPRESSION [BMAP_FILE] [PROGRESS_URL]
# Returns 0 only when the card holds the verified body (flushed) and its head is zero; the verified head is
# in $MALINA_RUN_DIR/head.bin for commit_head (the caller may configure the rootfs in between). On failure
# WRITE_TOUCHED tells whether the card may have changed (0: not one byte was written to it).
write_image() {
	local disk=$1 url=$2 sha=${3,,} size=$4 comp=$5 bmap=${6:-} progress_url=${7:-}
	local run=$MALINA_RUN_DIR ranges="" rpid="" rc t0 statuses got curl_rc reason hash_test
	WRITE_SHA256="" WRITE_BYTES=0 WRITE_ERROR="" WRITE_TOUCHED=0 WRITE_RANGES=""
	# Every check comes before the first write to the card.
	[[ $sha =~ ^[0-9a-f]{64}$ ]] || { WRITE_ERROR="bad sha256 '$sha'"; return 1; }
	if ! _uint "$size" || ((size <= MALINA_HEAD_BYTES)); then
		WRITE_ERROR="bad image size '$size' (must exceed $MALINA_HEAD_BYTES bytes)"
		return 1
	fi
	[[ $comp == xz || $comp == none ]] || { WRITE_ERROR="unknown compression '$comp'"; return 1; }
	[[ -e $disk ]] || { WRITE_ERROR="card $disk not found"; return 1; }
	[[ -w $disk ]] || { WRITE_ERROR="card $disk not writable"; return 1; }
	local card
	card=$(disk_size "$disk") || { WRITE_ERROR="cannot read the size of $disk"; return 1; }
	_uint "$card" || { WRITE_ERROR="cannot read the size of $disk"; return 1; }
	if ((card < size)); then
		WRITE_ERROR="card too small: $disk has $card bytes, the image needs $size"
		return 1
	fi
	WRITE_HASH_MODE=$(_hash_mode) || { WRITE_ERROR="no usable sha256 tool (MALINA_HASH=$MALINA_HASH)"; return 1; }
	hash_test=$(printf '' | _hash_cmd "$WRITE_HASH_MODE" 2>/dev/null) || hash_test=""
	[[ ${hash_test%% *} == "$SHA256_EMPTY" ]] ||
		{ WRITE_ERROR="the sha256 tool $WRITE_HASH_MODE does not work"; return 1; }
	mkdir -p "$run" || { WRITE_ERROR="cannot create $run"; return 1; }
	rm -f "$run/hash.out" "$run/head.bin" "$run/stream.bytes" "$run/stream.pos" "$run/card.touched" \
		"$run/ranges" "$run/write.err" "$run/curl.rc" "$run/skip.err" "$run/gap.probe" ||
		{ WRITE_ERROR="cannot clean $run"; return 1; }
	if [[ -n $bmap ]]; then
		parse_bmap "$bmap" "$size" "$run/ranges" || return 1
		ranges=$run/ranges
		WRITE_RANGES=$ranges
		# can the run dir hold holes (the fast check of unmapped bytes)? 1 MiB of zeros must allocate nothing
		WRITE_SPARSE_PROBE=0
		if dd if=/dev/zero bs=1M count=1 conv=sparse of="$run/gap.probe" status=none 2>/dev/null &&
			[[ $(stat -c %b "$run/gap.probe" 2>/dev/null) == 0 ]]; then
			WRITE_SPARSE_PROBE=1
		fi
	fi
	{ exec 7<>"$disk"; } 2>/dev/null || { WRITE_ERROR="cannot open $disk"; return 1; }
	WRITE_OWNER_PID=$BASHPID
	if ((MALINA_PROGRESS_INTERVAL > 0)); then
		_progress_loop writing "$size" "$progress_url" 7>&- &
		rpid=$!
	fi
	t0=$(now_ms)
	set +e
	_fetch_stream "$url" "$comp" | _write_body "$ranges"
	statuses=("${PIPESTATUS[@]}")
	set -e
	exec 7>&-
	_stop_progress "$rpid"
	rm -f "$run/gap.probe"
	[[ -e $run/card.touched ]] && WRITE_TOUCHED=1
	got=$(cat "$run/stream.bytes" 2>/dev/null || echo 0)
	_uint "$got" || got=0
	WRITE_BYTES=$got
	WRITE_SHA256=$(cut -d ' ' -f 1 "$run/hash.out" 2>/dev/null || true)
	WRITE_MS=$(($(now_ms) - t0))
	curl_rc=$(cat "$run/curl.rc" 2>/dev/null || echo "${statuses[0]}")
	reason=$(head -n 1 "$run/write.err" 2>/dev/null || true)
	rc=0
	if [[ $curl_rc == 28 ]]; then
		WRITE_ERROR="download stalled (under $MALINA_STALL_SPEED bytes/s for $MALINA_STALL_TIME s, curl 28) after $got of $size bytes"
		rc=1
	elif ((statuses[1] != 0)) && [[ -n $reason ]]; then
		# the writer's own failure (card, hasher, bmap); curl then fails too, writing to a closed pipe
		WRITE_ERROR="write failed (writer status ${statuses[1]}: $reason) after $got of $size bytes"
		rc=1
	elif ((statuses[0] != 0)) || [[ $curl_rc != 0 ]]; then
		WRITE_ERROR="download failed (curl status $curl_rc, stream status ${statuses[0]}) after $got of $size bytes"
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
	if ((rc == 0)); then
		# The body is made durable here; the head stays in RAM until commit_head.
		if ! sync "$disk"; then
			WRITE_ERROR="flushing $disk failed"
			rc=1
		fi
	fi
	if ((rc != 0)); then
		# The head was zeroed before any body byte was written; keep it that way.
		if ((WRITE_TOUCHED)); then
			zero_head "$disk" || WRITE_ERROR+="; zeroing the card's head failed too"
		fi
		return 1
	fi
	WRITE_MS=$(($(now_ms) - t0))
	return 0
}

# _readback_stream SIZE RANGES: runs as the first stage of the read-back pipeline, fd 7 = the card (offset 0,
# shared with the owner, whose fdinfo the progress loop reads). Prints the image as the card holds it: the
# verified head from RAM (the card's head is still zero), then bytes HEAD..SIZE: each "start end" range of
# RANGES read from the card, the gaps between them as zeros. The gaps are not read: with a bmap they were never
# written, and the write path proved that the image holds only zeros there; so the hash of this stream is
# comparable with the image's sha256 as the write path's hash of the whole stream is. Bytes read from the card
# go to $MALINA_RUN_DIR/verify.read, a failure's reason to verify.err.
_readback_stream() {
	local size=$1 ranges=$2 run=$MALINA_RUN_DIR head=$MALINA_HEAD_BYTES pos rpos=0 start end out n got=0
	exec 8>&1 # the stream; the dd calls' stdout in $(...) goes here, their statistics to the capture
	cat "$run/head.bin" || { echo "feeding the hasher failed" >"$run/verify.err"; exit 31; }
	pos=$head
	while read -r start end <&9; do
		((end > head)) || continue
		((start < head)) && start=$head
		if ((start > pos)); then
			printf '%s\n' "$pos" >"$run/stream.pos"
			dd if=/dev/zero bs=4M iflag=count_bytes count=$((start - pos)) status=none ||
				{ echo "feeding the hasher failed" >"$run/verify.err"; exit 31; }
			pos=$start
		fi
		# dd skips relative to fd 7's offset (rpos); nocache: what was read leaves the cache again
		out=$(dd bs=4M iflag=skip_bytes,count_bytes,fullblock,nocache skip=$((start - rpos)) \
			count=$((end - start)) 2>&1 <&7 >&8) ||
			{ printf 'reading the card at byte %d failed: %s\n' "$start" "${out##*dd: }" >"$run/verify.err"; exit 32; }
		# the byte count of dd's statistics, parsed in bash: no process per range (a bmap has hundreds)
		n=0
		[[ $out =~ (^|$'\n')([0-9]+)\ bytes?\ [^$'\n']*copied ]] && n=${BASH_REMATCH[2]}
		got=$((got + n))
		printf '%s\n' "$got" >"$run/verify.read"
		if ((n != end - start)); then
			printf 'the card returned %d of %d bytes at byte %d\n' "$n" "$((end - start))" "$start" >"$run/verify.err"
			exit 33
		fi
		pos=$end rpos=$end
	done 9<"$ranges"
	if ((size > pos)); then
		printf '%s\n' "$pos" >"$run/stream.pos"
		dd if=/dev/zero bs=4M iflag=count_bytes count=$((size - pos)) status=none ||
			{ echo "feeding the hasher failed" >"$run/verify.err"; exit 31; }
	fi
	exit 0
}

# readback_image DISK SHA256 SIZE [PROGRESS_URL]: after write_image succeeded (body flushed, head zero, the
# verified head in $MALINA_RUN_DIR/head.bin, WRITE_RANGES set), drop the kernel's cache of the card, hash
# what the card returns (see _readback_stream: the whole body, or the bmap's mapped ranges) and compare
# with SHA256, the sha256 of the whole image. Progress: phase "verifying", bytes read back of SIZE. Returns 0
# when they match; else 1 with WRITE_ERROR set (the caller zeroes the head). Sets VERIFY_SHA256, VERIFY_READ
# (bytes read from the card) and VERIFY_MS.
readback_image() {
	local disk=$1 sha=${2,,} size=$3 progress_url=${4:-} run=$MALINA_RUN_DIR ranges rpid="" t0 statuses reason
	VERIFY_SHA256="" VERIFY_READ=0 VERIFY_MS=0
	[[ -s $run/head.bin ]] || { WRITE_ERROR="read-back: no verified head in $run"; return 1; }
	ranges=$WRITE_RANGES
	if [[ -z $ranges ]]; then
		ranges=$run/ranges.all
		printf '0 %d\n' "$size" >"$ranges" || { WRITE_ERROR="read-back: cannot write $ranges"; return 1; }
	fi
	rm -f "$run/verify.out" "$run/verify.err" "$run/verify.read" "$run/stream.pos"
	t0=$(now_ms)
	drop_card_cache "$disk" || { WRITE_ERROR="read-back: cannot drop the page cache of $disk"; return 1; }
	{ exec 7<"$disk"; } 2>/dev/null || { WRITE_ERROR="read-back: cannot open $disk"; return 1; }
	WRITE_OWNER_PID=$BASHPID
	if ((MALINA_PROGRESS_INTERVAL > 0)); then
		_progress_loop verifying "$size" "$progress_url" 7>&- &
		rpid=$!
	fi
	set +e
	_readback_stream "$size" "$ranges" | _hash_cmd "$WRITE_HASH_MODE" >"$run/verify.out"
	statuses=("${PIPESTATUS[@]}")
	set -e
	exec 7<&-
	_stop_progress "$rpid"
	VERIFY_MS=$(($(now_ms) - t0))
	VERIFY_READ=$(cat "$run/verify.read" 2>/dev/null || echo 0)
	_uint "$VERIFY_READ" || VERIFY_READ=0
	VERIFY_SHA256=$(cut -d ' ' -f 1 "$run/verify.out" 2>/dev/null || true)
	reason=$(head -n 1 "$run/verify.err" 2>/dev/null || true)
	if ((statuses[0] != 0)) && [[ -n $reason ]]; then
		WRITE_ERROR="read-back failed: $reason"
		return 1
	elif ((statuses[1] != 0)); then # a dead hasher also kills the reader (SIGPIPE): its status says why
		WRITE_ERROR="read-back failed: the hasher ($WRITE_HASH_MODE) exited with status ${statuses[1]}"
		return 1
	elif ((statuses[0] != 0)); then
		WRITE_ERROR="read-back failed: the reader exited with status ${statuses[0]}"
		return 1
	fi
	if [[ $VERIFY_SHA256 != "$sha" ]]; then
		WRITE_ERROR="read-back mismatch: card returned ${VERIFY_SHA256:-none} for $size bytes, expected $sha"
		return 1
	fi
	return 0
}

# commit_head DISK: write the verified image's head (MBR) last, durably, read it back from the card (cache
# dropped), then re-read the partition table. A head the card does not return as written is zeroed again.
commit_head() {
	local disk=$1 run=$MALINA_RUN_DIR
	[[ -s $run/head.bin ]] || { WRITE_ERROR="no verified head to write"; return 1; }
	if ! dd if="$run/head.bin" of="$disk" bs="$MALINA_HEAD_BYTES" count=1 conv=notrunc,fsync status=none; then
		WRITE_ERROR="writing the card's head failed"
		zero_head "$disk" || true
		return 1
	fi
	if ! drop_card_cache "$disk" ||
		! dd if="$disk" bs="$MALINA_HEAD_BYTES" count=1 iflag=nocache status=none | cmp -s - "$run/head.bin"; then
		WRITE_ERROR="read-back mismatch: the card's head ($MALINA_HEAD_BYTES bytes) differs from what was written"
		zero_head "$disk" || true
		return 1
	fi
	rm -f "$run/head.bin"
	if [[ -b $disk ]]; then
		blockdev --rereadpt "$disk" 2>/dev/null || partx -u "$disk" 2>/dev/null ||
			warn "could not re-read the partition table of $disk"
	fi
	return 0
}
