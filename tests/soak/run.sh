#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run.sh - the soak (tests/soak/soak.c): 8 processes of mixed operations
# for SOAK_SECONDS (default 90) in server mode, one SIGKILLed every second,
# under the launcher built with ASan+UBSan (build/san/uiommufd-run) whose
# daemon runs the engine's invariant check every 250 ms, with two emulated
# I/OAT devices.  Prints "soak: 1 passed, 0 failed, 0 skipped" (or 1 failed).
#
# Usage: run.sh [BUILD_DIR]
set -uo pipefail

B=${1:-build}
cd "$(dirname "$0")/../.."
SECONDS_RUN=${SOAK_SECONDS:-90}
LOG="$B/tests/logs/soak.log"
mkdir -p "$B/tests/logs"

for f in "$B/san/uiommufd-run" "$B/tests/soak/soak" "$B/libuiommufd-preload.so"; do
	if [ ! -x "$f" ] && [ ! -f "$f" ]; then
		echo "soak: $f missing (make soak builds it)"
		echo "soak: 0 passed, 1 failed, 0 skipped"
		exit 1
	fi
done
echo "soak: ${SECONDS_RUN}s, daemon under ASan+UBSan, invariant check every 250 ms"
rc=0
# The daemon's state is not torn down at exit (the kernel frees it), so
# LeakSanitizer would report all of it: memory is judged by the daemon's
# private RSS staying flat, and its shared memory going with the files
# that pinned it, instead (the soak measures both).
SOAK_SECONDS=$SECONDS_RUN UIOMMUFD_SELF_CHECK_MS=250 \
	ASAN_OPTIONS=detect_leaks=0:quarantine_size_mb=16:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	timeout -k 5 $((SECONDS_RUN + 120)) \
	"$B/san/uiommufd-run" --preload "$B/libuiommufd-preload.so" \
	--device ioat --device ioat -- "$B/tests/soak/soak" >"$LOG" 2>&1 || rc=$?
cat "$LOG"
if [ "$rc" = 0 ]; then
	echo "soak: 1 passed, 0 failed, 0 skipped"
else
	echo "soak: exit status $rc"
	echo "soak: 0 passed, 1 failed, 0 skipped"
fi
exit "$rc"
