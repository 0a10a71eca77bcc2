# shellcheck shell=bash disable=SC2034 # globals are read by the sourcing scripts
# malina installer: reading the written image's partitions and boot files and configuring its rootfs,
# without mounting anything. The FAT boot partition is read with mtools (-i DISK@@OFFSET), the ext4
# rootfs is written and read back with e2fsprogs' debugfs on "DISK?offset=BYTES". The same code runs on
# the Pi (DISK = /dev/mmcblk0) and in the simulator (DISK = a regular file), needs neither loop devices
# nor partition device nodes nor mount privileges. Needs common.sh. Errors go to ROOTFS_ERROR.

ROOTFS_ERROR=""
BOOT_PREFIX=""  # "" (plain layout) or "current/" (Ubuntu 25.10+ layout)
BOOT_CMDLINE="" # the kernel command line of the installed OS
ROOT_PART=""    # partition number of the rootfs
declare -A PART_START=() PART_TYPE=() # by partition number: start (bytes), MBR type (hex)

export MTOOLS_SKIP_CHECK=1 DEBUGFS_PAGER=__none__

# read_mbr HEAD_FILE: fill PART_START/PART_TYPE from the MBR in the first sector of HEAD_FILE.
read_mbr() {
	local head=$1 i b type start
	PART_START=() PART_TYPE=()
	local -a bytes
	read -r -a bytes < <(od -A n -v -t u1 -j 510 -N 2 "$head")
	if [[ ${bytes[0]:-0} != 85 || ${bytes[1]:-0} != 170 ]]; then
		ROOTFS_ERROR="the image has no MBR (no 55aa signature)"
		return 1
	fi
	for i in 1 2 3 4; do
		read -r -a b < <(od -A n -v -t u1 -j $((446 + (i - 1) * 16)) -N 16 "$head")
		type=$(printf '%x' "${b[4]}")
		[[ $type == 0 ]] && continue
		if [[ $type == ee ]]; then
			ROOTFS_ERROR="GPT images are not supported (protective MBR found)"
			return 1
		fi
		start=$((b[8] + (b[9] << 8) + (b[10] << 16) + (b[11] << 24)))
		PART_START[$i]=$((start * 512))
		PART_TYPE[$i]=$type
	done
	((${#PART_START[@]} > 0)) || { ROOTFS_ERROR="the image's MBR has no partitions"; return 1; }
}

_mtools_img() { printf '%s@@%s' "$1" "${PART_START[$2]}"; }

# _fat_read DISK PART PATH: print a file of the FAT partition.
_fat_read() {
	mtype -i "$(_mtools_img "$1" "$2")" "::/$3" 2>/dev/null
}

_fat_exists() {
	mdir -b -i "$(_mtools_img "$1" "$2")" "::/$3" >/dev/null 2>&1
}

# detect_boot DISK: find the boot partition and its layout; sets BOOT_PREFIX, BOOT_CMDLINE, BOOT_PART.
detect_boot() {
	local disk=$1 p config kernel f
	BOOT_PART=""
	for p in $(printf '%s\n' "${!PART_TYPE[@]}" | sort -n); do
		case ${PART_TYPE[$p]} in
		b | c | e | 6 | ef) BOOT_PART=$p; break ;;
		esac
	done
	[[ -n $BOOT_PART ]] || { ROOTFS_ERROR="no FAT boot partition in the image"; return 1; }
	if _fat_exists "$disk" "$BOOT_PART" current/cmdline.txt; then
		BOOT_PREFIX=current/
	elif _fat_exists "$disk" "$BOOT_PART" cmdline.txt; then
		BOOT_PREFIX=""
	else
		ROOTFS_ERROR="boot partition has neither cmdline.txt nor current/cmdline.txt"
		return 1
	fi
	BOOT_CMDLINE=$(_fat_read "$disk" "$BOOT_PART" "${BOOT_PREFIX}cmdline.txt" | tr -d '\r' | head -n 1)
	config=$(_fat_read "$disk" "$BOOT_PART" "${BOOT_PREFIX}config.txt" ||
		_fat_read "$disk" "$BOOT_PART" config.txt || true)
	[[ -n $config ]] || { ROOTFS_ERROR="boot partition has no config.txt"; return 1; }
	kernel=$(printf '%s\n' "$config" | tr -d '\r' | sed -n 's/^[[:space:]]*kernel[[:space:]]*=[[:space:]]*//p' |
		tail -n 1)
	kernel=${kernel:-kernel8.img}
	for f in start4.elf fixup4.dat; do
		_fat_exists "$disk" "$BOOT_PART" "$BOOT_PREFIX$f" || _fat_exists "$disk" "$BOOT_PART" "$f" ||
			{ ROOTFS_ERROR="boot partition lacks $f"; return 1; }
	done
	_fat_exists "$disk" "$BOOT_PART" "$BOOT_PREFIX$kernel" ||
		{ ROOTFS_ERROR="boot partition lacks the kernel ${BOOT_PREFIX}$kernel"; return 1; }
}

# _ext_label DISK OFFSET: the ext2/3/4 volume label at OFFSET, exit 1 if no ext superblock is there.
_ext_label() {
	local -a magic
	read -r -a magic < <(od -A n -v -t u1 -j $(($2 + 1024 + 56)) -N 2 "$1")
	[[ ${magic[0]:-0} == 83 && ${magic[1]:-0} == 239 ]] || return 1
	dd if="$1" bs=1 skip=$(($2 + 1024 + 120)) count=16 status=none | tr -d '\000'
}

# find_root DISK: the rootfs partition from root= in the installed OS's cmdline.txt; sets ROOT_PART.
find_root() {
	local disk=$1 word root="" p label
	ROOT_PART=""
	for word in $BOOT_CMDLINE; do
		[[ $word == root=* ]] && root=${word#root=}
	done
	case $root in
	LABEL=*)
		for p in $(printf '%s\n' "${!PART_START[@]}" | sort -n); do
			label=$(_ext_label "$disk" "${PART_START[$p]}") || continue
			[[ $label == "${root#LABEL=}" ]] && { ROOT_PART=$p; break; }
		done
		;;
	PARTUUID=*-[0-9a-fA-F][0-9a-fA-F]) ROOT_PART=$((16#${root##*-})) ;;
	/dev/*[0-9]) [[ $root =~ ([0-9]+)$ ]] && ROOT_PART=$((10#${BASH_REMATCH[1]})) ;;
	"") ROOT_PART=2 ;;
	esac
	[[ -n $ROOT_PART && -n ${PART_START[$ROOT_PART]:-} ]] ||
		{ ROOTFS_ERROR="cannot find the rootfs partition for root=${root:-?}"; return 1; }
	_ext_label "$disk" "${PART_START[$ROOT_PART]}" >/dev/null ||
		{ ROOTFS_ERROR="partition $ROOT_PART (root=$root) is not an ext2/3/4 filesystem"; return 1; }
}

# install_rootfs_files DISK MANIFEST: apply a manifest to the rootfs partition ROOT_PART and read every
# entry back. Manifest lines (fields separated by single spaces, paths without spaces):
# MODE is three octal digits (644, 600, 755, 700).
#   d PATH MODE UID GID        directory (created if missing, mode/owner set)
#   f PATH MODE UID GID SRC    regular file with the content of local file SRC (replaced if present)
#   l PATH TARGET              symbolic link
install_rootfs_files() {
	local -a parts
	local disk=$1 manifest=$2 fs cmds kind path mode uid gid src dir name acc n=0 rb st
	fs="$disk?offset=${PART_START[$ROOT_PART]}"
	cmds=$MALINA_RUN_DIR/debugfs.cmds
	rb=$MALINA_RUN_DIR/readback
	rm -rf "$rb"
	mkdir -p "$rb"
	: >"$cmds"
	while read -r kind path mode uid gid src; do
		[[ -n $kind ]] || continue
		dir=${path%/*}
		name=${path##*/}
		acc=""
		IFS=/ read -r -a parts <<<"${dir#/}"
		for n in "${parts[@]}"; do
			[[ -n $n ]] || continue
			acc+=/$n
			printf 'mkdir %s\n' "$acc" >>"$cmds"
		done
		case $kind in
		d)
			printf 'mkdir %s\nsif %s mode 040%s\nsif %s uid %s\nsif %s gid %s\n' "$path" "$path" "$mode" \
				"$path" "$uid" "$path" "$gid" >>"$cmds"
			;;
		f)
			printf 'cd %s\nrm %s\nwrite %s %s\nsif %s mode 0100%s\nsif %s uid %s\nsif %s gid %s\ncd /\n' \
				"${dir:-/}" "$name" "$src" "$name" "$name" "$mode" "$name" "$uid" "$name" "$gid" >>"$cmds"
			;;
		l)
			printf 'cd %s\nrm %s\nsymlink %s %s\ncd /\n' "${dir:-/}" "$name" "$name" "$mode" >>"$cmds"
			;;
		*)
			ROOTFS_ERROR="bad manifest line: $kind $path"
			return 1
			;;
		esac
	done <"$manifest"
	# debugfs reports per-command errors ("mkdir: ... exists") but carries on; the read-back decides.
	if ! debugfs -w -f "$cmds" "$fs" >"$MALINA_RUN_DIR/debugfs.log" 2>&1; then
		ROOTFS_ERROR="debugfs could not open the rootfs: $(tail -n 1 "$MALINA_RUN_DIR/debugfs.log")"
		return 1
	fi
	# Read back: one debugfs run dumps every file (-p: with its owner and mode); dirs and links by stat. From
	# the card, not the page cache: flushed, then the card's cache dropped (drop_card_cache, common.sh).
	if ! sync "$disk" || ! drop_card_cache "$disk"; then
		ROOTFS_ERROR="flushing the rootfs writes or dropping the card's cache failed"
		return 1
	fi
	: >"$cmds"
	n=0
	while read -r kind path mode uid gid src; do
		n=$((n + 1))
		[[ $kind == f ]] && printf 'dump -p %s %s/%s\n' "$path" "$rb" "$n" >>"$cmds"
	done <"$manifest"
	debugfs -f "$cmds" "$fs" >"$rb/debugfs.log" 2>&1 || true
	n=0
	while read -r kind path mode uid gid src; do
		n=$((n + 1))
		case $kind in
		f)
			if [[ ! -f $rb/$n ]] || ! cmp -s "$src" "$rb/$n"; then
				ROOTFS_ERROR="read-back of $path differs from what was written"
				return 1
			fi
			st=$(stat -c '%a %u %g' "$rb/$n")
			if [[ $st != "$mode $uid $gid" ]]; then
				ROOTFS_ERROR="read-back of $path has mode/owner $st, expected $mode $uid $gid"
				return 1
			fi
			;;
		d)
			st=$(debugfs -R "stat $path" "$fs" 2>/dev/null | head -n 3 | tr -s ' ')
			[[ $st == *"Type: directory Mode: 0$mode "*"User: $uid Group: $gid "* ]] ||
				{ ROOTFS_ERROR="directory $path missing or wrong after write"; return 1; }
			;;
		l)
			st=$(debugfs -R "stat $path" "$fs" 2>/dev/null)
			[[ $st == *"Type: symlink"*"link dest: \"$mode\""* ]] ||
				{ ROOTFS_ERROR="symlink $path -> $mode missing after write"; return 1; }
			;;
		esac
	done <"$manifest"
	return 0
}

# read_rootfs_file DISK PATH: print a file of the installed rootfs (used by tests and for diagnostics).
read_rootfs_file() {
	debugfs -R "cat $2" "$1?offset=${PART_START[$ROOT_PART]}" 2>/dev/null
}
