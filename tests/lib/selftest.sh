# SPDX-License-Identifier: MIT
#
# selftest.sh - what the runners of the kernel's selftests (tests/upstream/
# run.sh, tests/vfio/run.sh) share: the per-test result files, the log
# excerpt of a failure, the report of each result against the expected-
# failures list, running the tests N at a time with results printed in
# order, and the verdict.  Sourced, not run.
#
# The runner defines before using it:
#   ST_NAME        its name in messages ("upstream", "vfio")
#   ST_XFAIL_REL   its expected-failures file, relative to the repository
#   RESDIR         where run_one writes INDEX.res (and INDEX.pid)
#   TESTS, T       the selected tests and their count
#   JOBS           how many at a time
#   XFAIL          associative array: listed test -> reason
#   list_errors    errors found in the expected-failures file
#   say()          its message function
#   run_one()      IDX NAME: runs one test, writes $RESDIR/IDX.res (with
#                  st_result, below):
#                    line 1 PASS|FAIL|SKIP, line 2 a reason, then an excerpt
#   restore_hugepages()  undoes its huge page reservation

# Kill what is still running (by pid, recorded per job) and restore sysctls.
st_cleanup() {
	local f pid
	for f in "$RESDIR"/*.pid; do
		[[ -e "$f" ]] || continue
		pid="$(cat "$f" 2>/dev/null || true)"
		if [[ -n "$pid" ]]; then kill -TERM "$pid" 2>/dev/null || true; fi
	done
	restore_hugepages
}

# Most relevant lines of a test log: harness boilerplate removed, the first
# assertion/termination message and what follows it, else the first lines.
excerpt() {
	local log="$1" max="$2"
	awk -v max="$max" '
		/^TAP version/ || /^1\.\.[0-9]/ || /^# Starting [0-9]+ tests/ ||
		/^#  +RUN / || /^#  +(OK|FAIL)  / || /^(not )?ok [0-9]+ / ||
		/^# (FAILED|PASSED): / || /^# Totals: / || /^[[:space:]]*$/ { next }
		{ keep[n++] = substr($0, 1, 240) }
		END {
			first = -1
			for (i = 0; i < n; i++)
				if (keep[i] ~ /Expected |Assertion|FAIL|terminated|Test ended|signal|Segmentation|Aborted|ERROR|error:/) { first = i; break }
			if (first < 0) first = 0
			for (i = first; i < n && i < first + max; i++) print keep[i]
		}' "$log"
}

# st_result RES NAME LOG RC TIMEOUT: classify one test run by -r NAME, whose
# output is LOG and exit status RC (124/137: the outer timeout, TIMEOUT
# seconds), and write RES (line 1 PASS|FAIL|SKIP, line 2 the reason, then
# the log excerpt of a failure).  The harness prints the TAP result line
# "ok N NAME[ # SKIP reason]" or "not ok N NAME"; with -r it exits 0 for
# pass and skip, 1 for fail, 4 when main() skipped (KSFT_SKIP).
st_result() {
	local res="$1" name="$2" log="$3" rc="$4" timeout="$5" tap status reason
	tap="$(awk -v n="$name" '($1 == "ok" && $3 == n) || ($1 == "not" && $2 == "ok" && $4 == n) { print; exit }' "$log")"
	if [[ "$rc" == 124 || "$rc" == 137 ]]; then
		status=FAIL reason="timeout after ${timeout}s"
	elif [[ "$tap" == "not ok "* ]]; then
		status=FAIL reason=""	# the log excerpt says why
	elif [[ "$tap" == "ok "*" # SKIP"* ]]; then
		status=SKIP reason="${tap#*# SKIP}"
		reason="${reason# }"
		[[ -n "$reason" ]] || reason="skipped"
	elif [[ "$tap" == "ok "* ]]; then
		if [[ "$rc" == 0 ]]; then
			status=PASS reason=""
		else
			status=FAIL reason="test reported ok but the process exited with status $rc"
		fi
	elif [[ "$rc" == 4 ]]; then
		status=SKIP reason="exit status 4 (kselftest skip: $(grep -m1 -iE 'skip|no driver|unable' "$log" | cut -c1-120 || true))"
	elif [[ "$rc" == 125 ]]; then
		status=FAIL reason="the launcher failed (exit status 125)"
	elif [[ "$rc" -gt 128 ]]; then
		status=FAIL reason="no test result; killed by signal $((rc - 128))"
	else
		status=FAIL reason="no test result (exit status $rc)"
	fi
	{
		echo "$status"
		echo "$reason"
		[[ "$status" == FAIL ]] && excerpt "$log" 4
	} >"$res.tmp"
	mv "$res.tmp" "$res"
}

pass=0 fail=0 skip=0 xfail=0 unexp_fail=0 xpass=0
UNEXP=() XPASSED=()

# report INDEX NAME: print one result, count it against the list.
report() {
	local idx="$1" name="$2" res="$RESDIR/$1.res" status reason
	local -a extra=()
	{ read -r status; read -r reason; mapfile -t extra; } <"$res"
	local listed=""
	[[ -n "${XFAIL[$name]+x}" ]] && listed=1
	case "$status" in
	PASS)
		pass=$((pass + 1))
		if [[ -n "$listed" ]]; then
			xpass=$((xpass + 1)); XPASSED+=("$name")
			echo "PASS $name  [UNEXPECTED PASS: remove it from $ST_XFAIL_REL]"
		else
			echo "PASS $name"
		fi
		;;
	SKIP)
		skip=$((skip + 1))
		echo "SKIP $name  ($reason)"
		;;
	*)
		fail=$((fail + 1))
		if [[ -n "$listed" ]]; then
			xfail=$((xfail + 1))
			echo "FAIL $name  [expected: ${XFAIL[$name]}]"
			if [[ -n "$reason" ]]; then
				echo "    $reason"
			elif [[ "${#extra[@]}" -gt 0 ]]; then
				echo "    ${extra[0]}"
			fi
		else
			unexp_fail=$((unexp_fail + 1)); UNEXP+=("$name")
			echo "FAIL $name  [UNEXPECTED]"
			[[ -n "$reason" ]] && echo "    $reason"
			local l
			for l in "${extra[@]}"; do echo "    $l"; done
		fi
		;;
	esac
	rm -f "$res"
}

# Run every test, JOBS at a time; results are printed in the tests' order.
st_run_all() {
	local next_start=0 next_print=0 running=0
	while [[ "$next_print" -lt "$T" ]]; do
		while [[ "$running" -lt "$JOBS" && "$next_start" -lt "$T" ]]; do
			run_one "$next_start" "${TESTS[$next_start]}" &
			running=$((running + 1))
			next_start=$((next_start + 1))
		done
		if [[ -f "$RESDIR/$next_print.res" ]]; then
			report "$next_print" "${TESTS[$next_print]}"
			next_print=$((next_print + 1))
			continue
		fi
		if [[ "$running" -gt 0 ]]; then
			wait -n || true
			running=$((running - 1))
		else
			# Nothing running and no result: the job died without reporting.
			printf 'FAIL\nrunner job for this test died without a result\n' >"$RESDIR/$next_print.res"
		fi
	done
	wait || true
}

# The summary lines (tests/run-all.sh parses the last two) and the exit status.
st_verdict() {
	if [[ "${#UNEXP[@]}" -gt 0 ]]; then
		echo "$ST_NAME: unexpected failures (not in $ST_XFAIL_REL):"
		printf '    %s\n' "${UNEXP[@]}"
	fi
	if [[ "${#XPASSED[@]}" -gt 0 ]]; then
		echo "$ST_NAME: unexpected passes (XPASS: remove them from $ST_XFAIL_REL):"
		printf '    %s\n' "${XPASSED[@]}"
	fi
	if [[ "$list_errors" -gt 0 ]]; then
		echo "$ST_NAME: $list_errors error(s) in $ST_XFAIL_REL (see above)"
	fi
	say "$xfail expected failures, $unexp_fail unexpected failures, $xpass unexpected passes"
	say "$pass passed, $fail failed, $skip skipped of $T"
	if [[ "$unexp_fail" -gt 0 || "$xpass" -gt 0 || "$list_errors" -gt 0 ]]; then
		exit 1
	fi
	exit 0
}
