#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# check-symbols.sh [BUILD_DIR] - the shared library exports exactly the
# functions of include/uiommufd.h: src/libuiommufd.map lists each of them,
# and `nm -D` of BUILD_DIR/libuiommufd.so.0 shows those and no other
# (in particular no test hook such as ufd_fail_nth); each of them has a
# man/man3 page.
# Prints "symbols: ok" or what differs; exit 0 iff ok.
set -euo pipefail
B=${1:-build}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Every declaration starts "UFD_API <type> <name>(" on one line.
grep -E '^UFD_API' include/uiommufd.h |
	sed -E 's/^UFD_API[^(]*[ *](ufd_[a-z0-9_]+)\(.*/\1/' | sort >"$tmp/header"
sed -n -E 's/^[[:space:]]+(ufd_[a-z0-9_]+);/\1/p' src/libuiommufd.map | sort >"$tmp/map"
nm -D --defined-only "$B/libuiommufd.so.0" | awk '$2 == "T" { print $3 }' |
	sed 's/@.*//' | sort >"$tmp/so"

ok=1
if ! diff -u "$tmp/header" "$tmp/map" >"$tmp/d1"; then
	echo "symbols: src/libuiommufd.map differs from include/uiommufd.h (-header +map):"
	cat "$tmp/d1"
	ok=0
fi
if ! diff -u "$tmp/header" "$tmp/so" >"$tmp/d2"; then
	echo "symbols: $B/libuiommufd.so.0 exports differ from include/uiommufd.h (-header +exported):"
	cat "$tmp/d2"
	ok=0
fi
# Every public function has a section-3 page (a group page or a .so alias).
while read -r f; do
	[[ -f "man/man3/$f.3" ]] || { echo "symbols: no man/man3/$f.3"; ok=0; }
done <"$tmp/header"
if [[ "$ok" == 1 ]]; then
	echo "symbols: ok ($(wc -l <"$tmp/header") functions exported, no others; each has a man page)"
	exit 0
fi
exit 1
