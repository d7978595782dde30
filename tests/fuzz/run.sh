#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run.sh [BUILD_DIR] - build and run the dispatch-layer libFuzzer target
# (`make fuzz`).
#
#   BUILD_DIR           default: build
#   FUZZ_SECONDS        length of the run (default 60)
#   FUZZ_VFIO_SECONDS   length of the VFIO target's run (default 30)
#   FUZZ_PROTO_SECONDS  length of the daemon-protocol target's run
#                       (default 30; it needs root, else it is skipped)
#   FUZZ_JOBS           parallel fuzzing processes (default 1)
#   FUZZ_ARGS           extra libFuzzer arguments
#   UFD_FUZZ_TRACE=1    the target prints every call (for replaying a crash)
#   CC_FUZZ             the compiler (default clang)
#   FUZZ_SRC            take src/ and include/ from this tree instead of the
#                       repository (e.g. a `git archive` of a commit, to fuzz
#                       it while the working tree is being edited)
#
# Steps: compile tests/fuzz/fuzz_dispatch.c with every engine, dispatch and
# device model source (not the shim) under
# -fsanitize=fuzzer,address,undefined into BUILD_DIR/fuzz/fuzz_dispatch (always rebuilt: it takes seconds;
# the checking functions listed in tests/fuzz/nocov.txt get no coverage
# instrumentation); add the
# hand-made seeds below to BUILD_DIR/fuzz/corpus (which keeps what earlier
# runs found); replay tests/fuzz/crashes/*; run libFuzzer for FUZZ_SECONDS;
# print executions, exec/s and coverage.
# The last line is "fuzz: 1 passed, 0 failed, 0 skipped", or on a crash
# "fuzz: 0 passed, 1 failed, 0 skipped" after the crash file and the
# sanitizer report's first lines.  Crash inputs are kept under
# BUILD_DIR/fuzz/crashes/; tests/fuzz/crashes/ holds reproducers of
# reported bugs, which are replayed first.  Exit 0 only on a clean run.
set -uo pipefail

B=${1:-build}
cd "$(dirname "$0")/../.." || exit 1
REPO=$PWD
case "$B" in /*) ;; *) B="$REPO/$B" ;; esac

OUT="$B/fuzz"
BIN="$OUT/fuzz_dispatch"
CORPUS="$OUT/corpus"
CRASHES="$OUT/crashes"
LOG="$OUT/fuzz.log"
SECONDS_RUN=${FUZZ_SECONDS:-60}
JOBS=${FUZZ_JOBS:-1}
CC_FUZZ=${CC_FUZZ:-clang}

fail() { # message...
	echo "fuzz: ERROR: $*"
	echo "fuzz: 0 passed, 1 failed, 0 skipped"
	exit 1
}

mkdir -p "$OUT" "$CORPUS" "$CRASHES" || fail "cannot create $OUT"

# ---- build ------------------------------------------------------------------
command -v "$CC_FUZZ" >/dev/null ||
	fail "$CC_FUZZ not found (install clang and libclang-rt-14-dev; tests/run-all.sh does)"

T=${FUZZ_SRC:-.}
# shellcheck disable=SC2054  # the commas are -fsanitize's
CFLAGS=(-g -O1 -fno-omit-frame-pointer -std=gnu11 -D_GNU_SOURCE
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-Wall -Wextra -Werror -Wno-unused-parameter -Wmissing-prototypes -Wshadow
	-I"$T/include" -I"$T/include/uiommufd/uapi" -I"$T/src"
	-fsanitize-coverage-ignorelist=tests/fuzz/nocov.txt)
SRCS=(tests/fuzz/fuzz_dispatch.c "$T"/src/engine/*.c "$T"/src/uapi/*.c)
# The VFIO files reach the device models (src/devices/, where a tree has them).
for f in "$T"/src/devices/*.c; do
	[ -e "$f" ] && SRCS+=("$f")
done

echo "fuzz: building $BIN"
if ! "$CC_FUZZ" "${CFLAGS[@]}" -o "$BIN.tmp" "${SRCS[@]}" -lpthread \
	>"$OUT/build.log" 2>&1; then
	cat "$OUT/build.log"
	if grep -q 'libclang_rt.fuzzer\|fsanitize=fuzzer' "$OUT/build.log"; then
		fail "libFuzzer is missing (Debian: apt-get install libclang-rt-14-dev)"
	fi
	fail "build failed"
fi
mv -f "$BIN.tmp" "$BIN"

# ---- seeds --------------------------------------------------------------------
# Hand-made inputs (format: see the top of fuzz_dispatch.c): a configuration
# byte, then one record per operation: selector, modifier, the bytes of its
# fields (trailing zero bytes may be left out).  seed() adds the length
# bytes.  IDs and fd numbers are the ones the calls return.
seed() { # name config op...
	local name=$1 op
	# shellcheck disable=SC2059
	printf "$2" >"$CORPUS/seed-$name"
	shift 2
	for op in "$@"; do
		# shellcheck disable=SC2059
		printf "\\x$(printf %02x "$(printf "$op" | wc -c)")"
		# shellcheck disable=SC2059
		printf "$op"
	done >>"$CORPUS/seed-$name"
}
ALLOC='\x00\x00\x01'                           # IOAS_ALLOC -> IOAS 1
MAP='\x1f\x00\x06\x08\x00\x01\x00\x01\x03'     # MAP arena pages 0-3, RW, IOAS 1
UNMAP_ALL='\x00\x00\x06\x00\x08'               # UNMAP everything of IOAS 1
CREATE_ACCESS='\x0e\x00\x03\x00\x08'           # CREATE_ACCESS (pins) on IOAS 1: fd 3
seed alloc-map-unmap '\x00' "$ALLOC" "$MAP" "$UNMAP_ALL"
seed access-pages '\x00' "$ALLOC" "$MAP" "$CREATE_ACCESS" \
	'\x0e\x00\x06\x00\x01\x01\x01\x00\x01' \
	'\x0e\x00\x01\x00\x08\x01\x00\x01\x01' \
	'\x1c'
# (ACCESS_PAGES fd 3 on 2 mapped pages; MD_CHECK_REFS 2 pages, 1 ref;
# close fd 3)
seed access-rw '\x10' "$ALLOC" "$MAP" "$CREATE_ACCESS" \
	'\x0e\x00\x0b\x00\x01\x05\x01\x00\x00\x10' \
	'\x0e\x00\x0b\x00\x01\x05\x01\x00\x00\x11' \
	"$UNMAP_ALL"
# (ACCESS_RW read, then write, of a mapped page; contexts closed first)
seed vfio '\x01' \
	'\x16\x00\x00' \
	'\x16\x00\x01\x01\x03' \
	"$ALLOC" \
	'\x00\x00\x08\x08\x01' \
	'\x16\x00\x02\x01\x03' \
	'\x16\x00\x04\x03\x01\x00\x01\x10\x01\x03' \
	'\x16\x00\x03' \
	'\x16\xc0\x06\x00\x01\x10\x01\x03\x03'
# (default engine: API version, CHECK_EXTENSION, IOMMU_VFIO_IOAS SET 1,
# SET_IOMMU, MAP_DMA, GET_INFO, UNMAP_DMA with a failing allocation)
seed devices '\x00' "$ALLOC" \
	'\x1f\x00\x07\x08\x00\x01\x00\x01\x03\x0f' \
	'\x0e\x00\x10\x00\x08' \
	'\x0e\x00\x13\x00\x01\x00\x03\x20' \
	'\x0d\x00\x10\x01\x00\x03\x03\x01\x02\x03' \
	'\x0d\x00\x10\x01\x00\x03\x05' \
	'\x00\x00\x09\x03\x10\x08' \
	'\x0e\x00\x12\x00\x18\x28' \
	'\x00\x00\x0b\x01\x28' \
	'\x0e\x00\x15\x00\x01\x00\x03\x28\x00\x00\x05' \
	'\x00\x00\x0c\x28\x00\x00\x01\x00\x03\x00\x01' \
	'\x00\x00\x09\x00\x10\x28\x00\x05' \
	'\x0e\x00\x14\x00\x20' \
	'\x00\x00\x0d\x00\x20\x02\x00\x00\x00\x00\x01' \
	'\x0e\x00\x14\x00\x20\x41' \
	'\x00\x00\x0e' \
	'\x00\x00\x09\x04\x10\x28\x00\x05' \
	'\x0e\x00\x12\x00\x18\x38' \
	'\x0e\x00\x16\x00\x00\x10\x08\x0f' \
	'\x1b' \
	'\x1b\x00\x02\x00\x00\x01\x00\x02\x00\x03\x00\x03' \
	"$UNMAP_ALL" '\x1c'
# (MAP 4 pages at the mock aperture; MOCK_DOMAIN -> dev 2, stdev 3, HWPT 4;
# MD_CHECK_MAP; DMA write + read back, DMA scatter list; HWPT_ALLOC NEST_PARENT|DIRTY -> 5; MOCK_DOMAIN_REPLACE to 5;
# dirty tracking on, DIRTY, GET_DIRTY_BITMAP; nested HWPT -> 4; IOTLB check,
# INVALIDATE 2 entries, IOTLB check; FAULT_QUEUE_ALLOC -> 6, fd 3; nested
# HWPT with the queue -> 7; replace to 7; TRIGGER_IOPF; read and answer the
# fault fd; UNMAP all; close fd 3)
rows=()
for row in $(seq 0 15); do
	rows+=("\\x00\\x28\\x$(printf %02x "$row")" "\\x00\\x38\\x$(printf %02x "$row")\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x05\\x07")
done
seed sizes '\x00' "${rows[@]}"
# (every table row with size min_size - 1, then with a nonzero tail)
seed faults '\x02' \
	'\x00\xc0\x01\x00\x00\x03' \
	"$ALLOC" "$MAP" \
	'\x00\xc0\x05\x06\x08\x00\x01\x00\x01\x03\x00\x00\x04' \
	'\x0e\xc0\x03\x00\x08\x00\x01'
# (IOAS_ALLOC with allocation 2 failing; ALLOC; MAP; MAP with the source's
# 3rd access failing; CREATE_ACCESS with allocation 1 failing)
seed random '\x00' \
	'\x1a\x00\x00\x8f' \
	'\x1a\x00\x02\x01\x85\x00\x01\x08' \
	'\x1e\x01' "$ALLOC" \
	'\x1a\x00\x03\x01\x02\x03\x04\x05\x06\x07\x08\x10'
# (random ioctl numbers; a context reopen)

# ---- helpers shared by the three targets ------------------------------------------
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0
# done_with FAILED: the summary line (this target counted as FAILED 0/1,
# the ones after it not run), and exit on a failure.
done_with() {
	if [ "$1" != 0 ]; then
		echo "fuzz: $passed passed, 1 failed, 0 skipped"
		exit 1
	fi
	passed=$((passed + 1))
}

report_crash() { # bin file log
	echo "fuzz: crash input: $2"
	echo "fuzz: reproduce with: $1 $2"
	echo "fuzz: report (first lines):"
	grep -m1 -n -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|^fuzz_dispatch: |^fuzz_vfio: |^fuzz_proto: |^uiommufd: ' "$3" |
		cut -d: -f1 | {
		read -r first || first=1
		tail -n "+$first" "$3" | grep -v -e '^INFO:' -e ' Aborted ' | head -n 25 | sed 's/^/    /'
	}
}

# build_target BIN LOG SRC...: compile a target (extra includes: tests/fuzz)
build_target() {
	local bin=$1 log=$2
	shift 2
	echo "fuzz: building $bin"
	if ! "$CC_FUZZ" "${CFLAGS[@]}" -Itests/fuzz -o "$bin.tmp" "$@" -lpthread \
		>"$log" 2>&1; then
		cat "$log"
		return 1
	fi
	mv -f "$bin.tmp" "$bin"
}

# replay BIN FILE...: the kept reproducers of reported bugs must pass
replay() {
	local bin=$1 f rrc bad=0
	shift
	for f in "$@"; do
		[ -e "$f" ] || continue
		rrc=0
		{ "$bin" "$f"; } >"$OUT/replay.log" 2>&1 || rrc=$?
		if [ "$rrc" != 0 ]; then
			echo "fuzz: known reproducer still fails: $f"
			report_crash "$bin" "$f" "$OUT/replay.log"
			bad=1
		else
			echo "fuzz: known reproducer passes now: $f"
		fi
	done
	return "$bad"
}

# fuzz_target WHAT BIN CORPUS LOG SECONDS TIMEOUT ARTIFACTS [STATS-PREFIX]:
# run libFuzzer, print its figures, report a crash; status 1 on failure.
fuzz_target() {
	local what=$1 bin=$2 corpus=$3 log=$4 secs=$5 tmo=$6 art=$7 pre=${8:-}
	local rc=0 last execs eps cov ft corp crash
	local -a args=(-max_total_time="$secs" -rss_limit_mb=2048 -timeout="$tmo"
		-print_final_stats=1 -artifact_prefix="$art")
	if [ "$JOBS" -gt 1 ]; then
		args+=(-fork="$JOBS" -ignore_crashes=0)
	fi
	# (In a group, so the shell's "Aborted" notice goes to the log too.)
	# shellcheck disable=SC2086
	{ "$bin" "${args[@]}" ${FUZZ_ARGS:-} "$corpus"; } >"$log" 2>&1 || rc=$?
	# libFuzzer's last status line (#N DONE/pulse ... cov: C ft: F ... exec/s: E)
	last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
	execs=$(sed -n -E 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -n 1)
	eps=$(sed -n -E 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log" | tail -n 1)
	[ -n "$execs" ] || execs=$(sed -n -E 's/^#([0-9]+).*/\1/p' <<<"$last")
	# (fork mode's status lines say "exec/s N", without the colon)
	[ -n "$eps" ] || eps=$(sed -n -E 's/.*exec\/s:? ([0-9]+).*/\1/p' <<<"$last")
	cov=$(sed -n -E 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")
	ft=$(sed -n -E 's/.*ft: ([0-9]+).*/\1/p' <<<"$last")
	corp=$(sed -n -E 's/.*corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$last")
	if [ -z "$pre" ]; then
		echo "fuzz: ${execs:-?} executions, ${eps:-?} exec/s, coverage: ${cov:-?} edges, ${ft:-?} features, corpus ${corp:-?}"
	else
		echo "fuzz: $pre: ${execs:-?} executions, ${eps:-?} exec/s, coverage: ${cov:-?} edges"
	fi
	echo "fuzz: log: $log"
	[ "$rc" = 0 ] && return 0
	crash=$(sed -n -E 's/.*Test unit written to (.*)$/\1/p' "$log" | tail -n 1)
	if [ -n "$crash" ]; then
		report_crash "$bin" "$crash" "$log"
	else
		echo "fuzz: $what exited with status $rc; the log ends:"
		tail -n 25 "$log" | sed 's/^/    /'
	fi
	return 1
}

# ---- the dispatch layer: the first target ----------------------------------------
bad=0
mapfile -t known < <(compgen -G "tests/fuzz/crashes/*" | grep -v -E '\.(md|txt)$|/(proto|vfio)-' || true)
replay "$BIN" "${known[@]}" || bad=1
echo "fuzz: running for ${SECONDS_RUN}s ($JOBS job(s)), corpus $CORPUS"
fuzz_target libFuzzer "$BIN" "$CORPUS" "$LOG" "$SECONDS_RUN" 10 "$CRASHES/" || bad=1
done_with "$bad"

# ---- the VFIO files: a second target ------------------------------------------------
# tests/fuzz/fuzz_vfio.c drives the VFIO container, group and device files
# over an emulated I/OAT device and an igb NIC with SR-IOV (sandboxed
# memory, as above).  Reproducers: tests/fuzz/crashes/vfio-*.
VBIN="$OUT/fuzz_vfio"
VCORPUS="$OUT/corpus-vfio"
mkdir -p "$VCORPUS"
VSRCS=(tests/fuzz/fuzz_vfio.c "$T"/src/engine/*.c "$T"/src/uapi/*.c)
for f in "$T"/src/devices/*.c; do
	[ -e "$f" ] && VSRCS+=("$f")
done
build_target "$VBIN" "$OUT/build-vfio.log" "${VSRCS[@]}" || done_with 1
# Seeds: open a device cdev, an iommufd, BIND, and a config-space read.
printf '\x00\x00\x03\x00\x00\x01\x00\x00\x02\x00\x12\x10' >"$VCORPUS/seed-open-bind"
printf '\x00\x00\x01\x00\x00\x01\x02\x00\x02\x02\x00\x07\x00\x04\x02\x04\x00' >"$VCORPUS/seed-group"
bad=0
replay "$VBIN" tests/fuzz/crashes/vfio-* || bad=1
echo "fuzz: running the VFIO target for ${FUZZ_VFIO_SECONDS:-30}s, corpus $VCORPUS"
fuzz_target "the VFIO target" "$VBIN" "$VCORPUS" "$OUT/fuzz-vfio.log" \
	"${FUZZ_VFIO_SECONDS:-30}" 10 "$CRASHES/vfio-" vfio || bad=1
done_with "$bad"

# ---- the daemon protocol: a third target ------------------------------------------
# tests/fuzz/fuzz_proto.c serves a channel with the daemon's own loop
# (src/server/daemon.c) and sends it messages and fds built from the input,
# as a client process (a forked child) that it names in each message's
# credentials: that needs root.  Reproducers: tests/fuzz/crashes/proto-*.
PBIN="$OUT/fuzz_proto"
PCORPUS="$OUT/corpus-proto"
if [ "$(id -u)" != 0 ]; then
	echo "fuzz: proto: skipped (needs root to send a child's credentials)"
	echo "fuzz: $passed passed, 0 failed, 1 skipped"
	exit 0
fi
mkdir -p "$PCORPUS"
PSRCS=(tests/fuzz/fuzz_proto.c "$T"/src/engine/*.c "$T"/src/uapi/*.c
	"$T"/src/server/*.c)
for f in "$T"/src/devices/*.c; do
	[ -e "$f" ] && PSRCS+=("$f")
done
build_target "$PBIN" "$OUT/build-proto.log" "${PSRCS[@]}" || done_with 1
# Seeds (format: the top of fuzz_proto.c): records of [length, selector,
# modifier, answer byte, fields].
pseed() { # name record...
	local name=$1 r
	shift
	for r in "$@"; do
		# shellcheck disable=SC2059
		printf "\\x$(printf %02x "$(printf "$r" | wc -c)")"
		# shellcheck disable=SC2059
		printf "$r"
	done >"$PCORPUS/seed-$name"
}
OPEN='\x00\x00\x00\x00'                    # OPEN /dev/iommu: fd 6
IOAS='\x02\x00\x00\x00\x03'                # IOCTL fd 6, IOAS_ALLOC
pseed open-alloc "$OPEN" "$IOAS" '\x07\x00\x00\x00'
pseed install-answers "$OPEN" '\x00\x00\x01' '\x00\x00\x02' '\x00\x00\x04' \
	'\x00\x00\x05' '\x00\x00\x03' "$OPEN"
# (OPEN answered properly, with -EMFILE, with the wrong message, with
# garbage first, with a negative fd, by hanging up; OPEN again)
pseed vfio '\x00\x00\x00\x05\x00' '\x00\x00\x00\x04\x03' \
	'\x09\x00\x00\x00\x00\x00\x00\x02' \
	'\x08\x00\x00\x00\x00\x00\x00\x03' \
	'\x0a\x00\x00\x00\x00\x00\x00\x03\x00' '\x0b\x00\x00\x00\x00' \
	'\x0c\x00\x00\x01\x00\x02\x00\x10'
# (OPEN device cdev 0, group 3; MMIO, MMAP, BAR_MAPPED, BAR_UNMAPPED,
# DESCRIBE)
pseed raw '\x1d\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00' \
	'\x2d\x00\x00\x31\x64\x66\x75' '\x1f\x00\x00' '\x0f\x00\x00' \
	'\x00\x10\x00\x00' '\x0e\x00\x00\x00'
# (a raw IOCTL, a short record, a new nonce, a dropped channel, OPEN with
# an fd attached, the program closing fd 6)
pseed ring '\x80\x00\x00\x00' '\x82\x00\x00\x00\x03' '\x87\x00\x00\x00' \
	'\x2f\x00\x00\x05' '\x89\x00\x00\x00\x00\x00\x00\x02' '\x0f\x00\x00' \
	'\x82\x00\x00\x00\x03'
# (through the shared ring: OPEN, IOAS_ALLOC, FILE_KIND, posted stores,
# MMIO; the channel dropped, then a new ring)
bad=0
replay "$PBIN" tests/fuzz/crashes/proto-* || bad=1
echo "fuzz: running the protocol target for ${FUZZ_PROTO_SECONDS:-30}s, corpus $PCORPUS"
# (-timeout=30: an input's requests may wait on the device models'
# workers, which a loaded machine slows down; a hang is still one.)
fuzz_target "the protocol target" "$PBIN" "$PCORPUS" "$OUT/fuzz-proto.log" \
	"${FUZZ_PROTO_SECONDS:-30}" 30 "$CRASHES/proto-" proto || bad=1
done_with "$bad"
echo "fuzz: $passed passed, 0 failed, 0 skipped"
exit 0
