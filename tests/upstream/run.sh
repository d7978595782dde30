#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run.sh - conformance run of the kernel's iommufd selftests against uiommufd.
#
# The selftests (tools/testing/selftests/iommu/iommufd.c and the fault-
# injection sweep iommufd_fail_nth.c) are taken UNMODIFIED from the kernel
# sources that fetch-ksrc.sh provides, built against OUR uapi headers
# (include/uiommufd/uapi), and every test of both is run as its own process
# under the launcher:
#
#   timeout -k 5 $UPSTREAM_TIMEOUT build/uiommufd-run -- build/upstream/BINARY -r NAME
#
# BINARY is iommufd or iommufd_fail_nth; the test names of the two do not
# overlap (fail_nth's are basic_fail_nth.*), so one list, one expected-
# failures file and one summary cover both.  iommufd_fail_nth needs the
# fault-injection files, which the preload library emulates (the calling
# thread's /proc/.../fail-nth and the failslab / fail_page_alloc knobs
# under /sys/kernel/debug; see src/shim/failnth.c).
#
# Output: one line per test (PASS/FAIL/SKIP name), the log excerpt of
# failures, an expected-failure accounting line and, as the last line,
#
#   upstream: N passed, M failed, K skipped of T
#
# M counts every failure, expected or not.  The exit status is 1 when a test
# not listed in tests/upstream/expected-failures fails, a listed test passes
# (XPASS), the list names a test the binary does not have, or the build fails.
#
# Usage: run.sh            build and run (as described above)
#        run.sh --list     build and print the full test names, one per line
#
# Which kernel's selftests (UPSTREAM_KERNEL, default 6.12):
#   6.12  Debian's linux-source-6.12 (fetch-ksrc.sh --profile iommufd);
#         output in build/upstream/, expected failures in
#         tests/upstream/expected-failures
#   7.3   Debian's linux-source-7.3 (fetch-ksrc.sh --profile vfio, the tree
#         the VFIO selftests come from); output in build/upstream-7.3/,
#         expected failures in tests/upstream/expected-failures-7.3; it links
#         libcap (libcap-dev, installed with apt-get when missing)
# Each runs under the launcher's personality of the same kernel
# (uiommufd-run --kernel=6.12|7.3).
#
# Environment:
#   UPSTREAM_FILTER=REGEX   run only tests whose full name matches (grep -E)
#   UPSTREAM_JOBS=N         run N tests in parallel (default 1; output stays ordered)
#   UPSTREAM_TIMEOUT=SEC    outer per-test timeout (default 120)
#   UPSTREAM_LAUNCHER=CMD   command prefix instead of "build/uiommufd-run --";
#                           set it empty to run the binary directly (development)
#   UPSTREAM_UAPI_DIR=DIR   uapi header directory (default include/uiommufd/uapi;
#                           must hold linux/iommufd.h and iommufd_test.h)
#   UPSTREAM_KERNEL=6.12|7.3  which selftests, and which personality (see above)
#   KSRC=DIR                kernel tree to use instead of the cached Debian package

# shellcheck disable=SC2317  # cleanup/restore functions are called from traps
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"

KERNEL="${UPSTREAM_KERNEL:-6.12}"
case "$KERNEL" in
6.12) OUT="$REPO/build/upstream"; XFAIL_REL=tests/upstream/expected-failures; KSRC_PROFILE=iommufd ;;
7.3)  OUT="$REPO/build/upstream-7.3"; XFAIL_REL=tests/upstream/expected-failures-7.3; KSRC_PROFILE=vfio ;;
*) echo "upstream: ERROR: UPSTREAM_KERNEL must be 6.12 or 7.3 (got '$KERNEL')" >&2; exit 2 ;;
esac
TREE="$OUT/tree"
BIN="$OUT/iommufd"
BIN_FN="$OUT/iommufd_fail_nth"
LOGDIR="$OUT/logs"
XFAIL_FILE="$REPO/$XFAIL_REL"
UAPI="${UPSTREAM_UAPI_DIR:-$REPO/include/uiommufd/uapi}"
TIMEOUT="${UPSTREAM_TIMEOUT:-120}"
JOBS="${UPSTREAM_JOBS:-1}"
FILTER="${UPSTREAM_FILTER:-}"
NEED_HUGEPAGES=160

LIST_ONLY=0
case "${1:-}" in
"") ;;
--list) LIST_ONLY=1 ;;
-h|--help) awk 'NR < 3 { next } !/^#/ || /^# shellcheck/ { exit } { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
*) echo "usage: $0 [--list]" >&2; exit 2 ;;
esac

say()  { echo "upstream: $*" >&3; }
warn() { echo "upstream: WARNING: $*" >&2; }
die()  { echo "upstream: ERROR: $*" >&2; exit 1; }

[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || die "UPSTREAM_JOBS must be a positive integer (got '$JOBS')"
[[ "$TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die "UPSTREAM_TIMEOUT must be a positive number of seconds (got '$TIMEOUT')"
if [[ -n "$FILTER" ]]; then
	rc=0
	grep -qE -- "$FILTER" <<<"" 2>/dev/null || rc=$?
	[[ "$rc" -le 1 ]] || die "UPSTREAM_FILTER is not a valid extended regex: $FILTER"
fi

# Progress messages go to stdout, except with --list where stdout is the list.
if [[ "$LIST_ONLY" == 1 ]]; then exec 3>&2; else exec 3>&1; fi

# ---- launcher ----------------------------------------------------------------
if [[ "$LIST_ONLY" == 1 ]]; then
	LAUNCH=()	# listing does not open /dev/iommu
elif [[ -n "${UPSTREAM_LAUNCHER+set}" ]]; then
	read -r -a LAUNCH <<<"$UPSTREAM_LAUNCHER"
	if [[ "${#LAUNCH[@]}" == 0 ]]; then
		warn "UPSTREAM_LAUNCHER is empty: running the selftest WITHOUT the launcher"
	fi
else
	LAUNCH=("$REPO/build/uiommufd-run" "--kernel=$KERNEL" --)
	[[ -x "${LAUNCH[0]}" ]] || die "launcher build/uiommufd-run not found; run 'make' first"
	# The selftest expects a fully privileged root (global_options sets
	# IOMMU_OPTION_RLIMIT_MODE, which needs CAP_SYS_RESOURCE).  A container's
	# root may lack it; then grant the emulated capability explicitly.
	capeff=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
	if [[ "$(id -u)" == 0 && -n "$capeff" ]] && (( ((16#$capeff >> 24) & 1) == 0 )); then
		say "root here lacks CAP_SYS_RESOURCE: granting the emulated one (uiommufd-run --cap sys_resource)"
		LAUNCH=("$REPO/build/uiommufd-run" "--kernel=$KERNEL" --cap sys_resource --)
	fi
fi

# ---- kernel sources and build ---------------------------------------------------
KS="$("$REPO/tests/upstream/fetch-ksrc.sh" --profile "$KSRC_PROFILE" | tail -n1)" || die "could not obtain the kernel sources (see above)"
[[ -n "$KS" && -d "$KS" ]] || die "fetch-ksrc.sh returned no tree"

build_failed() {
	echo "upstream: ERROR: $*" >&2
	say "build failed, no test was run"
	exit 1
}

[[ -f "$UAPI/linux/iommufd.h" ]] || build_failed "our uapi header $UAPI/linux/iommufd.h is missing"
[[ -f "$UAPI/linux/vfio.h" ]] || build_failed "our uapi header $UAPI/linux/vfio.h is missing"
[[ -f "$UAPI/iommufd_test.h" ]] || build_failed "our uapi header $UAPI/iommufd_test.h is missing"

say "building the selftests from $KS against ${UAPI#"$REPO"/}"
rm -rf "$TREE"
sel="tools/testing/selftests"
mkdir -p "$TREE/$sel/iommu" "$TREE/drivers/iommu/iommufd" "$LOGDIR"
cp "$KS/$sel/iommu/iommufd.c" "$KS/$sel/iommu/iommufd_utils.h" "$TREE/$sel/iommu/"
[[ -f "$KS/$sel/iommu/iommufd_fail_nth.c" ]] || build_failed "$KS has no $sel/iommu/iommufd_fail_nth.c"
cp "$KS/$sel/iommu/iommufd_fail_nth.c" "$TREE/$sel/iommu/"
cp "$KS/$sel"/kselftest*.h "$TREE/$sel/"
cp "$UAPI/iommufd_test.h" "$TREE/drivers/iommu/iommufd/iommufd_test.h"
rm -f "$BIN" "$BIN_FN"
CFLAGS_UP=(-Wall -O2 -Wno-unused-function -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=0 -D_GNU_SOURCE "-I$UAPI" "-I$TREE/$sel")
LDLIBS_UP=()
if grep -q '^LDLIBS.*-lcap' "$KS/$sel/iommu/Makefile" 2>/dev/null; then
	# the 7.x selftest drops CAP_IPC_LOCK with libcap
	LDLIBS_UP=(-lcap)
	if [[ ! -f /usr/include/sys/capability.h ]]; then
		[[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1 ||
			build_failed "the $KERNEL selftest needs libcap-dev (sys/capability.h)"
		say "installing libcap-dev with apt-get"
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libcap-dev >&2 ||
			{ apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libcap-dev >&2; } ||
			build_failed "could not install libcap-dev"
	fi
fi
: >"$OUT/build.log"
for src in iommufd iommufd_fail_nth; do
	if ! (cd "$TREE/$sel/iommu" && gcc "${CFLAGS_UP[@]}" "$src.c" -o "$OUT/$src" "${LDLIBS_UP[@]}") >>"$OUT/build.log" 2>&1; then
		echo "upstream: compiler output (first errors; full log in ${OUT#"$REPO"/}/build.log):" >&2
		{ grep -E 'error' "$OUT/build.log" || cat "$OUT/build.log"; } | head -n 25 | sed 's/^/    /' >&2
		build_failed "the selftest $src.c does not compile against ${UAPI#"$REPO"/}"
	fi
done

# ---- list the tests ----------------------------------------------------------------
# `iommufd -l` prints (stderr) per fixture a block of rows
#     printf("%-20s %-25s %s\n", fixture-or-"", variant-or-"", test-or-"")
# where the fixture name is only on the block's first row and variants and
# tests are listed side by side (row i = i-th variant, i-th test).  Blocks are
# separated by a row of dashes; the first line is a "# FIXTURE" header.
# Because over-long names shift the following columns, fields are located by
# the printf widths rather than by splitting on whitespace.  A test's full
# name is FIXTURE.VARIANT.TEST, or FIXTURE.TEST without variants (as -r wants).
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
		if (line ~ /^[^ ]/) {                   # first row of a fixture
			flush()
			match(line, /^[^ ]+/)
			fx = substr(line, 1, RLENGTH)
			off = (RLENGTH > 20 ? RLENGTH : 20) + 1
		} else {
			off = 21
		}
		rest = substr(line, off + 1)            # variant column onwards
		vn = ""
		if (rest ~ /^[^ ]/) { match(rest, /^[^ ]+/); vn = substr(rest, 1, RLENGTH) }
		tn = substr(rest, (length(vn) > 25 ? length(vn) : 25) + 2)
		gsub(/^ +| +$/, "", tn)
		if (vn != "") v[nv++] = vn
		if (tn != "") t[nt++] = tn
	}
	END { flush() }
' "$1"
}
ALL=()
declare -A BIN_OF=()
for b in "$BIN" "$BIN_FN"; do
	bn="$(basename "$b")"
	list_rc=0
	"$b" -l >"$OUT/list-$bn.txt" 2>&1 </dev/null || list_rc=$?
	[[ "$list_rc" == 0 || "$list_rc" == 4 ]] || die "'$bn -l' failed with status $list_rc (see ${OUT#"$REPO"/}/list-$bn.txt)"
	mapfile -t names < <(parse_list "$OUT/list-$bn.txt")
	[[ "${#names[@]}" -gt 0 ]] || die "could not parse any test from '$bn -l' (see ${OUT#"$REPO"/}/list-$bn.txt)"
	for n in "${names[@]}"; do
		[[ -z "${BIN_OF[$n]+x}" ]] || die "test $n is in more than one selftest binary"
		BIN_OF["$n"]="$b"
		ALL+=("$n")
	done
done
TOTAL_LISTED="${#ALL[@]}"
if [[ "$LIST_ONLY" == 1 ]]; then
	printf '%s\n' "${ALL[@]}"
	exit 0
fi
declare -A EXISTS=()
for n in "${ALL[@]}"; do EXISTS["$n"]=1; done

# ---- expected failures -----------------------------------------------------------
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
			echo "upstream: ERROR: expected-failures:$lineno: '$xname' is not a test of these selftest binaries" >&2
			list_errors=$((list_errors + 1))
			continue
		fi
		if [[ -n "${XFAIL[$xname]+x}" ]]; then
			echo "upstream: ERROR: expected-failures:$lineno: '$xname' is listed twice" >&2
			list_errors=$((list_errors + 1))
		fi
		XFAIL["$xname"]="$xreason"
	done <"$XFAIL_FILE"
else
	warn "$XFAIL_REL not found: every failure is unexpected"
fi

# ---- select ----------------------------------------------------------------------
if [[ -n "$FILTER" ]]; then
	mapfile -t TESTS < <(printf '%s\n' "${ALL[@]}" | grep -E -- "$FILTER" || true)
	say "UPSTREAM_FILTER '$FILTER' selects ${#TESTS[@]} of $TOTAL_LISTED tests"
else
	TESTS=("${ALL[@]}")
fi
T="${#TESTS[@]}"

# ---- hugepages ---------------------------------------------------------------------
HP=/proc/sys/vm/nr_hugepages
HP_OLD=""
restore_hugepages() {
	if [[ -n "$HP_OLD" ]]; then
		echo "$HP_OLD" >"$HP" 2>/dev/null || warn "could not restore $HP to $HP_OLD"
		HP_OLD=""
	fi
}
if [[ "$(id -u)" == 0 ]]; then
	if [[ -w "$HP" ]]; then
		cur="$(cat "$HP")"
		if [[ "$cur" -lt "$NEED_HUGEPAGES" ]]; then
			HP_OLD="$cur"
			echo "$NEED_HUGEPAGES" >"$HP" 2>/dev/null || true
			now="$(cat "$HP")"
			if [[ "$now" -lt "$NEED_HUGEPAGES" ]]; then
				warn "could only raise vm.nr_hugepages to $now (wanted $NEED_HUGEPAGES): hugepage tests may fail"
			else
				say "vm.nr_hugepages raised from $cur to $now for the run"
			fi
		fi
	else
		warn "$HP is not writable: hugepage tests (22) will fail unless vm.nr_hugepages >= $NEED_HUGEPAGES"
	fi
else
	if [[ "$(cat "$HP" 2>/dev/null || echo 0)" -lt "$NEED_HUGEPAGES" ]]; then
		warn "not root: cannot raise vm.nr_hugepages to $NEED_HUGEPAGES; the hugepage tests (22) will fail"
	fi
fi

# ---- per-test execution ------------------------------------------------------------
RESDIR="$OUT/results"
rm -rf "$RESDIR"
mkdir -p "$RESDIR" "$LOGDIR"

# shellcheck source=tests/lib/selftest.sh
source "$REPO/tests/lib/selftest.sh"
ST_NAME=upstream
ST_XFAIL_REL=$XFAIL_REL
trap st_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_one INDEX NAME: runs one test, writes $RESDIR/INDEX.res:
#   line 1: PASS|FAIL|SKIP   line 2: one-line reason   rest: log excerpt
run_one() {
	local idx="$1" name="$2" log="$LOGDIR/$2.log" res="$RESDIR/$1.res"
	local rc=0
	rm -f "$log"
	(cd "$OUT" && exec timeout -k 5 "$TIMEOUT" "${LAUNCH[@]}" "${BIN_OF[$name]}" -r "$name") \
		>"$log" 2>&1 </dev/null &
	echo $! >"$RESDIR/$idx.pid"
	{ wait $! || rc=$?; } 2>/dev/null	# no "Segmentation fault" notice from bash
	rm -f "$RESDIR/$idx.pid"

	st_result "$res" "$name" "$log" "$rc" "$TIMEOUT"
	return 0
}

launch_desc="${LAUNCH[*]:-(no launcher)}"
say "running $T tests, $JOBS at a time, timeout ${TIMEOUT}s each, under: ${launch_desc#"$REPO"/}"

st_run_all

# ---- verdict ---------------------------------------------------------------------------
st_verdict
