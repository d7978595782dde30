#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run.sh [BUILD_DIR] - build tests/consumer/consumer.c against the INSTALLED
# library: `make install DESTDIR=BUILD_DIR/stage PREFIX=/usr`, then compile
# with `pkg-config --cflags --libs uiommufd` pointed at the stage
# (PKG_CONFIG_SYSROOT_DIR, PKG_CONFIG_LIBDIR), link the shared library and
# run the program with LD_LIBRARY_PATH on the stage.  Exit 0 iff it passes.
set -euo pipefail
B=${1:-build}
cd "$(dirname "$0")/../.."
case "$B" in /*) ;; *) B="$PWD/$B" ;; esac
STAGE="$B/stage"
OUT="$B/tests/consumer"
mkdir -p "$OUT"
rm -rf "$STAGE"

make -s install B="$B" DESTDIR="$STAGE" PREFIX=/usr >"$OUT/install.log" 2>&1 ||
	{ cat "$OUT/install.log"; echo "consumer: make install failed"; exit 1; }

command -v pkg-config >/dev/null || { echo "consumer: pkg-config not installed"; exit 77; }
export PKG_CONFIG_SYSROOT_DIR="$STAGE"
export PKG_CONFIG_LIBDIR="$STAGE/usr/lib/pkgconfig"
flags=$(pkg-config --cflags --libs uiommufd)
echo "consumer: pkg-config --cflags --libs uiommufd: $flags"
case "$flags" in
*uiommufd/uapi*) echo "consumer: Cflags put the uapi dir on the include path"; exit 1 ;;
esac
uapidir=$(pkg-config --variable=uapidir uiommufd) # sysroot applied
[[ -f "$uapidir/linux/iommufd.h" ]] ||
	{ echo "consumer: no linux/iommufd.h under uapidir $uapidir"; exit 1; }

# shellcheck disable=SC2086  # flags are words
${CC:-cc} -std=gnu11 -Wall -Wextra -Werror -o "$OUT/consumer" \
	tests/consumer/consumer.c $flags
# It must use the shared library, not the static one.
readelf -d "$OUT/consumer" | grep -q 'NEEDED.*libuiommufd\.so\.0' ||
	{ echo "consumer: not linked against libuiommufd.so.0"; exit 1; }
LD_LIBRARY_PATH="$STAGE/usr/lib" "$OUT/consumer"
