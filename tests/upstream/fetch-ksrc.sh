#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# fetch-ksrc.sh - locate or fetch the kernel sources the upstream iommufd
# selftest is built from.
#
# Prints, as the last line on stdout, the path of an extracted kernel tree that
# contains at least:
#   include/uapi/linux/iommufd.h, include/uapi/linux/vfio.h,
#   drivers/iommu/iommufd/, tools/testing/selftests/iommu/,
#   tools/testing/selftests/kselftest*.h
#
# If KSRC is set, that tree is validated and used as is.  Otherwise Debian's
# linux-source-6.12 package (pinned version, newest available as a fallback)
# is downloaded with `apt-get download` and ONLY the paths above are extracted
# into build/ksrc/<package>_<version>/ (repo-relative), reused on later runs.
#
# The kernel source is GPL-2.0: it is fetched at test time and never part of
# this repository.  Progress and diagnostics go to stderr.
#
# Environment:
#   KSRC              use this extracted kernel tree instead of fetching
#   KSRC_PACKAGE      Debian source package name   (default linux-source-6.12)
#   KSRC_VERSION      pinned package version       (default 6.12.117-1~deb12u1)

set -euo pipefail

PKG="${KSRC_PACKAGE:-linux-source-6.12}"
PIN="${KSRC_VERSION:-6.12.117-1~deb12u1}"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="$REPO/build/ksrc"

msg()  { echo "fetch-ksrc: $*" >&2; }
warn() { echo "fetch-ksrc: WARNING: $*" >&2; }
die()  { echo "fetch-ksrc: ERROR: $*" >&2; exit 1; }

# Files/directories that must exist in a usable tree.
REQUIRED_FILES=(
	include/uapi/linux/iommufd.h
	include/uapi/linux/vfio.h
	drivers/iommu/iommufd/iommufd_test.h
	tools/testing/selftests/iommu/iommufd.c
	tools/testing/selftests/iommu/iommufd_utils.h
	tools/testing/selftests/kselftest.h
	tools/testing/selftests/kselftest_harness.h
)
REQUIRED_DIRS=(
	drivers/iommu/iommufd
	tools/testing/selftests/iommu
)

# validate DIR: returns 0 if DIR holds everything we need, else prints what is
# missing (stderr) and returns 1.
validate() {
	local dir="$1" f ok=0
	for f in "${REQUIRED_DIRS[@]}"; do
		[[ -d "$dir/$f" ]] || { msg "missing directory $dir/$f"; ok=1; }
	done
	for f in "${REQUIRED_FILES[@]}"; do
		[[ -f "$dir/$f" ]] || { msg "missing file $dir/$f"; ok=1; }
	done
	return "$ok"
}

# ---- 1. explicit tree ------------------------------------------------------
if [[ -n "${KSRC:-}" ]]; then
	[[ -d "$KSRC" ]] || die "KSRC=$KSRC is not a directory"
	ksrc_abs="$(cd "$KSRC" && pwd)"
	validate "$ksrc_abs" || die "KSRC=$KSRC does not contain the files the selftest needs"
	msg "using KSRC=$ksrc_abs"
	echo "$ksrc_abs"
	exit 0
fi

# ---- 2. cached / fetched tree ---------------------------------------------
# A version string made safe for a directory name.
safe_name() { printf '%s' "$1" | tr -c 'A-Za-z0-9._+-' '_'; }

# The extracted tree for version V lives in $CACHE/<pkg>_<safe V>/<top dir>; the
# stamp file records the top directory's name and is written last.
cached_tree() {
	local v="$1" d stamp top
	d="$CACHE/$(safe_name "${PKG}_$v")"
	stamp="$d/.stamp"
	[[ -f "$stamp" ]] || return 1
	top="$(sed -n 's/^tree=//p' "$stamp")"
	[[ -n "$top" && -d "$d/$top" ]] || return 1
	validate "$d/$top" 2>/dev/null || return 1
	echo "$d/$top"
}

mkdir -p "$CACHE"

# Serialise concurrent runs (e.g. parallel make targets) on the cache.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$CACHE/.lock"
	flock 9
fi

# Fast path: pinned version already extracted; no apt involved at all.
if tree="$(cached_tree "$PIN")"; then
	msg "using cached $PKG $PIN"
	echo "$tree"
	exit 0
fi

command -v apt-get >/dev/null 2>&1 || die "apt-get not found; set KSRC to an extracted kernel tree"
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb not found; set KSRC to an extracted kernel tree"
command -v xz >/dev/null 2>&1 || die "xz not found (apt-get install xz-utils), or set KSRC"

UPDATED=0
apt_update() {
	[[ "$UPDATED" == 1 ]] && return 0
	UPDATED=1
	if [[ "$(id -u)" != 0 ]]; then
		warn "not root: cannot run apt-get update"
		return 1
	fi
	msg "running apt-get update"
	apt-get update >&2 || { warn "apt-get update failed"; return 1; }
}

# Versions apt knows for $PKG, newest first.
known_versions() {
	apt-cache madison "$PKG" 2>/dev/null | awk -F'|' '{gsub(/ /, "", $2); print $2}' |
		awk 'NF && !seen[$0]++' |
		sort -r -V 2>/dev/null || true
}

versions="$(known_versions)"
if [[ -z "$versions" ]]; then
	msg "package $PKG unknown to apt"
	apt_update || true
	versions="$(known_versions)"
fi
[[ -n "$versions" ]] || die "apt does not know package $PKG (check /etc/apt/sources.list); or set KSRC"

# Proper Debian version ordering for the fallback choice.
newest=""
while read -r v; do
	[[ -z "$v" ]] && continue
	if [[ -z "$newest" ]] || dpkg --compare-versions "$v" gt "$newest"; then
		newest="$v"
	fi
done <<<"$versions"

if grep -qxF -- "$PIN" <<<"$versions"; then
	VER="$PIN"
else
	VER="$newest"
	warn "$PKG $PIN is not available from apt; using the newest available version $VER instead (results may differ from the pinned baseline)"
	if tree="$(cached_tree "$VER")"; then
		msg "using cached $PKG $VER"
		echo "$tree"
		exit 0
	fi
fi

dest="$CACHE/$(safe_name "${PKG}_$VER")"
work="$CACHE/.work.$$"
rm -rf "$work"
mkdir -p "$work"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

download() {
	local sandbox=()
	# As root, apt would drop to _apt, which cannot write into build/.
	[[ "$(id -u)" == 0 ]] && sandbox=(-o APT::Sandbox::User=root)
	(cd "$work" && apt-get "${sandbox[@]}" download "$PKG=$VER") >&2
}

msg "downloading $PKG $VER with apt-get download (about 150 MB)"
if ! download; then
	warn "apt-get download failed; refreshing package lists and retrying"
	apt_update || true
	download || die "could not download $PKG=$VER"
fi

shopt -s nullglob
debs=("$work"/*.deb)
shopt -u nullglob
[[ "${#debs[@]}" == 1 ]] || die "expected one .deb in $work, found ${#debs[@]}"
deb="${debs[0]}"

# The .deb carries usr/src/<pkg>.tar.xz whose members all start with <pkg>/;
# stream it straight into a selective extraction (no 150 MB temporary file).
msg "extracting the needed paths (takes a few seconds)"
mkdir -p "$work/tree"
members=(
	'*/include/uapi/linux/iommufd.h'
	'*/include/uapi/linux/vfio.h'
	'*/drivers/iommu/iommufd/*'
	'*/tools/testing/selftests/iommu/*'
	'*/tools/testing/selftests/kselftest*.h'
)
if ! dpkg-deb --fsys-tarfile "$deb" |
	tar -xO -f - --wildcards '*usr/src/linux-source-*.tar.xz' |
	tar -xJf - -C "$work/tree" --no-same-owner --wildcards --no-wildcards-match-slash \
		--anchored "${members[@]}"; then
	die "extraction from $deb failed"
fi
shopt -s nullglob
tops=("$work"/tree/*/)
shopt -u nullglob
[[ "${#tops[@]}" == 1 ]] || die "unexpected layout of the kernel tarball in $deb"
top="$(basename "${tops[0]}")"
validate "$work/tree/$top" || die "extracted tree is incomplete"

rm -rf "$dest"
mkdir -p "$dest"
mv "$work/tree/$top" "$dest/$top"
printf 'package=%s\nversion=%s\ntree=%s\n' "$PKG" "$VER" "$top" >"$dest/.stamp"
msg "cached $PKG $VER in ${dest#"$REPO"/}"
echo "$dest/$top"
