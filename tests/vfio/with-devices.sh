#!/bin/sh
# SPDX-License-Identifier: MIT
#
# with-devices.sh - run COMMAND with the launcher's emulated device addresses
# appended to its arguments, the way the kernel's VFIO selftests take them
# ("PROG [options] segment:bus:device.function ...").
#
#   uiommufd-run --device ioat,bdf=0000:00:04.0 -- with-devices.sh PROG -r NAME
#     runs  PROG -r NAME 0000:00:04.0
#
# The addresses come from $UIOMMUFD_DEVICES, which uiommufd-run exports for
# its --device options (separated by commas and/or blanks).  If
# $VFIO_WANT_DEVICES is set (same syntax), the two lists must be equal: the
# runner uses it to catch a launcher that placed a device elsewhere.

if [ -z "${UIOMMUFD_DEVICES:-}" ]; then
	echo "with-devices: UIOMMUFD_DEVICES is not set (no --device given, or a launcher without device support)" >&2
	exit 125
fi
if [ "$#" -eq 0 ]; then
	echo "usage: with-devices.sh COMMAND [ARGS...]" >&2
	exit 125
fi
devs=$(printf '%s\n' "$UIOMMUFD_DEVICES" | tr ',' ' ')
if [ -n "${VFIO_WANT_DEVICES:-}" ]; then
	want=$(printf '%s\n' "$VFIO_WANT_DEVICES" | tr ',' ' ')
	# shellcheck disable=SC2086,SC2116  # unquoted echo normalises the blanks
	if [ "$(echo $devs)" != "$(echo $want)" ]; then
		echo "with-devices: the launcher exported UIOMMUFD_DEVICES='$UIOMMUFD_DEVICES', expected '$VFIO_WANT_DEVICES'" >&2
		exit 125
	fi
fi
# shellcheck disable=SC2086  # one argument per address
exec "$@" $devs
