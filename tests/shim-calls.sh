#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# shim-calls.sh - the preload library never calls one of its own wrappers
# from the inside (as umockdev checks for its preload library): internal
# code uses the real libc function (REAL()) or the raw system call, so a
# wrapper's logic (fd table, signal blocking, trapping) never runs where
# it was not meant to, and no wrapper can recurse.  Checked on the object
# files: no relocation may name an exported wrapper, but for the few
# listed below on purpose.  Exit 0 when clean, 1 otherwise.
#
# Usage: shim-calls.sh [BUILD_DIR]
set -uo pipefail

B=${1:-build}
cd "$(dirname "$0")/.."

# object:symbol pairs that are meant: a wrapper built on another one, as
# libc's own are (the program sees the same behaviour through each).
ALLOWED=(
	"preload.o:signal"        # bsd_signal() and ssignal() are signal()
	"preload.o:sigaction"     # signal(), sysv_signal(), sigset() and
	                          # siginterrupt() are sigaction() with their flags
	"preload.o:sysv_signal"   # __sysv_signal() is sysv_signal()
	"mmio_trap.o:sigaction"   # fallback when no real sigaction is given
	                          # (unit tests; the shim always passes libc's)
)

wrappers=$(sed -n '/global:/,/local:/p' src/shim/preload.map |
	grep -v 'global:\|local:' | tr -d ' \t;' | grep -v '^$')
bad=0 checked=0
for o in "$B"/obj/src/shim/*.o "$B"/obj/src/server/wire.o; do
	[ -f "$o" ] || continue
	checked=$((checked + 1))
	used=$(objdump -r "$o" | awk 'NR > 5 { print $3 }' | sed 's/[-+]0x.*//' | sort -u)
	for w in $wrappers; do
		grep -qx -- "$w" <<<"$used" || continue
		pair="$(basename "$o"):$w"
		allowed=0
		for a in "${ALLOWED[@]}"; do
			[ "$a" = "$pair" ] && allowed=1
		done
		if [ "$allowed" = 0 ]; then
			echo "FAIL $pair: internal call of a wrapper"
			bad=$((bad + 1))
		fi
	done
done
if [ "$checked" = 0 ]; then
	echo "FAIL no shim objects in $B/obj/src/shim (run make first)"
	exit 1
fi
echo "shim-calls: $checked objects checked, $bad internal calls of wrappers"
[ "$bad" = 0 ]
