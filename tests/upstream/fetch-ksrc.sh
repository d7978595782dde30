#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# fetch-ksrc.sh - locate or fetch the kernel sources the upstream selftests
# (iommufd, VFIO) are built from.
#
# Usage: fetch-ksrc.sh [--profile iommufd|vfio]      (default: iommufd)
#
# Prints, as the last line on stdout, the path of an extracted kernel tree that
# contains at least the paths of the profile:
#
#   iommufd  Debian's linux-source-6.12 (bookworm, the system's own apt):
#            include/uapi/linux/iommufd.h, include/uapi/linux/vfio.h,
#            drivers/iommu/iommufd/, tools/testing/selftests/iommu/,
#            tools/testing/selftests/kselftest*.h
#   vfio     Debian's linux-source-7.3 from trixie-backports (a private apt
#            configuration, see below): what `make headers` and the VFIO
#            selftest's own Makefile need -- the top Makefile, scripts/,
#            arch/x86/{Makefile,entry/syscalls,include/uapi}, include/uapi,
#            tools/include, tools/arch/x86/include,
#            tools/testing/selftests/{vfio,iommu,kselftest}/,
#            tools/testing/selftests/{kselftest*.h,lib.mk},
#            drivers/iommu/iommufd/iommufd_test.h and the targets of the
#            symlinks in there (include/linux/pci_ids.h, drivers/dma/ioat/
#            {hw,registers}.h, drivers/dma/idxd/registers.h,
#            drivers/net/ethernet/intel/igb/e1000_{regs,82575,defines}.h)
#
# If KSRC is set, that tree is validated and used as is.  Otherwise the
# profile's package (pinned version, newest available as a fallback) is
# downloaded with `apt-get download` and ONLY the paths above are extracted
# into build/ksrc/<package>_<version>[+<profile>]/ (repo-relative), reused on
# later runs.
#
# A package from another suite (KSRC_SUITE, e.g. trixie-backports) is fetched
# with a private apt configuration under build/apt/<suite>/: its own sources
# list naming only "<suite> main" on the Debian mirror the system's sources
# use (read from /etc/apt/sources.list and /etc/apt/sources.list.d/*.list and
# *.sources), its own Dir::State::Lists and Dir::Cache.  /etc/apt is never
# modified.  The suite's Release file is verified with the system's
# debian-archive-keyring (bookworm's 2023.3+deb12u1 and later carry the trixie
# keys); no [trusted=yes].
#
# The kernel source is GPL-2.0: it is fetched at test time and never part of
# this repository.  Progress and diagnostics go to stderr.
#
# Environment (an empty value means "the profile's default"):
#   KSRC              use this extracted kernel tree instead of fetching
#   KSRC_PACKAGE      Debian binary package name  (iommufd: linux-source-6.12,
#                                                  vfio: linux-source-7.3)
#   KSRC_VERSION      pinned package version      (iommufd: 6.12.117-1~deb12u1,
#                                                  vfio: 7.3.4-1~bpo13+1)
#   KSRC_SUITE        fetch from this suite with the private apt configuration;
#                     "none" = the system's own apt configuration
#                     (iommufd: none, vfio: trixie-backports)
#   KSRC_MIRROR       mirror URI for KSRC_SUITE (default: the one the system's
#                     apt sources use for Debian, else http://deb.debian.org/debian)
#   KSRC_KEYRING      keyring for KSRC_SUITE (default:
#                     /usr/share/keyrings/debian-archive-keyring.gpg, else the
#                     system source's Signed-By, else apt's trusted keys)

set -euo pipefail

PROFILE="${KSRC_PROFILE:-iommufd}"
case "${1:-}" in
"") ;;
--profile) PROFILE="${2:-}"; [[ -n "$PROFILE" ]] || { echo "fetch-ksrc: --profile needs a value" >&2; exit 2; } ;;
--profile=*) PROFILE="${1#--profile=}" ;;
-h|--help) awk 'NR < 3 { next } !/^#/ { exit } { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
*) echo "usage: $0 [--profile iommufd|vfio]" >&2; exit 2 ;;
esac

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="$REPO/build/ksrc"

msg()  { echo "fetch-ksrc: $*" >&2; }
warn() { echo "fetch-ksrc: WARNING: $*" >&2; }
die()  { echo "fetch-ksrc: ERROR: $*" >&2; exit 1; }

# Per profile: package, pinned version, suite (empty = the system's apt),
# cache directory suffix, tar members to extract (anchored, '*' does not match
# '/'; a matching directory is extracted whole) and the paths that must exist.
case "$PROFILE" in
iommufd)
	DEF_PKG=linux-source-6.12
	DEF_PIN=6.12.117-1~deb12u1
	DEF_SUITE=""
	SUFFIX=""
	MEMBERS=(
		'*/include/uapi/linux/iommufd.h'
		'*/include/uapi/linux/vfio.h'
		'*/drivers/iommu/iommufd/*'
		'*/tools/testing/selftests/iommu/*'
		'*/tools/testing/selftests/kselftest*.h'
	)
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
	;;
vfio)
	DEF_PKG=linux-source-7.3
	DEF_PIN=7.3.4-1~bpo13+1
	DEF_SUITE=trixie-backports
	SUFFIX="+vfio"
	# `make headers` (O=elsewhere) reads the top Makefile, scripts/ (Kbuild
	# makefiles, fixdep, unifdef, headers_install.sh, syscall*.sh),
	# arch/x86/Makefile, arch/x86/entry/syscalls/ and the two uapi trees;
	# the VFIO selftest's Makefile includes lib.mk, scripts/subarch.include
	# and vfio/lib/libvfio.mk and compiles against tools/include and
	# tools/arch/x86/include.
	MEMBERS=(
		'*/Makefile'
		'*/scripts/*'
		'*/arch/x86/Makefile'
		'*/arch/x86/entry/syscalls/*'
		'*/arch/x86/include/uapi/*'
		'*/include/uapi/*'
		'*/tools/include/*'
		'*/tools/arch/x86/include/*'
		'*/tools/testing/selftests/vfio/*'
		'*/tools/testing/selftests/iommu/*'
		'*/tools/testing/selftests/kselftest/*'
		'*/tools/testing/selftests/kselftest*.h'
		'*/tools/testing/selftests/lib.mk'
		'*/drivers/iommu/iommufd/iommufd_test.h'
		# targets of symlinks in tools/include and vfio/lib/drivers
		'*/include/linux/pci_ids.h'
		'*/drivers/dma/ioat/hw.h'
		'*/drivers/dma/ioat/registers.h'
		'*/drivers/dma/idxd/registers.h'
		'*/drivers/net/ethernet/intel/igb/e1000_regs.h'
		'*/drivers/net/ethernet/intel/igb/e1000_82575.h'
		'*/drivers/net/ethernet/intel/igb/e1000_defines.h'
	)
	REQUIRED_FILES=(
		Makefile
		scripts/Makefile.headersinst
		scripts/headers_install.sh
		scripts/subarch.include
		arch/x86/Makefile
		arch/x86/entry/syscalls/syscall_64.tbl
		include/uapi/linux/iommufd.h
		include/uapi/linux/vfio.h
		drivers/iommu/iommufd/iommufd_test.h
		tools/testing/selftests/lib.mk
		tools/testing/selftests/kselftest.h
		tools/testing/selftests/kselftest_harness.h
		tools/testing/selftests/vfio/Makefile
		tools/testing/selftests/vfio/lib/libvfio.mk
		tools/testing/selftests/iommu/iommufd.c
		tools/testing/selftests/iommu/iommufd_utils.h
		tools/include/linux/compiler.h
		tools/arch/x86/include/asm/io.h
		# symlinks (-f follows them)
		tools/include/linux/pci_ids.h
		tools/testing/selftests/vfio/lib/drivers/ioat/hw.h
		tools/testing/selftests/vfio/lib/drivers/ioat/registers.h
		tools/testing/selftests/vfio/lib/drivers/dsa/registers.h
		tools/testing/selftests/vfio/lib/drivers/igb/e1000_regs.h
		tools/testing/selftests/vfio/lib/drivers/igb/e1000_82575.h
		tools/testing/selftests/vfio/lib/drivers/igb/e1000_defines.h
	)
	REQUIRED_DIRS=(
		arch/x86/include/uapi
		include/uapi
		tools/include
		tools/testing/selftests/vfio/lib/drivers/ioat
		tools/testing/selftests/iommu
	)
	;;
*) die "unknown profile '$PROFILE' (iommufd or vfio)" ;;
esac

PKG="${KSRC_PACKAGE:-$DEF_PKG}"
PIN="${KSRC_VERSION:-$DEF_PIN}"
SUITE="${KSRC_SUITE:-$DEF_SUITE}"
[[ "$SUITE" == none ]] && SUITE=""		# KSRC_SUITE=none: the system's apt
[[ "$SUITE" =~ ^[A-Za-z0-9.+-]*$ ]] || die "KSRC_SUITE '$SUITE' is not a suite name"

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
	d="$CACHE/$(safe_name "${PKG}_$v")$SUFFIX"
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

# ---- apt configuration ---------------------------------------------------------
# APT_OPTS: extra options for every apt-get/apt-cache call (the private
# configuration when SUITE is set).  As root, apt would drop to _apt for
# downloads, which cannot write into build/: keep root (APT::Sandbox::User).
APT_OPTS=()
[[ "$(id -u)" == 0 ]] && APT_OPTS+=(-o APT::Sandbox::User=root)
PRIVATE=0

# The system's apt sources as "URI<TAB>SUITES<TAB>COMPONENTS<TAB>SIGNED-BY"
# lines (type deb only; one-line *.list and deb822 *.sources formats).
system_sources() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -f "$f" ]] || continue
		awk '
			{ sub(/#.*/, "") }
			$1 != "deb" { next }
			{
				i = 2; sb = ""
				if ($2 ~ /^\[/) {               # [ options ]
					opts = ""
					for (; i <= NF; i++) { opts = opts " " $i; if ($i ~ /\]$/) { i++; break } }
					if (match(opts, /signed-by=[^] ]+/)) sb = substr(opts, RSTART + 10, RLENGTH - 10)
				}
				uri = $i; suite = $(i + 1); comps = ""
				for (j = i + 2; j <= NF; j++) comps = comps (comps == "" ? "" : " ") $j
				printf "%s\t%s\t%s\t%s\n", uri, suite, comps, sb
			}' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f "$f" ]] || continue
		awk '
			function flush() {
				if (types ~ /(^| )deb( |$)/ && uris != "" && enabled !~ /^[Nn][Oo]$/) {
					n = split(uris, u, / +/)
					for (k = 1; k <= n; k++) printf "%s\t%s\t%s\t%s\n", u[k], suites, comps, sb
				}
				types = uris = suites = comps = sb = enabled = ""
			}
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			/^[ \t]/   { next }                 # continuation (e.g. an inline key)
			{
				key = tolower($0); sub(/:.*/, "", key)
				val = $0; sub(/^[^:]*:[ \t]*/, "", val); sub(/[ \t]+$/, "", val)
				if (key == "types") types = val
				else if (key == "uris") uris = val
				else if (key == "suites") suites = val
				else if (key == "components") comps = val
				else if (key == "signed-by") sb = val
				else if (key == "enabled") enabled = val
			}
			END { flush() }' "$f"
	done
}

# Choose the Debian mirror (and its keyring) for the private configuration:
# the source serving the system's own release (VERSION_CODENAME) with "main",
# else any source of a bookworm/trixie/stable-like suite, else deb.debian.org.
choose_mirror() {
	local codename="" uri suites comps sb best="" best_sb=""
	# shellcheck disable=SC1091  # the system file, not ours
	codename="$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")" || codename=""
	while IFS=$'\t' read -r uri suites comps sb; do
		[[ -n "$uri" ]] || continue
		[[ " $comps " == *" main "* ]] || continue
		case "$uri" in *security*) continue ;; esac
		if [[ -n "$codename" && " $suites " == *" $codename "* ]]; then
			best="$uri" best_sb="$sb"
			break
		fi
		if [[ -z "$best" && " $suites " =~ \ (stable|oldstable|testing|bookworm|trixie|forky)(-updates)?\  ]]; then
			best="$uri" best_sb="$sb"
		fi
	done < <(system_sources)
	MIRROR="${KSRC_MIRROR:-${best:-http://deb.debian.org/debian}}"
	MIRROR="${MIRROR%/}"
	# debian-archive-keyring.gpg holds the keys of every current release;
	# the source's own Signed-By may be a one-release keyring.
	KEYRING="${KSRC_KEYRING:-}"
	if [[ -z "$KEYRING" && -f /usr/share/keyrings/debian-archive-keyring.gpg ]]; then
		KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
	fi
	[[ -n "$KEYRING" ]] || KEYRING="$best_sb"
	if [[ -z "$best" && -z "${KSRC_MIRROR:-}" ]]; then
		warn "no Debian mirror found in the system's apt sources; using $MIRROR"
	fi
}

if [[ -n "$SUITE" ]]; then
	PRIVATE=1
	APTDIR="$REPO/build/apt/$SUITE"
	choose_mirror
	mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" \
		"$APTDIR/sources-parts" "$APTDIR/preferences-parts"
	sb_opt=""
	[[ -n "$KEYRING" ]] && sb_opt="[signed-by=$KEYRING] "
	want="deb ${sb_opt}$MIRROR $SUITE main"
	# Rewriting the list with a different line makes the old index stale.
	if [[ "$(cat "$APTDIR/sources.list" 2>/dev/null || true)" != "$want" ]]; then
		printf '%s\n' "$want" >"$APTDIR/sources.list"
		rm -f "$APTDIR"/lists/*_Packages* "$APTDIR"/lists/*Release* "$APTDIR"/cache/*.bin
	fi
	APT_OPTS+=(
		-o "Dir::Etc::SourceList=$APTDIR/sources.list"
		-o "Dir::Etc::SourceParts=$APTDIR/sources-parts"
		-o "Dir::Etc::Preferences=$APTDIR/preferences"
		-o "Dir::Etc::PreferencesParts=$APTDIR/preferences-parts"
		-o "Dir::State::Lists=$APTDIR/lists"
		-o "Dir::Cache=$APTDIR/cache"
	)
	msg "private apt configuration ${APTDIR#"$REPO"/}: $want"
fi

UPDATED=0
apt_update() {
	[[ "$UPDATED" == 1 ]] && return 0
	UPDATED=1
	if [[ "$PRIVATE" == 0 && "$(id -u)" != 0 ]]; then
		warn "not root: cannot run apt-get update"
		return 1
	fi
	if [[ "$PRIVATE" == 1 ]]; then
		msg "running apt-get update with the private configuration ($SUITE)"
	else
		msg "running apt-get update"
	fi
	if ! apt-get "${APT_OPTS[@]}" update >&2; then
		warn "apt-get update failed"
		if [[ "$PRIVATE" == 1 ]]; then
			warn "if the error is NO_PUBKEY / not signed: the keyring ${KEYRING:-(none)} lacks the $SUITE keys;"
			warn "bookworm's debian-archive-keyring 2023.3+deb12u1 or later has them (apt-get install debian-archive-keyring)"
		fi
		return 1
	fi
	# apt-get update exits 0 even when a source failed to update; make sure
	# the suite's index is really there.
	if [[ "$PRIVATE" == 1 ]] && ! compgen -G "$APTDIR/lists/*_${SUITE}_main_*Packages*" >/dev/null; then
		warn "no package index for $SUITE main after apt-get update (see the messages above)"
		return 1
	fi
}

# Versions apt knows for $PKG, newest first.
known_versions() {
	apt-cache "${APT_OPTS[@]}" madison "$PKG" 2>/dev/null | awk -F'|' '{gsub(/ /, "", $2); print $2}' |
		awk 'NF && !seen[$0]++' |
		sort -r -V 2>/dev/null || true
}

versions="$(known_versions)"
if [[ -z "$versions" ]]; then
	msg "package $PKG unknown to apt"
	apt_update || true
	versions="$(known_versions)"
fi
if [[ -z "$versions" ]]; then
	if [[ "$PRIVATE" == 1 ]]; then
		die "apt does not know package $PKG in $SUITE on $MIRROR; or set KSRC"
	fi
	die "apt does not know package $PKG (check /etc/apt/sources.list); or set KSRC"
fi

# A private index may be stale: refresh it once before falling back.
if [[ "$PRIVATE" == 1 ]] && ! grep -qxF -- "$PIN" <<<"$versions"; then
	apt_update || true
	v2="$(known_versions)"
	[[ -n "$v2" ]] && versions="$v2"
fi

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

dest="$CACHE/$(safe_name "${PKG}_$VER")$SUFFIX"
work="$CACHE/.work.$$"
rm -rf "$work"
mkdir -p "$work"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

download() {
	(cd "$work" && apt-get "${APT_OPTS[@]}" download "$PKG=$VER") >&2
}

msg "downloading $PKG $VER with apt-get download (about 150-170 MB)"
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
if ! dpkg-deb --fsys-tarfile "$deb" |
	tar -xO -f - --wildcards '*usr/src/linux-source-*.tar.xz' |
	tar -xJf - -C "$work/tree" --no-same-owner --wildcards --no-wildcards-match-slash \
		--anchored "${MEMBERS[@]}"; then
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
printf 'package=%s\nversion=%s\nprofile=%s\nsuite=%s\ntree=%s\n' "$PKG" "$VER" "$PROFILE" "${SUITE:-system}" "$top" >"$dest/.stamp"
msg "cached $PKG $VER in ${dest#"$REPO"/}"
echo "$dest/$top"
