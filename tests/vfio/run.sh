#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run.sh - the kernel's VFIO selftests (linux-source-7.3) against uiommufd's
# emulated devices.
#
# The selftest programs are built UNMODIFIED with their own Makefile by
# tests/vfio/fetch-build.sh.  Six of them are run against every device
# model, and vfio_pci_sriov_uapi_test too against a model with SR-IOV
# (igb: the test makes a VF through sriov_numvfs), each test as its own
# process under the launcher with the emulated device (by default an
# Intel IOAT (CBDMA) device; VFIO_DEVICE_TYPE=igb for the 82576 NIC):
#
#   timeout -k 5 $VFIO_TIMEOUT build/uiommufd-run --device ioat,bdf=0000:00:04.0 -- \
#       tests/vfio/with-devices.sh build/vfio/bin/PROGRAM -r FIXTURE.VARIANT.TEST
#
# with-devices.sh appends the addresses the launcher exports in
# $UIOMMUFD_DEVICES, so the program runs as
#   PROGRAM -r FIXTURE.VARIANT.TEST 0000:00:04.0
# vfio_pci_device_init_perf_test gets $VFIO_PERF_DEVICES devices
# (--device ioat,bdf=0000:00:04.0 --device ioat,bdf=0000:00:05.0 ...).
#
# Output: one line per test (PASS/FAIL/SKIP PROGRAM/NAME), the log excerpt of
# failures, an expected-failure accounting line and, as the last line,
#
#   vfio: N passed, M failed, K skipped of T
#
# ("vfio-MODEL:" for a model other than ioat, whose logs go to
# build/vfio-MODEL/ and whose list is tests/vfio/expected-failures-MODEL).
# M counts every failure, expected or not.  The exit status is 1 when a test
# not listed in tests/vfio/expected-failures fails, a listed test passes
# (XPASS), the list names a test that does not exist, or the build fails.
#
# Usage: run.sh            build and run (as described above)
#        run.sh --list     build and print PROGRAM/NAME of every test
#
# Environment:
#   VFIO_FILTER=REGEX        run only tests whose PROGRAM/NAME matches (grep -E)
#   VFIO_JOBS=N              run N tests in parallel (default 1; output stays ordered)
#   VFIO_TIMEOUT=SEC         outer per-test timeout (default 120; the harness's
#                            own are 30 s, memcpy_storm 60 s)
#   VFIO_PERF_DEVICES=N      devices for the perf test (default 4)
#   VFIO_DEVICE_TYPE=T       emulated device model (default ioat)
#   VFIO_LAUNCHER=CMD        launcher instead of build/uiommufd-run (its options
#                            may follow, e.g. "build/uiommufd-run -d ioctl")
#   VFIO_HUGEPAGES=0         do not reserve huge pages for the hugetlb variants
#   VFIO_KSRC / VFIO_UAPI_DIR / ...: see tests/vfio/fetch-build.sh

# shellcheck disable=SC2317  # cleanup/restore functions are called from traps
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"

DEVTYPE="${VFIO_DEVICE_TYPE:-ioat}"
if [[ "$DEVTYPE" == ioat ]]; then
	NAME=vfio XFAIL_REL=tests/vfio/expected-failures
else
	NAME="vfio-$DEVTYPE" XFAIL_REL="tests/vfio/expected-failures-$DEVTYPE"
fi
OUT="$REPO/build/$NAME"
LOGDIR="$OUT/logs/tests"
RESDIR="$OUT/results"
XFAIL_FILE="$REPO/$XFAIL_REL"
STATIC_LIST="$REPO/tests/vfio/tests.list"
HELPER="$REPO/tests/vfio/with-devices.sh"
TIMEOUT="${VFIO_TIMEOUT:-120}"
JOBS="${VFIO_JOBS:-1}"
FILTER="${VFIO_FILTER:-}"
PERF_DEVICES="${VFIO_PERF_DEVICES:-4}"
# The models whose function has SR-IOV (sriov_totalvfs in sysfs).
SRIOV_MODELS=" igb "

PROGS=(
	vfio_pci_device_test
	vfio_iommufd_setup_test
	vfio_dma_mapping_test
	vfio_dma_mapping_mmio_test
	vfio_pci_device_init_perf_test
	vfio_pci_driver_test
)
[[ "$SRIOV_MODELS" == *" $DEVTYPE "* ]] && PROGS+=(vfio_pci_sriov_uapi_test)
# main() initialises the device (or makes a VF) before the harness handles -l.
LIST_NEEDS_DEVICE="vfio_pci_driver_test vfio_iommufd_setup_test vfio_pci_sriov_uapi_test"
# Device addresses: the first is the launcher's default; pass them all
# explicitly.  bdf_n N -> the N-th address (0-based): 0000:00:04.0, 05.0, ...
bdf_n() { printf '0000:00:%02x.0' $((4 + $1)); }

LIST_ONLY=0
case "${1:-}" in
"") ;;
--list) LIST_ONLY=1 ;;
-h|--help) awk 'NR < 3 { next } !/^#/ || /^# shellcheck/ { exit } { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
*) echo "usage: $0 [--list]" >&2; exit 2 ;;
esac

say()  { echo "$NAME: $*" >&3; }
warn() { echo "$NAME: WARNING: $*" >&2; }
die()  { echo "$NAME: ERROR: $*" >&2; exit 1; }

[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || die "VFIO_JOBS must be a positive integer (got '$JOBS')"
[[ "$TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die "VFIO_TIMEOUT must be a positive number of seconds (got '$TIMEOUT')"
[[ "$PERF_DEVICES" =~ ^[1-9][0-9]*$ && "$PERF_DEVICES" -le 200 ]] ||
	die "VFIO_PERF_DEVICES must be 1..200 (got '$PERF_DEVICES')"
[[ "$DEVTYPE" =~ ^[a-z0-9_-]+$ ]] || die "VFIO_DEVICE_TYPE '$DEVTYPE' is not a device model name"
if [[ -n "$FILTER" ]]; then
	rc=0
	grep -qE -- "$FILTER" <<<"" 2>/dev/null || rc=$?
	[[ "$rc" -le 1 ]] || die "VFIO_FILTER is not a valid extended regex: $FILTER"
fi

# Progress messages go to stdout, except with --list where stdout is the list.
if [[ "$LIST_ONLY" == 1 ]]; then exec 3>&2; else exec 3>&1; fi

# ---- build ---------------------------------------------------------------------
build_failed() {
	echo "$NAME: ERROR: $*" >&2
	say "build failed, no test was run"
	exit 1
}
BIN="$("$REPO/tests/vfio/fetch-build.sh" | tail -n1)" || build_failed "tests/vfio/fetch-build.sh failed (see above)"
[[ -n "$BIN" && -d "$BIN" ]] || build_failed "fetch-build.sh returned no build directory"
for p in "${PROGS[@]}"; do
	[[ -x "$BIN/$p" ]] || build_failed "$BIN/$p is missing"
done

# ---- launcher ----------------------------------------------------------------------
if [[ -n "${VFIO_LAUNCHER:-}" ]]; then
	read -r -a LAUNCH <<<"$VFIO_LAUNCHER"
else
	LAUNCH=("$REPO/build/uiommufd-run")
fi
HAVE_LAUNCHER=0
if [[ -x "${LAUNCH[0]}" ]] && "${LAUNCH[0]}" --help 2>/dev/null | grep -q -- '--device'; then
	HAVE_LAUNCHER=1
fi
if [[ "$HAVE_LAUNCHER" == 1 && -z "${VFIO_LAUNCHER:-}" ]]; then
	# The selftest maps 1 GiB + 2 MiB for DMA; a container's root may lack
	# CAP_IPC_LOCK, and then RLIMIT_MEMLOCK (often 8 MiB) would refuse it:
	# grant the emulated capability.
	capeff=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
	if [[ "$(id -u)" == 0 && -n "$capeff" ]] && (( ((16#$capeff >> 14) & 1) == 0 )); then
		say "root here lacks CAP_IPC_LOCK: granting the emulated one (uiommufd-run --cap ipc_lock)"
		LAUNCH+=(--cap ipc_lock)
	fi
fi

# device_opts N -> the launcher options for N devices, into DEVOPTS/DEVLIST
device_opts() {
	local n="$1" i b
	DEVOPTS=() DEVLIST=""
	for ((i = 0; i < n; i++)); do
		b="$(bdf_n "$i")"
		DEVOPTS+=(--device "$DEVTYPE,bdf=$b")
		DEVLIST+="${DEVLIST:+ }$b"
	done
}
ndevices_of() { [[ "$1" == vfio_pci_device_init_perf_test ]] && echo "$PERF_DEVICES" || echo 1; }

# ---- list the tests ---------------------------------------------------------------------
# The harness's `-l` prints (stderr) per fixture a block of rows
#     printf("%-20s %-25s %s\n", fixture-or-"", variant-or-"", test-or-"")
# with the fixture name on the first row only, variants and tests side by
# side; blocks are separated by dashes; the first line is a "# FIXTURE"
# header.  Over-long names shift the following columns, so fields are
# located by the printf widths.  Names are FIXTURE.VARIANT.TEST or
# FIXTURE.TEST (as -r wants).  (Same parser as tests/upstream/run.sh.)
parse_list() {
	awk '
	function flush(   i, j) {
		if (fx == "") return
		for (j = 0; j < nv || (nv == 0 && j == 0); j++)
			for (i = 0; i < nt; i++)
				print fx (nv ? "." v[j] : "") "." t[i]
		fx = ""; nv = 0; nt = 0
	}
	/^# FIXTURE/ { next }
	/^-+$/       { flush(); next }
	{
		line = $0
		if (line ~ /^[^ ]/) {
			flush()
			match(line, /^[^ ]+/)
			fx = substr(line, 1, RLENGTH)
			off = (RLENGTH > 20 ? RLENGTH : 20) + 1
		} else {
			off = 21
		}
		rest = substr(line, off + 1)
		vn = ""
		if (rest ~ /^[^ ]/) { match(rest, /^[^ ]+/); vn = substr(rest, 1, RLENGTH) }
		tn = substr(rest, (length(vn) > 25 ? length(vn) : 25) + 2)
		gsub(/^ +| +$/, "", tn)
		if (vn != "") v[nv++] = vn
		if (tn != "") t[nt++] = tn
	}
	END { flush() }' "$1"
}

mkdir -p "$OUT" "$LOGDIR"
ALL=()
declare -A EXISTS=()
for p in "${PROGS[@]}"; do
	mapfile -t static < <(awk -v p="$p" '!/^#/ && $1 == p { print $2 }' "$STATIC_LIST")
	lst="$OUT/list-$p.txt"
	src=""
	# 1. without the launcher: only the programs whose main() merely parses
	#    the address before the harness sees -l (the other two open
	#    /dev/iommu or the device's sysfs directory first: never run them
	#    outside the launcher, a real device could be there)
	rc=1
	if [[ " $LIST_NEEDS_DEVICE " != *" $p "* ]]; then
		rc=0
		"$BIN/$p" -l "$(bdf_n 0)" 2>"$lst" >/dev/null </dev/null || rc=$?
	fi
	if [[ "$rc" == 0 || "$rc" == 4 ]] && mapfile -t names < <(parse_list "$lst") && [[ "${#names[@]}" -gt 0 ]]; then
		src="-l"
	elif [[ "$HAVE_LAUNCHER" == 1 ]]; then
		# 2. under the launcher with the device(s): main() may open them
		device_opts "$(ndevices_of "$p")"
		rc=0
		(cd "$OUT" && VFIO_WANT_DEVICES="$DEVLIST" timeout -k 5 "$TIMEOUT" \
			"${LAUNCH[@]}" "${DEVOPTS[@]}" -- "$HELPER" "$BIN/$p" -l) \
			2>"$lst" >/dev/null </dev/null || rc=$?
		if [[ "$rc" == 0 || "$rc" == 4 ]] && mapfile -t names < <(parse_list "$lst") && [[ "${#names[@]}" -gt 0 ]]; then
			src="-l under the launcher"
		fi
	fi
	if [[ -z "$src" ]]; then
		# 3. the static list read from the sources
		names=("${static[@]}")
		src="tests/vfio/tests.list (the program cannot list without a device)"
	elif [[ "$(printf '%s\n' "${names[@]}" | sort)" != "$(printf '%s\n' "${static[@]}" | sort)" ]]; then
		warn "$p: 'PROGRAM -l' and tests/vfio/tests.list differ; using -l (update tests.list)"
	fi
	[[ "${#names[@]}" -gt 0 ]] || die "no test found for $p"
	say "$p: ${#names[@]} tests (from $src)"
	for n in "${names[@]}"; do
		ALL+=("$p/$n")
		EXISTS["$p/$n"]=1
	done
done
TOTAL_LISTED="${#ALL[@]}"
if [[ "$LIST_ONLY" == 1 ]]; then
	printf '%s\n' "${ALL[@]}"
	exit 0
fi

[[ "$HAVE_LAUNCHER" == 1 ]] ||
	die "${LAUNCH[0]#"$REPO"/} does not exist or has no --device option (emulated devices are not available yet): no test was run"

# ---- expected failures -------------------------------------------------------------
declare -A XFAIL=()
list_errors=0
if [[ -f "$XFAIL_FILE" ]]; then
	lineno=0
	while IFS= read -r line || [[ -n "$line" ]]; do
		lineno=$((lineno + 1))
		[[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
		read -r xname xreason <<<"$line"
		[[ -n "$xreason" ]] || xreason="(no reason given)"
		if [[ -z "${EXISTS[$xname]+x}" ]]; then
			echo "$NAME: ERROR: $XFAIL_REL:$lineno: '$xname' is not a test (PROGRAM/NAME, see run.sh --list)" >&2
			list_errors=$((list_errors + 1))
			continue
		fi
		if [[ -n "${XFAIL[$xname]+x}" ]]; then
			echo "$NAME: ERROR: $XFAIL_REL:$lineno: '$xname' is listed twice" >&2
			list_errors=$((list_errors + 1))
		fi
		XFAIL["$xname"]="$xreason"
	done <"$XFAIL_FILE"
else
	warn "$XFAIL_REL not found: every failure is unexpected"
fi

# ---- select ---------------------------------------------------------------------------
if [[ -n "$FILTER" ]]; then
	mapfile -t TESTS < <(printf '%s\n' "${ALL[@]}" | grep -E -- "$FILTER" || true)
	say "VFIO_FILTER '$FILTER' selects ${#TESTS[@]} of $TOTAL_LISTED tests"
else
	TESTS=("${ALL[@]}")
fi
T="${#TESTS[@]}"

# ---- huge pages --------------------------------------------------------------------------
# The *_hugetlb_2mb and *_hugetlb_1gb variants mmap one 2 MiB / 1 GiB page
# (MAP_HUGETLB) and SKIP when none is free.  Reserve them for the run.
declare -A HP_OLD=()
restore_hugepages() {
	local f
	for f in "${!HP_OLD[@]}"; do
		echo "${HP_OLD[$f]}" >"$f" 2>/dev/null || warn "could not restore $f to ${HP_OLD[$f]}"
		unset 'HP_OLD[$f]'
	done
}
reserve_hugepages() {
	local f="$1" want="$2" what="$3" cur now
	[[ -w "$f" ]] || { warn "$f is not writable: the $what variants skip unless pages are free"; return 0; }
	cur="$(cat "$f")"
	[[ "$cur" -ge "$want" ]] && return 0
	HP_OLD["$f"]="$cur"
	echo "$want" >"$f" 2>/dev/null || true
	now="$(cat "$f")"
	if [[ "$now" -lt "$want" ]]; then
		warn "could only reserve $now of $want $what pages: those variants will skip"
	else
		say "$what huge pages reserved for the run: $cur -> $now"
	fi
}
if [[ "${VFIO_HUGEPAGES:-1}" != 0 && "$(id -u)" == 0 ]]; then
	reserve_hugepages /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages $((JOBS + 1)) 2MiB
	reserve_hugepages /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages "$JOBS" 1GiB
fi

# ---- per-test execution -----------------------------------------------------------------
rm -rf "$RESDIR"
mkdir -p "$RESDIR" "$LOGDIR"

# shellcheck source=tests/lib/selftest.sh
source "$REPO/tests/lib/selftest.sh"
ST_NAME="$NAME"
ST_XFAIL_REL="$XFAIL_REL"
trap st_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_one INDEX PROGRAM/NAME: runs one test, writes $RESDIR/INDEX.res:
#   line 1: PASS|FAIL|SKIP   line 2: one-line reason   rest: log excerpt
run_one() {
	local idx="$1" full="$2" prog="${2%%/*}" name="${2#*/}"
	local log="$LOGDIR/${full//\//__}.log" res="$RESDIR/$1.res"
	local rc=0
	local -a DEVOPTS=()
	local DEVLIST=""
	device_opts "$(ndevices_of "$prog")"
	rm -f "$log"
	(cd "$OUT" && VFIO_WANT_DEVICES="$DEVLIST" exec timeout -k 5 "$TIMEOUT" \
		"${LAUNCH[@]}" "${DEVOPTS[@]}" -- "$HELPER" "$BIN/$prog" -r "$name") \
		>"$log" 2>&1 </dev/null &
	echo $! >"$RESDIR/$idx.pid"
	{ wait $! || rc=$?; } 2>/dev/null
	rm -f "$RESDIR/$idx.pid"

	st_result "$res" "$name" "$log" "$rc" "$TIMEOUT"
	return 0
}

say "running $T tests, $JOBS at a time, timeout ${TIMEOUT}s each, under: ${LAUNCH[*]#"$REPO"/} --device $DEVTYPE,bdf=... (perf test: $PERF_DEVICES devices)"

st_run_all

# ---- verdict ---------------------------------------------------------------------------------
st_verdict
