#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# lifecycle.sh - uiommufd-run's process handling in both modes: the exit
# status and terminating signal are the program's; 125/126/127 for the
# launcher's own failures; signals sent to the launcher reach the program;
# the daemon ends with the program and leaves no process and no socket
# behind, even when the launcher is killed; --mode and UIOMMUFD_MODE pick
# the mode.  Exit 0 when every check passes, 1 otherwise.
#
# Usage: lifecycle.sh [BUILD_DIR]
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

for mode in server inprocess; do
	"$RUN" --mode=$mode -- sh -c 'exit 3'
	expect "$mode: exit status" 3 $?
	"$RUN" --mode=$mode -- sh -c 'kill -TERM $$' 2>/dev/null
	expect "$mode: terminating signal" 143 $?
	"$RUN" --mode=$mode -- /nonexistent/program 2>/dev/null
	expect "$mode: program not found" 127 $?
	"$RUN" --mode=$mode -- /dev/null 2>/dev/null
	expect "$mode: program not executable" 126 $?
	got=$("$RUN" --mode=$mode -- sh -c 'echo $UIOMMUFD_MODE')
	expect "$mode: UIOMMUFD_MODE for the program" $mode "$got"
	got=$(UIOMMUFD_MODE=$mode "$RUN" -- sh -c 'echo $UIOMMUFD_MODE')
	expect "$mode: chosen by UIOMMUFD_MODE" $mode "$got"
done

"$RUN" --mode=bogus -- true 2>/dev/null
expect "unknown mode" 125 $?
# Tunables the library would ignore are refused, by name.
for bad in UIOMMUFD_SPIN_US=abc UIOMMUFD_SPIN_US=100001 UIOMMUFD_SPIN_US= \
	UIOMMUFD_RING=yes UIOMMUFD_PROCMAP_QUERY=2 UIOMMUFD_STRICT_FDS=on; do
	err=$(env "$bad" "$RUN" -- true 2>&1)
	expect "$bad refused" 125 $?
	case "$err" in
	*"${bad%%=*}"*) ;;
	*) bad "$bad: the message does not name it: $err" ;;
	esac
done
env UIOMMUFD_SPIN_US=0 UIOMMUFD_RING=1 UIOMMUFD_PROCMAP_QUERY=0 "$RUN" -- true
expect "good tunables" 0 $?
got=$(UIOMMUFD_MODE=inprocess "$RUN" --mode=server -- sh -c 'echo $UIOMMUFD_MODE')
expect "--mode wins over UIOMMUFD_MODE" server "$got"
got=$("$RUN" -- sh -c 'echo $UIOMMUFD_MODE')
expect "server is the default" server "$got"

# The daemon is the launcher: gone after the program, and its socket too.
out=$("$RUN" -- sh -c 'echo $UIOMMUFD_DAEMON_PID $UIOMMUFD_SOCKET')
dpid=${out%% *}
sock=${out#* }
if [ -n "$dpid" ] && ! kill -0 "$dpid" 2>/dev/null; then
	ok "no daemon process left"
else
	bad "no daemon process left ($dpid)"
fi
if grep -q -- "${sock#@}" /proc/net/unix; then
	bad "no socket left (${sock})"
else
	ok "no socket left"
fi

# A signal sent to the launcher reaches the program.
"$RUN" -- sleep 30 &
lpid=$!
sleep 0.3
kill -TERM $lpid
wait $lpid
expect "SIGTERM forwarded, program's status" 143 $?
if pgrep -P $lpid >/dev/null 2>&1; then bad "program gone after SIGTERM"; else ok "program gone after SIGTERM"; fi

# The launcher killed outright: the program dies with it.
marker="30.$$$RANDOM"
"$RUN" -- sleep "$marker" &
lpid=$!
sleep 0.3
kill -KILL $lpid
wait $lpid 2>/dev/null
sleep 0.3
if pgrep -f "sleep $marker" >/dev/null; then
	bad "program killed with the launcher"
	pkill -f "sleep $marker"
else
	ok "program killed with the launcher"
fi

# A program that leaves a background child: the launcher still ends.
start=$(date +%s)
"$RUN" -- sh -c 'sleep 2 >/dev/null 2>&1 & exit 0'
expect "orphaned child: program's status" 0 $?
end=$(date +%s)
if [ $((end - start)) -lt 2 ]; then ok "launcher ends with the program"; else bad "launcher waited for an orphan"; fi

echo "lifecycle: $pass passed, $fail failed"
[ "$fail" = 0 ]
