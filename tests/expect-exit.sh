#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/expect-exit.sh WANT CMD...: run CMD, exit 0 if it exited WANT and 1
# otherwise.  For `make check`, whose run_one counts 77 as a skip: a
# program that must exit 77 (an example without the extensions it needs),
# or must not skip (exit 0 only), is asserted through this.
set -u
want=$1
shift
"$@"
rc=$?
if [ "$rc" = "$want" ]; then
	exit 0
fi
echo "expect-exit: '$*' exited $rc, expected $want" >&2
exit 1
