#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# package.sh [BUILD_DIR] - build the Debian packages and check them
# (`make package`; tests/run-all.sh's step "package").
#
#   1. copy the source tree (without build/ and .git) to
#      BUILD_DIR/pkg/uiommufd-VERSION, so the working tree stays clean;
#   2. dpkg-buildpackage -us -uc -b there (debian/rules runs only the
#      symbol check, not the test suite): uiommufd, libuiommufd0 and
#      libuiommufd-dev .debs in BUILD_DIR/pkg/;
#   3. dpkg-deb -x each into BUILD_DIR/pkgroot (nothing is installed into
#      the system) and check that the files are there;
#   4. run the packaged launcher on the packaged example program
#      (usr/lib/<multiarch>/uiommufd/ioas-demo) from there;
#   5. lintian on the .debs: its tags are listed; an error fails the step.
#
# Needs dpkg-dev, debhelper, fakeroot and lintian (tests/run-all.sh's deps
# step installs them).  The last line is "package: ok" or
# "package: FAILED: <why>"; exit 0 only if ok.
set -uo pipefail

B=${1:-build}
cd "$(dirname "$0")/.." || exit 1
REPO=$PWD
case "$B" in /*) ;; *) B="$REPO/$B" ;; esac

fail() { echo "package: FAILED: $*"; exit 1; }

for t in dpkg-buildpackage dh fakeroot lintian dpkg-deb; do
	command -v "$t" >/dev/null ||
		fail "$t not found (apt-get install dpkg-dev debhelper fakeroot lintian)"
done

VERSION=$(sed -n -E 's/^VERSION[[:space:]]*:=[[:space:]]*([^[:space:]]+).*/\1/p' Makefile)
[[ -n "$VERSION" ]] || fail "no VERSION in the Makefile"
DEBVER=$(dpkg-parsechangelog -l debian/changelog -S Version)
[[ "$DEBVER" == "$VERSION" ]] ||
	fail "debian/changelog is at $DEBVER, the Makefile's VERSION is $VERSION"
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
ARCH=$(dpkg-architecture -qDEB_HOST_ARCH)

PKG="$B/pkg"
SRC="$PKG/uiommufd-$VERSION"
ROOT="$B/pkgroot"
rm -rf "$PKG" "$ROOT"
mkdir -p "$SRC" "$ROOT"

# ---- 1. copy ------------------------------------------------------------------
tar -C "$REPO" --exclude=./build --exclude=./.git -cf - . | tar -C "$SRC" -xf - ||
	fail "cannot copy the tree"

# ---- 2. build -----------------------------------------------------------------
echo "package: dpkg-buildpackage -us -uc -b in $SRC (log: $PKG/build.log)"
(cd "$SRC" && dpkg-buildpackage -us -uc -b) >"$PKG/build.log" 2>&1 || {
	tail -n 40 "$PKG/build.log"
	fail "dpkg-buildpackage failed"
}
debs=()
for p in uiommufd libuiommufd0 libuiommufd-dev; do
	d="$PKG/${p}_${VERSION}_${ARCH}.deb"
	[[ -f "$d" ]] || fail "$d was not built"
	debs+=("$d")
	echo "package: built $(basename "$d") ($(stat -c %s "$d") bytes)"
done

# ---- 3. unpack and check the files -----------------------------------------------
for d in "${debs[@]}"; do
	dpkg-deb -x "$d" "$ROOT" || fail "dpkg-deb -x $d"
done
L=usr/lib/$MA
expect=(
	usr/bin/uiommufd usr/bin/uiommufd-run
	"$L/uiommufd/libuiommufd-preload.so" "$L/uiommufd/ioas-demo"
	usr/share/man/man1/uiommufd.1.gz usr/share/man/man1/uiommufd-run.1.gz
	"$L/libuiommufd.so.0"
	usr/include/uiommufd.h usr/include/uiommufd/uapi/linux/iommufd.h
	usr/include/uiommufd/uapi/linux/vfio.h
	usr/include/uiommufd/uapi/linux/iommufd_ext.h
	usr/share/man/man7/uiommufd-extensions.7.gz usr/share/man/man3/ufd_ext.3.gz
	"$L/libuiommufd.a" "$L/libuiommufd.so" "$L/pkgconfig/uiommufd.pc"
	usr/share/man/man3/ufd_ioas.3.gz usr/share/man/man3/ufd_ioas_map.3.gz
	usr/share/doc/uiommufd/copyright usr/share/doc/libuiommufd0/copyright
)
missing=0
for f in "${expect[@]}"; do
	[[ -e "$ROOT/$f" ]] || { echo "package: missing $f"; missing=1; }
done
[[ ! -e "$ROOT/usr/include/linux" ]] || { echo "package: ships usr/include/linux"; missing=1; }
[[ "$missing" == 0 ]] || fail "files missing from the packages"
n3=$(find "$ROOT/usr/share/man/man3" -name 'ufd_*.3.gz' | wc -l)
echo "package: all expected files present ($n3 section-3 man pages)"
grep -q '^Cflags: -I${includedir}$' "$ROOT/$L/pkgconfig/uiommufd.pc" ||
	fail "uiommufd.pc's Cflags are not just -I\${includedir}"

# ---- 4. the packaged launcher runs the packaged example ------------------------------
"$ROOT/usr/bin/uiommufd-run" --version || fail "uiommufd-run --version"
if ! "$ROOT/usr/bin/uiommufd-run" -- "$ROOT/$L/uiommufd/ioas-demo" >"$PKG/example.log" 2>&1; then
	cat "$PKG/example.log"
	fail "the packaged launcher could not run the packaged ioas-demo"
fi
tail -n 3 "$PKG/example.log"
echo "package: uiommufd-run -- ioas-demo from $ROOT: ok"

# ---- 5. lintian --------------------------------------------------------------------
lintian --tag-display-limit 0 "${debs[@]}" >"$PKG/lintian.log" 2>&1
lrc=$?
sort "$PKG/lintian.log" | uniq -c
nerr=$(grep -c '^E: ' "$PKG/lintian.log" || true)
nwarn=$(grep -c '^W: ' "$PKG/lintian.log" || true)
echo "package: lintian: $nerr errors, $nwarn warnings (log: $PKG/lintian.log)"
[[ "$nerr" == 0 ]] || fail "lintian reports errors"
[[ "$lrc" == 0 ]] || fail "lintian exited $lrc"
echo "package: ok"
