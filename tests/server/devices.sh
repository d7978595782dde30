#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# devices.sh - uiommufd-run --device: the emulated PCI devices' discovery
# as a program sees it (sysfs through libumockdev, the UIOMMUFD_DEVICES
# list), the defaults for PCI addresses and IOMMU groups, the errors for a
# bad option, and that nothing is left behind.  Exit 0 when every check
# passes, 1 otherwise, 77 when libumockdev is not installed.
#
# Usage: devices.sh [BUILD_DIR]
set -uo pipefail

B=${1:-build}
RUN="$B/uiommufd-run"
pass=0 fail=0

ok() { pass=$((pass + 1)); echo "ok $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
expect() { # name want got
	if [ "$2" = "$3" ]; then ok "$1"; else bad "$1 (want '$2', got '$3')"; fi
}

[ -x "$RUN" ] || { echo "no $RUN: run make first" >&2; exit 1; }
if ! compgen -G "/usr/lib/*/libumockdev-preload.so.0" >/dev/null &&
	[ ! -e /usr/lib/libumockdev-preload.so.0 ]; then
	echo "SKIP: libumockdev0 is not installed"
	exit 77
fi

D=/sys/bus/pci/devices/0000:00:04.0
got=$("$RUN" --device ioat -- sh -c 'echo $UIOMMUFD_DEVICES')
expect "UIOMMUFD_DEVICES, one device" "0000:00:04.0" "$got"
got=$("$RUN" --device ioat -- cat $D/vendor $D/device $D/class)
expect "vendor, device, class" "0x8086 0x2021 0x088000" "$(echo $got)"
got=$("$RUN" --device ioat -- readlink $D/iommu_group)
expect "iommu_group link" "../../../kernel/iommu_groups/0" "$got"
got=$("$RUN" --device ioat -- readlink $D/driver)
expect "driver link" "vfio-pci" "$(basename "$got")"
got=$("$RUN" --device ioat -- ls $D/vfio-dev)
expect "vfio-dev entry" "vfio0" "$got"
got=$("$RUN" --device ioat -- cat $D/vfio-dev/vfio0/dev)
expect "cdev numbers" "511:0" "$got"
got=$("$RUN" --device ioat -- ls /sys/kernel/iommu_groups/0/devices)
expect "group lists the device" "0000:00:04.0" "$got"
got=$("$RUN" --device ioat -- head -c 2 $D/config | od -An -tx1 | tr -d ' ')
expect "config space starts with the vendor ID" "8680" "$got"
got=$("$RUN" --device ioat -- realpath $D)
expect "realpath" "/sys/devices/pci0000:00/0000:00:04.0" "$got"
# Something outside the tree is the real file system.
got=$("$RUN" --device ioat -- cat /proc/sys/kernel/ostype)
expect "other paths untouched" "Linux" "$got"

got=$("$RUN" --device ioat --device ioat,bdf=0000:00:02.0 --device ioat -- \
	sh -c 'echo $UIOMMUFD_DEVICES; readlink /sys/bus/pci/devices/0000:00:05.0/iommu_group')
expect "several devices: addresses in order, own groups" \
	"0000:00:04.0 0000:00:02.0 0000:00:05.0 ../../../kernel/iommu_groups/2" "$(echo $got)"
got=$("$RUN" --device ioat,group=7 -- readlink $D/iommu_group)
expect "group given" "../../../kernel/iommu_groups/7" "$got"

"$RUN" --device nosuchmodel -- true 2>/dev/null
expect "unknown model" 125 $?
"$RUN" --device ioat,bdf=zz -- true 2>/dev/null
expect "bad PCI address" 125 $?
"$RUN" --device ioat,bdf=0000:00:04.0 --device ioat,bdf=00:04.0 -- true 2>/dev/null
expect "PCI address given twice" 125 $?
"$RUN" --mode=inprocess --device ioat -- true 2>/dev/null
expect "devices need server mode" 125 $?

dir=$("$RUN" --device ioat -- sh -c 'echo $UMOCKDEV_DIR')
if [ -n "$dir" ] && [ ! -e "$dir" ]; then ok "sysfs tree removed"; else bad "sysfs tree removed ($dir)"; fi
"$RUN" --device ioat -- true
expect "program's status" 0 $?

echo "devices: $pass passed, $fail failed"
[ "$fail" = 0 ]
