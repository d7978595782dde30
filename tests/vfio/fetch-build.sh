#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# fetch-build.sh - fetch the kernel's VFIO selftest and build it, unmodified,
# with its own Makefile.  Idempotent: a second run rebuilds nothing.
#
#   1. build dependencies: gcc, make, uuid-dev (libuuid: the selftest links
#      -luuid), xz-utils; installed with apt-get when missing (as root)
#   2. kernel sources: tests/upstream/fetch-ksrc.sh --profile vfio, i.e.
#      Debian's linux-source-7.3 from trixie-backports, only the needed paths,
#      in build/ksrc/ (a private apt configuration; /etc/apt is not touched)
#   3. uapi headers: the kernel's own `make headers` with O=build/vfio/khdr
#      (the selftest's Makefile compiles with KHDR_INCLUDES, by default the
#      headers_install'ed usr/include of the tree; bookworm's linux-libc-dev
#      6.1 has no linux/iommufd.h)
#   4. the selftest: make -C <tree>/tools/testing/selftests/vfio
#        OUTPUT=build/vfio/bin KHDR_INCLUDES="-isystem build/vfio/khdr/usr/include"
#
# Prints, as the last line on stdout, the directory holding the programs
# (build/vfio/bin, absolute): vfio_pci_device_test, vfio_iommufd_setup_test,
# vfio_dma_mapping_test, vfio_dma_mapping_mmio_test,
# vfio_pci_device_init_perf_test, vfio_pci_driver_test and
# vfio_pci_sriov_uapi_test.  Progress goes to stderr; the build logs are in
# build/vfio/logs/.  The kernel sources are GPL-2.0, fetched at test time and
# never part of this repository.
#
# Environment:
#   VFIO_KSRC          extracted kernel tree to use instead of fetching
#                      (passed to fetch-ksrc.sh as KSRC)
#   VFIO_KSRC_PACKAGE  / VFIO_KSRC_VERSION / VFIO_KSRC_SUITE: passed to
#                      fetch-ksrc.sh as KSRC_PACKAGE / KSRC_VERSION / KSRC_SUITE
#   VFIO_UAPI_DIR      extra uapi header directory searched BEFORE the
#                      kernel's (e.g. include/uiommufd/uapi to build against
#                      our own linux/iommufd.h); default: none
#   VFIO_EXTRA_CFLAGS  appended to the selftest's CFLAGS (its EXTRA_CFLAGS)
#   VFIO_NO_INSTALL=1  never run apt-get for the build dependencies

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$REPO/build/vfio"
KHDR="$OUT/khdr"
BIN="$OUT/bin"
LOGS="$OUT/logs"

PROGS=(
	vfio_pci_device_test
	vfio_iommufd_setup_test
	vfio_dma_mapping_test
	vfio_dma_mapping_mmio_test
	vfio_pci_device_init_perf_test
	vfio_pci_driver_test
	vfio_pci_sriov_uapi_test
)

msg()  { echo "vfio-build: $*" >&2; }
die()  { echo "vfio-build: ERROR: $*" >&2; exit 1; }

# ---- 1. dependencies ---------------------------------------------------------
pkg_installed() {
	[[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}
missing=()
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v xz >/dev/null 2>&1 || missing+=(xz-utils)
# <uuid/uuid.h> and the libuuid.so link for -luuid
if [[ ! -f /usr/include/uuid/uuid.h ]] ||
	{ command -v dpkg-query >/dev/null 2>&1 && ! pkg_installed uuid-dev; }; then
	missing+=(uuid-dev)
fi
if [[ "${#missing[@]}" -gt 0 ]]; then
	if [[ "${VFIO_NO_INSTALL:-0}" == 1 || "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
		die "missing build dependencies: ${missing[*]} (apt-get install -y --no-install-recommends ${missing[*]})"
	fi
	msg "installing ${missing[*]} with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
		apt-get update >&2 || true
		apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
			die "apt-get install ${missing[*]} failed"
	fi
fi

# ---- 2. kernel sources ---------------------------------------------------------
KS="$(KSRC="${VFIO_KSRC:-}" KSRC_PACKAGE="${VFIO_KSRC_PACKAGE:-}" \
	KSRC_VERSION="${VFIO_KSRC_VERSION:-}" KSRC_SUITE="${VFIO_KSRC_SUITE:-}" \
	"$REPO/tests/upstream/fetch-ksrc.sh" --profile vfio | tail -n1)" ||
	die "could not obtain the kernel sources (see above)"
[[ -n "$KS" && -d "$KS/tools/testing/selftests/vfio" ]] || die "fetch-ksrc.sh returned no usable tree"
SELFTEST="$KS/tools/testing/selftests/vfio"

mkdir -p "$OUT" "$LOGS"
if command -v flock >/dev/null 2>&1; then
	exec 9>"$OUT/.lock"
	flock 9
fi

# ---- 3. uapi headers (the kernel's `make headers`) ------------------------------
# Redone when the tree changes (the stamp names it); make itself is
# incremental otherwise.
stamp="$KHDR/.stamp"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$KS" || ! -f "$KHDR/usr/include/linux/iommufd.h" ]]; then
	msg "make headers (the kernel's uapi headers, into ${KHDR#"$REPO"/})"
	rm -rf "$KHDR"
	mkdir -p "$KHDR"
	if ! make -C "$KS" O="$KHDR" headers >"$LOGS/headers.log" 2>&1; then
		tail -n 20 "$LOGS/headers.log" | sed 's/^/    /' >&2
		die "make headers failed (full log: build/vfio/logs/headers.log)"
	fi
	printf '%s\n' "$KS" >"$stamp"
fi

# ---- 4. the selftest ------------------------------------------------------------------
khdr_inc="-isystem $KHDR/usr/include"
if [[ -n "${VFIO_UAPI_DIR:-}" ]]; then
	uapi="$(cd "$VFIO_UAPI_DIR" && pwd)" || die "VFIO_UAPI_DIR=$VFIO_UAPI_DIR is not a directory"
	khdr_inc="-isystem $uapi $khdr_inc"
fi
# A change of include path or flags must rebuild everything.
flags="$khdr_inc | ${VFIO_EXTRA_CFLAGS:-} | $KS"
if [[ "$(cat "$BIN/.flags" 2>/dev/null || true)" != "$flags" ]]; then
	rm -rf "$BIN"
fi
mkdir -p "$BIN"
msg "building the VFIO selftest from ${SELFTEST#"$REPO"/} into ${BIN#"$REPO"/}"
if ! make -C "$SELFTEST" OUTPUT="$BIN" KHDR_INCLUDES="$khdr_inc" \
	EXTRA_CFLAGS="${VFIO_EXTRA_CFLAGS:-}" -j"${VFIO_BUILD_JOBS:-2}" >"$LOGS/build.log" 2>&1; then
	{ grep -E 'error|Error' "$LOGS/build.log" || tail -n 20 "$LOGS/build.log"; } | head -n 25 | sed 's/^/    /' >&2
	die "the VFIO selftest does not build (full log: build/vfio/logs/build.log)"
fi
printf '%s\n' "$flags" >"$BIN/.flags"

bad=0
for p in "${PROGS[@]}"; do
	[[ -x "$BIN/$p" ]] || { echo "vfio-build: ERROR: $p was not built" >&2; bad=1; }
done
[[ "$bad" == 0 ]] || exit 1
msg "built: ${PROGS[*]}"
echo "$BIN"
