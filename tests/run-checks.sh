#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# `make check`: runs every unit test (ASan+UBSan builds), every uapi test
# three times (dispatch linked in, under the launcher in server mode and
# in in-process mode), the seed's two example sequences (examples/), the
# server-mode tests, the shared library's symbol list, a consumer built
# against the installed library, and the ABI layout comparison against the
# kernel's header.  One line per test program, then
# "N passed, N failed, N skipped".  Exit 0 only if nothing failed.
set -uo pipefail

B=${1:-build}
cd "$(dirname "$0")/.."

pass=0 fail=0 skip=0
failed_names=()

record() { # name status
	case "$2" in
	0) pass=$((pass + 1)); echo "PASS $1" ;;
	77) skip=$((skip + 1)); echo "SKIP $1" ;;
	*) fail=$((fail + 1)); failed_names+=("$1"); echo "FAIL $1 (exit $2)" ;;
	esac
}

run_one() { # name cmd...
	local name=$1; shift
	local log="$B/tests/logs/${name//\//_}.log"
	mkdir -p "$B/tests/logs"
	timeout -k 5 "${CHECK_TIMEOUT:-300}" "$@" >"$log" 2>&1
	local rc=$?
	record "$name" "$rc"
	if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		tail -n 20 "$log" | sed 's/^/    /'
	fi
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

for t in "$B"/tests/unit/test_*; do
	[ -x "$t" ] || continue
	run_one "unit/$(basename "$t")" "$t"
done

for t in "$B"/tests/tsan/test_*; do
	[ -x "$t" ] || continue
	TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1} \
		run_one "tsan/$(basename "$t")" "$t"
done

for t in "$B"/tests/uapi/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *.direct) continue ;; esac
	if [ -x "$t.direct" ]; then
		run_one "uapi/$(basename "$t") (linked)" "$t.direct"
	fi
	run_one "uapi/$(basename "$t") (launcher)" "$B/uiommufd-run" -- "$t"
	run_one "uapi/$(basename "$t") (launcher, in-process)" \
		"$B/uiommufd-run" --mode=inprocess -- "$t"
done
# The older kernel's personality, in both modes.
for mode in server inprocess; do
	run_one "uapi/test_personality (launcher, $mode, --kernel=6.12)" \
		"$B/uiommufd-run" --mode=$mode --kernel=6.12 -- "$B/tests/uapi/test_personality"
done

# The uiommufd extensions under an older kernel's personality (they stay),
# and switched off (ENOTTY, as a kernel answers), in both modes.
if [ -x "$B/tests/uapi/test_ext" ]; then
	run_one "uapi/test_ext (launcher, --kernel=6.12)" \
		"$B/uiommufd-run" --kernel=6.12 -- "$B/tests/uapi/test_ext"
	run_one "uapi/test_ext (launcher, --no-extensions)" \
		"$B/uiommufd-run" --no-extensions -- "$B/tests/uapi/test_ext"
	run_one "uapi/test_ext (launcher, in-process, --no-extensions)" \
		"$B/uiommufd-run" --mode=inprocess --no-extensions -- \
		"$B/tests/uapi/test_ext"
fi
# Registered memory, the same way (test_ext_register).
# The launcher's system-wide PASID capacity, in both modes.
if [ -x "$B/tests/uapi/test_pasid_set" ]; then
	for mode in server inprocess; do
		run_one "uapi/test_pasid_set (launcher, $mode, --pasid-capacity=3)" \
			"$B/uiommufd-run" --mode=$mode --pasid-capacity=3 -- \
			"$B/tests/uapi/test_pasid_set"
	done
fi
if [ -x "$B/tests/uapi/test_ext_register" ]; then
	run_one "uapi/test_ext_register (launcher, --kernel=6.12)" \
		"$B/uiommufd-run" --kernel=6.12 -- "$B/tests/uapi/test_ext_register"
	run_one "uapi/test_ext_register (launcher, --no-extensions)" \
		"$B/uiommufd-run" --no-extensions -- \
		"$B/tests/uapi/test_ext_register"
	run_one "uapi/test_ext_register (launcher, in-process, --no-extensions)" \
		"$B/uiommufd-run" --mode=inprocess --no-extensions -- \
		"$B/tests/uapi/test_ext_register"
fi

# Maps with an unmap granule, the same way (test_ext_granule).
if [ -x "$B/tests/uapi/test_ext_granule" ]; then
	run_one "uapi/test_ext_granule (launcher, --kernel=6.12)" \
		"$B/uiommufd-run" --kernel=6.12 -- "$B/tests/uapi/test_ext_granule"
	run_one "uapi/test_ext_granule (launcher, --no-extensions)" \
		"$B/uiommufd-run" --no-extensions -- \
		"$B/tests/uapi/test_ext_granule"
	run_one "uapi/test_ext_granule (launcher, in-process, --no-extensions)" \
		"$B/uiommufd-run" --mode=inprocess --no-extensions -- \
		"$B/tests/uapi/test_ext_granule"
fi

# The seed's QEMU and DPDK sequences (examples/), in both modes; without
# the extensions the QEMU one must exit 77 and the DPDK one still works.
# Exit codes are asserted (tests/expect-exit.sh): a 77 would be a skip.
for mode in server inprocess; do
	for ex in qemu-sequence dpdk-sequence; do
		run_one "examples/$ex (launcher, $mode)" tests/expect-exit.sh 0 \
			"$B/uiommufd-run" --mode=$mode -- "$B/examples/$ex"
	done
	for ex in qemu-sequence dpdk-sequence; do
		run_one "examples/$ex (launcher, $mode, --kernel=6.12)" \
			tests/expect-exit.sh 0 "$B/uiommufd-run" --mode=$mode \
			--kernel=6.12 -- "$B/examples/$ex"
	done
	run_one "examples/qemu-sequence (launcher, $mode, --no-extensions)" \
		tests/expect-exit.sh 77 "$B/uiommufd-run" --mode=$mode \
		--no-extensions -- "$B/examples/qemu-sequence"
	run_one "examples/dpdk-sequence (launcher, $mode, --no-extensions)" \
		tests/expect-exit.sh 0 "$B/uiommufd-run" --mode=$mode \
		--no-extensions -- "$B/examples/dpdk-sequence"
done

# Server mode (tests/server/): multi-process file semantics, a hostile
# client, and the launcher's process handling.
for t in "$B"/tests/server/test_*; do
	[ -x "$t" ] || continue
	run_one "server/$(basename "$t")" "$B/uiommufd-run" --mode=server -- "$t"
	# The same calls as messages only, without the shared ring.
	run_one "server/$(basename "$t") (UIOMMUFD_RING=0)" env UIOMMUFD_RING=0 \
		"$B/uiommufd-run" --mode=server -- "$t"
done
# The daemon's threads (one per channel, the release thread) and its
# shared rings under ThreadSanitizer: the launcher built with it.  Under
# TSan the daemon is 5-20x slower: whether it still finds the caller
# spinning when it needs the caller's memory is timing, so test_ring does
# not require that a transfer happened (UFD_TEST_DAEMON_TSAN; the other
# test_ring runs do).
if [ -x "$B/tsan/uiommufd-run" ]; then
	for t in test_ring test_share test_files test_garbage; do
		UFD_TEST_DAEMON_TSAN=1 \
		TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1} run_one \
			"server/$t (daemon under TSan)" "$B/tsan/uiommufd-run" \
			--preload "$B/libuiommufd-preload.so" --mode=server -- \
			"$B/tests/server/$t"
	done
	TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1} run_one \
		"server/dev_vfio (daemon under TSan)" "$B/tsan/uiommufd-run" \
		--preload "$B/libuiommufd-preload.so" --device ioat -- \
		"$B/tests/server/dev_vfio"
fi
# The release barrier without the hangup watch: an epoll_wait per request.
run_one "server/test_files (UIOMMUFD_HANGUP_WATCH=0)" env \
	UIOMMUFD_HANGUP_WATCH=0 "$B/uiommufd-run" --mode=server -- \
	"$B/tests/server/test_files"
# The daemon reading /proc/PID/maps whole, as before Linux 6.11.
run_one "server/test_window (UIOMMUFD_PROCMAP_QUERY=0)" env \
	UIOMMUFD_PROCMAP_QUERY=0 "$B/uiommufd-run" --mode=server -- \
	"$B/tests/server/test_window"
# The argument rules hold in-process too (the dispatch layer's copies).
run_one "server/test_ring (in-process)" "$B/uiommufd-run" --mode=inprocess \
	-- "$B/tests/server/test_ring"
# No spinning: every wait sleeps and every wake is a kick.
run_one "server/test_ring (UIOMMUFD_SPIN_US=0)" env UIOMMUFD_SPIN_US=0 \
	"$B/uiommufd-run" --mode=server -- "$B/tests/server/test_ring"
run_one "server/lifecycle" tests/server/lifecycle.sh "$B"
run_one "server/devices" tests/server/devices.sh "$B"
# Server mode with an emulated device (tests/server/dev_*).
for t in "$B"/tests/server/dev_*; do
	[ -x "$t" ] || continue
	run_one "server/$(basename "$t")" "$B/uiommufd-run" --device ioat -- "$t"
done
# ... with the NIC (SR-IOV, VF tokens) and an ioat beside it (tests/server/nic_*).
for t in "$B"/tests/server/nic_*; do
	[ -x "$t" ] || continue
	run_one "server/$(basename "$t")" "$B/uiommufd-run" --device igb \
		--device ioat -- "$t"
done
# The preload library never calls one of its own wrappers (umockdev's rule).
run_one "shim/internal-calls" tests/shim-calls.sh "$B"
# The shared library exports the public header's functions and no others.
run_one "lib/symbols" tests/check-symbols.sh "$B"
# A program built against the installed headers and library (pkg-config).
run_one "lib/consumer" tests/consumer/run.sh "$B"

if ks=$(tests/upstream/fetch-ksrc.sh 2>"$B/tests/logs/fetch-ksrc.log" | tail -n 1) && [ -n "$ks" ]; then
	run_one "abi/check-layout" tests/abi/check-layout.sh "$ks"
else
	echo "SKIP abi/check-layout (no kernel tree: see $B/tests/logs/fetch-ksrc.log)"
	skip=$((skip + 1))
fi

if [ "${#failed_names[@]}" -gt 0 ]; then
	echo "failed: ${failed_names[*]}"
fi
echo "check: $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
