#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run-all.sh - the project's complete test run (the README's test command;
# `make test` and .ci/run call it).  Works on a fresh clone:
#
#   bash tests/run-all.sh
#
# Steps (all of them run, even after a failure):
#   deps      install missing build/test dependencies (Debian, as root; apt is
#             skipped entirely when everything is present)
#   build     make -j2
#   check     make check      unit + ABI + uapi tests (ASan+UBSan)
#   fuzz      make fuzz       bounded libFuzzer run
#   upstream  make upstream   the kernel's iommufd selftests (and fail_nth), 6.12,
#                             under the launcher as --kernel=6.12
#   upstream73 make upstream-7.3  the same selftests from linux-source-7.3,
#                             as --kernel=7.3
#   vfio      make vfio-selftest  the kernel's VFIO selftests (7.3) against
#                                 the emulated ioat devices
#   vfio-igb  make vfio-selftest-igb  the same against the emulated 82576
#                                 NIC (igb), with vfio_pci_sriov_uapi_test
#   soak      make soak       8 processes, SIGKILLs, daemon under ASan
#   package   make package    the Debian packages built in a copy of the tree
#                             (tests/package.sh), unpacked with dpkg-deb -x,
#                             the packaged launcher run, lintian (no errors)
#
# Then a summary of every step.  The last two lines are
#
#   raw: N passed, M failed, K skipped            (M includes expected failures)
#   total: N passed, M failed, K skipped          (M = failures that fail the run)
#
# "total" counts check + upstream + upstream73 + vfio + vfio-igb + soak tests (deps, build, fuzz
# and package have no test counts: each counts one failure if it failed); expected failures (listed
# in tests/upstream/expected-failures{,-7.3} and tests/vfio/expected-failures{,-igb}) are not
# failures there, unexpected passes are, and a failed step that reported no failing test (build
# error, missing script, crash) counts as one failure.  The exit status is
# non-zero iff some step failed.

# shellcheck disable=SC2317  # deps() is called indirectly through run_step
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

LOGDIR="$REPO/build/test-logs"
mkdir -p "$LOGDIR"

export DEBIAN_FRONTEND=noninteractive

STEPS=()
declare -A STATUS=() NOTE=() COUNTS=() SECS=()

banner() { printf '\n======== %s ========\n' "$*"; }

# record STEP STATUS NOTE
record() {
	STEPS+=("$1")
	STATUS["$1"]="$2"
	NOTE["$1"]="${3:-}"
}

# run_step NAME CMD...: run with output streamed and logged; returns its status.
run_step() {
	local name="$1" rc=0 t0 t1
	shift
	banner "$name: $*"
	t0=$(date +%s)
	set +e
	"$@" </dev/null 2>&1 | tee "$LOGDIR/$name.log"
	rc="${PIPESTATUS[0]}"
	set -e
	t1=$(date +%s)
	SECS["$name"]=$((t1 - t0))
	return "$rc"
}

# ---- deps ----------------------------------------------------------------------
pkg_installed() {
	[[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

deps() {
	local missing=()
	if ! command -v gcc >/dev/null || ! command -v make >/dev/null ||
		! command -v cc >/dev/null || [[ ! -f /usr/include/stdio.h ]]; then
		missing+=(build-essential)
	fi
	# <linux/iommufd.h> and <linux/vfio.h> are ours (include/uiommufd/uapi);
	# what they and the sources build on still comes from linux-libc-dev.
	local h
	for h in linux/types.h linux/ioctl.h linux/stddef.h linux/capability.h; do
		if [[ ! -f "/usr/include/$h" ]]; then
			missing+=(linux-libc-dev)
			break
		fi
	done
	command -v clang >/dev/null || missing+=(clang)
	if command -v dpkg-query >/dev/null && ! pkg_installed libclang-rt-14-dev; then
		missing+=(libclang-rt-14-dev)
	fi
	command -v xz >/dev/null || missing+=(xz-utils)
	# The VFIO selftests link libuuid.
	if command -v dpkg-query >/dev/null && ! pkg_installed uuid-dev; then
		missing+=(uuid-dev)
	fi
	# The emulated devices' sysfs is shown through libumockdev's preload.
	if command -v dpkg-query >/dev/null && ! pkg_installed libumockdev0; then
		missing+=(libumockdev0)
	fi
	# The package step: dpkg-buildpackage with debhelper, then lintian.
	local p
	for p in dpkg-dev debhelper fakeroot lintian pkgconf; do
		if command -v dpkg-query >/dev/null && ! pkg_installed "$p"; then
			missing+=("$p")
		fi
	done

	if [[ "${#missing[@]}" == 0 ]]; then
		echo "deps: all build and test dependencies are present"
		return 0
	fi
	echo "deps: missing: ${missing[*]}"
	if [[ "$(id -u)" != 0 ]]; then
		echo "deps: ERROR: not root, cannot install them; install with:"
		echo "      apt-get install -y --no-install-recommends ${missing[*]}"
		return 1
	fi
	if ! command -v apt-get >/dev/null; then
		echo "deps: ERROR: apt-get not available; install ${missing[*]} by hand"
		return 1
	fi
	echo "deps: apt-get update"
	apt-get update || { echo "deps: ERROR: apt-get update failed"; return 1; }
	echo "deps: apt-get install -y --no-install-recommends ${missing[*]}"
	apt-get install -y --no-install-recommends "${missing[@]}" ||
		{ echo "deps: ERROR: apt-get install failed"; return 1; }
}

if run_step deps deps; then
	record deps ok
else
	record deps FAILED "could not install dependencies (see above)"
fi

# ---- build / check / fuzz / upstream --------------------------------------------
have_make=1
command -v make >/dev/null || have_make=0

# make_step NAME TARGET [SCRIPT]: SCRIPT must exist for the target to be usable.
make_step() {
	local name="$1" target="$2" script="${3:-}" rc=0
	if [[ "$have_make" == 0 ]]; then
		banner "$name"
		echo "$name: ERROR: make is not installed"
		record "$name" FAILED "make is not installed"
		return 0
	fi
	if [[ -n "$script" && ! -f "$script" ]]; then
		banner "$name"
		echo "$name: ERROR: $script does not exist (yet); cannot run 'make $target'"
		: >"$LOGDIR/$name.log"
		record "$name" FAILED "$script does not exist"
		return 0
	fi
	if [[ -z "$target" ]]; then
		run_step "$name" make -j2 || rc=$?
	else
		run_step "$name" make "$target" || rc=$?
	fi
	if [[ "$rc" == 0 ]]; then
		record "$name" ok
	else
		record "$name" FAILED "exit status $rc"
	fi
}

make_step build ""
make_step check check tests/run-checks.sh
make_step fuzz fuzz tests/fuzz/run.sh
make_step upstream upstream tests/upstream/run.sh
make_step upstream73 upstream-7.3 tests/upstream/run.sh
make_step vfio vfio-selftest tests/vfio/run.sh
make_step vfio-igb vfio-selftest-igb tests/vfio/run.sh
make_step soak soak tests/soak/run.sh
make_step package package tests/package.sh

# ---- counts --------------------------------------------------------------------------
# last "N passed, M failed, K skipped" line of a log -> "N M K" (empty if none)
counts_of() {
	local log="$1" prefix="${2:-}"
	[[ -f "$log" ]] || return 0
	sed -n -E "s/^${prefix}.*\\b([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped.*/\\1 \\2 \\3/p" "$log" | tail -n1
}

raw_p=0 raw_f=0 raw_s=0 fail_total=0

# check
c="$(counts_of "$LOGDIR/check.log")"
if [[ -n "$c" ]]; then
	read -r cp cf cs <<<"$c"
	COUNTS[check]="$cp passed, $cf failed, $cs skipped"
	raw_p=$((raw_p + cp)) raw_f=$((raw_f + cf)) raw_s=$((raw_s + cs))
	fail_total=$((fail_total + cf))
	if [[ "${STATUS[check]}" != ok && "$cf" == 0 ]]; then fail_total=$((fail_total + 1)); fi
elif [[ "${STATUS[check]}" != ok ]]; then
	fail_total=$((fail_total + 1))
	COUNTS[check]="no test counts"
fi

# selftest_counts STEP PREFIX: a selftest runner's two summary lines,
#   "PREFIX: N passed, M failed, K skipped of T" and
#   "PREFIX: X expected failures, Y unexpected failures, Z unexpected passes"
selftest_counts() {
	local step="$1" pre="$2" log="$LOGDIR/$1.log" c x t
	local p f sk e u xp
	c="$(counts_of "$log" "$pre: ")"
	x="$(sed -n -E "s/^$pre: ([0-9]+) expected failures, ([0-9]+) unexpected failures, ([0-9]+) unexpected passes.*/\\1 \\2 \\3/p" \
		"$log" 2>/dev/null | tail -n1)"
	if [[ -n "$c" && -n "$x" ]]; then
		read -r p f sk <<<"$c"
		read -r e u xp <<<"$x"
		t="$(sed -n -E "s/^$pre: .* skipped of ([0-9]+).*/\\1/p" "$log" | tail -n1)"
		COUNTS[$step]="$p passed, $f failed ($e expected, $u unexpected), $sk skipped of ${t:-?}; $xp unexpected passes"
		raw_p=$((raw_p + p)) raw_f=$((raw_f + f)) raw_s=$((raw_s + sk))
		fail_total=$((fail_total + u + xp))
		if [[ "${STATUS[$step]}" != ok && $((u + xp)) == 0 ]]; then fail_total=$((fail_total + 1)); fi
	elif [[ "${STATUS[$step]}" != ok ]]; then
		fail_total=$((fail_total + 1))
		COUNTS[$step]="no test counts"
	fi
}
selftest_counts upstream upstream
selftest_counts upstream73 upstream
selftest_counts vfio vfio
selftest_counts vfio-igb vfio-igb

# soak: "soak: N passed, M failed, K skipped"
sk="$(counts_of "$LOGDIR/soak.log" 'soak: ')"
if [[ -n "$sk" ]]; then
	read -r sp sf ss <<<"$sk"
	COUNTS[soak]="$sp passed, $sf failed, $ss skipped"
	raw_p=$((raw_p + sp)) raw_f=$((raw_f + sf)) raw_s=$((raw_s + ss))
	fail_total=$((fail_total + sf))
	if [[ "${STATUS[soak]}" != ok && "$sf" == 0 ]]; then fail_total=$((fail_total + 1)); fi
elif [[ "${STATUS[soak]}" != ok ]]; then
	fail_total=$((fail_total + 1))
	COUNTS[soak]="no test counts"
fi

# steps without test counts
for s in deps build fuzz package; do
	[[ "${STATUS[$s]}" == ok ]] || fail_total=$((fail_total + 1))
done

# ---- summary -------------------------------------------------------------------------
banner summary
any_failed=0
for s in "${STEPS[@]}"; do
	line="$(printf '%-9s %-7s' "$s" "${STATUS[$s]}")"
	line+="$(printf ' %6s' "${SECS[$s]:+${SECS[$s]}s}")"
	[[ -n "${COUNTS[$s]:-}" ]] && line+="  ${COUNTS[$s]}"
	[[ -n "${NOTE[$s]:-}" ]] && line+="  (${NOTE[$s]})"
	echo "$line"
	[[ "${STATUS[$s]}" == ok ]] || any_failed=1
done
echo "logs: build/test-logs/<step>.log"
if [[ "$any_failed" == 1 ]]; then
	echo "result: FAILED"
else
	echo "result: ok"
fi
echo "raw: $raw_p passed, $raw_f failed, $raw_s skipped"
echo "total: $raw_p passed, $fail_total failed, $raw_s skipped"
exit "$any_failed"
