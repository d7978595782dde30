#!/bin/sh
# SPDX-License-Identifier: MIT
#
# check-layout.sh KSRC
#
# Check that our ABI headers agree with a kernel tree's:
#   include/uiommufd/uapi/linux/iommufd.h  vs  KSRC/include/uapi/linux/iommufd.h
#   include/uiommufd/uapi/linux/vfio.h     vs  KSRC/include/uapi/linux/vfio.h
#   include/uiommufd/uapi/iommufd_test.h   vs  KSRC/drivers/iommu/iommufd/iommufd_test.h
#
# For every struct both headers define: its size, and the offset and size of
# every member both have (members of nested named structs/unions included,
# e.g. iommu_test_cmd.dirty.page_size; for a flexible array member, its
# offset and element size). For every constant both define (ioctl numbers,
# enum values, flags, #define values, string literals): its value.
#
# Each header is compiled in a translation unit of its own by a program
# generated from the header itself (gen-layout.sh), so nothing is listed by
# hand. Items only one side has are listed but not compared. Intended
# differences are read from known-differences.list.
#
# The last line of output is "abi: N passed, M failed"; the exit status is 0
# only if M is 0 (2 on a usage or build error).
#
# Environment: CC (default cc); UIOMMUFD_UAPI overrides our header directory
# (default include/uiommufd/uapi of this repository); V=1 lists every item.

set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
ours=${UIOMMUFD_UAPI:-$repo/include/uiommufd/uapi}
cc=${CC:-cc}
known=$here/known-differences.list

die() { echo "abi: ERROR: $*" >&2; exit 2; }

[ $# -eq 1 ] || { echo "usage: $0 KSRC" >&2; exit 2; }
ksrc=$1
k_iommufd=$ksrc/include/uapi/linux/iommufd.h
k_vfio=$ksrc/include/uapi/linux/vfio.h
k_test=$ksrc/drivers/iommu/iommufd/iommufd_test.h
for f in "$k_iommufd" "$k_vfio" "$k_test" "$ours/linux/iommufd.h" \
	 "$ours/linux/vfio.h" "$ours/iommufd_test.h"; do
	[ -f "$f" ] || die "no $f"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/uiommufd-abi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# The kernel's headers are installed under their user-visible names in a
# directory of their own, so <linux/iommufd.h> means the kernel's there.
mkdir -p "$tmp/kinc/linux"
cp "$k_iommufd" "$tmp/kinc/linux/iommufd.h"
cp "$k_vfio" "$tmp/kinc/linux/vfio.h"
cp "$k_test" "$tmp/kinc/iommufd_test.h"

# layout NAME HEADER INCLUDE INCDIR [CFLAGS...]: build and run the program
# for HEADER, output in $tmp/NAME.txt
layout() {
	name=$1 hdr=$2 inc=$3 incdir=$4
	shift 4
	sh "$here/gen-layout.sh" "$hdr" "$inc" "$tmp/$name.c"
	if ! "$cc" -std=gnu11 -D_GNU_SOURCE "$@" -I"$incdir" \
		-o "$tmp/$name" "$tmp/$name.c" 2>"$tmp/$name.err"; then
		cat "$tmp/$name.err" >&2
		die "could not build the layout program for $hdr"
	fi
	"$tmp/$name" > "$tmp/$name.txt" || die "layout program for $hdr failed"
}

layout ours_iommufd "$ours/linux/iommufd.h" '<linux/iommufd.h>' "$ours"
layout kern_iommufd "$k_iommufd" '<linux/iommufd.h>' "$tmp/kinc" -D__user=
layout ours_vfio "$ours/linux/vfio.h" '<linux/vfio.h>' "$ours"
layout kern_vfio "$k_vfio" '<linux/vfio.h>' "$tmp/kinc" -D__user=
layout ours_test "$ours/iommufd_test.h" '"iommufd_test.h"' "$ours"
layout kern_test "$k_test" '"iommufd_test.h"' "$tmp/kinc" -D__user=

# compare TAG OURS KERNEL: print findings, then a line "TOTALS pass fail known"
compare() {
	awk -v tag="$1" -v verbose="${V:-0}" -v knownfile="$known" '
	function key(line,    n, f) {
		n = split(line, f, " ")
		return f[1] == "struct" ? f[1] " " f[2] : f[1]
	}
	function val(line, k) {
		return substr(line, length(k) + 2)
	}
	BEGIN {
		while ((getline l < knownfile) > 0) {
			sub(/#.*/, "", l)
			sub(/^[ \t]+/, "", l)
			sub(/[ \t]+$/, "", l)
			if (l == "")
				continue
			n = split(l, f, " ")
			if (f[1] != tag)
				continue
			k = f[2]
			for (i = 3; i <= n; i++)
				k = k " " f[i]
			allowed[k] = 1
		}
	}
	FNR == NR {
		k = key($0)
		ours[k] = val($0, k)
		order[++nours] = k
		next
	}
	{
		k = key($0)
		kern[k] = val($0, k)
		korder[++nkern] = k
	}
	END {
		pass = fail = known = onlyours = onlykern = 0
		for (i = 1; i <= nours; i++) {
			k = order[i]
			if (!(k in kern)) {
				onlyours++
				continue
			}
			if (ours[k] == kern[k]) {
				pass++
				if (verbose == "1")
					printf "ok       %s %s: %s\n", tag, k, ours[k]
			} else if (k in allowed) {
				known++
				printf "known    %s %s: ours \"%s\", kernel \"%s\"\n",
				       tag, k, ours[k], kern[k]
			} else {
				fail++
				printf "MISMATCH %s %s: ours \"%s\", kernel \"%s\"\n",
				       tag, k, ours[k], kern[k]
			}
		}
		for (i = 1; i <= nkern; i++) {
			k = korder[i]
			if (!(k in ours)) {
				onlykern++
				printf "missing  %s %s: only in the kernel header (%s)\n",
				       tag, k, kern[k]
			}
		}
		printf "abi: %s: %d compared, %d differ, %d known; %d only ours, %d only kernel\n",
		       tag, pass + fail + known, fail, known, onlyours, onlykern
		printf "TOTALS %d %d %d\n", pass, fail, known
	}' "$2" "$3"
}

echo "abi: ours   $ours"
echo "abi: kernel $ksrc"
total_pass=0 total_fail=0 total_known=0
for pair in "iommufd.h ours_iommufd kern_iommufd" \
	    "vfio.h ours_vfio kern_vfio" \
	    "iommufd_test.h ours_test kern_test"; do
	set -- $pair
	compare "$1" "$tmp/$2.txt" "$tmp/$3.txt" > "$tmp/cmp.out"
	grep -v '^TOTALS ' "$tmp/cmp.out" || true
	set -- $(grep '^TOTALS ' "$tmp/cmp.out")
	total_pass=$((total_pass + $2))
	total_fail=$((total_fail + $3))
	total_known=$((total_known + $4))
done

[ "$total_known" -eq 0 ] ||
	echo "abi: $total_known known difference(s) allowed by tests/abi/known-differences.list"
echo "abi: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
