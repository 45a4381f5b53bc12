#!/usr/bin/env bash
# The `tally` command line as a user meets it: help, exit codes, errors, and the JSON of
# `tally bench ring` (its keys and that every figure is a positive number; never timings).
set -u
tally=$1
fails=0
out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# A library that did not load would make every check a no-op: refuse to go on.
declare -F expect >/dev/null || { echo "FAIL: lib.sh did not load" >&2; exit 1; }

expect 0 "$tally" --help
grep -q '^Usage: tally <command>' "$out" || fail "--help has no usage line"
grep -q '^  bench ' "$out" || fail "--help does not list bench"
expect 0 "$tally" --version
grep -q '^tally [0-9]' "$out" || fail "--version prints no version"
# And how the binary was built (build type, LTO, PGO), as the benches report it too.
build=$(sed -n 's/^tally [0-9][0-9.]* (\(.*\))$/\1/p' "$out")
[ -n "$build" ] || fail "--version names no build: $(cat "$out")"

expect 2 "$tally"
grep -q 'Usage' "$err" || fail "no-argument run prints no usage on stderr"
expect 2 "$tally" frobnicate
grep -q "unknown command 'frobnicate'" "$err" || fail "unknown command not named"

expect 0 "$tally" bench --help
grep -q '^  ring ' "$out" || fail "bench --help does not list ring"
expect 2 "$tally" bench
expect 2 "$tally" bench nosuch
grep -q "unknown benchmark 'nosuch'" "$err" || fail "unknown benchmark not named"

expect 0 "$tally" bench ring --help
grep -q '^Usage: tally bench ring' "$out" || fail "bench ring --help has no usage"
grep -q 'Exit status' "$out" || fail "bench ring --help documents no exit status"

for bad in "--reps 0" "--reps x" "--capacity 1000" "--capacity 0" "--msgs -5" "--rtts 1"; do
	# shellcheck disable=SC2086
	expect 2 "$tally" bench ring $bad
	grep -q "bad value" "$err" || fail "'bench ring $bad' gives no clear error"
done
expect 2 "$tally" bench ring --bogus
expect 2 "$tally" bench ring extra-arg

# A short run: the JSON object must carry every key, each a positive number.
expect 0 "$tally" bench ring --json --reps 1 --msgs 200000 --rtts 2000 --capacity 1024
[ "$(wc -l <"$out")" -eq 1 ] || fail "--json printed more than one line"
for key in ours_msgs_per_s ck_ring_msgs_per_s ours_batched_msgs_per_s ours_64b_msgs_per_s \
	rtt_p50_ns rtt_p99_ns atomic_rtt_p50_ns; do
	grep -Eq "\"$key\":[1-9][0-9]*(\.[0-9]+)?[,}]" "$out" || fail "--json lacks a positive $key: $(cat "$out")"
done
grep -q '^{.*}$' "$out" || fail "--json output is not one object"
grep -q 'rep 1/1' "$err" || fail "no progress on stderr"

# The human table names every case.
expect 0 "$tally" bench ring --reps 1 --msgs 100000 --rtts 1000
for name in "ck_ring spsc" "batched" "64 B events" "two bare atomics"; do
	grep -q "$name" "$out" || fail "table lacks '$name'"
done

# tally bench ledger: a short run through the real ledger on disk; every key, and no
# command left unapplied (a bench whose commands were rejected measures nothing).
expect 0 "$tally" bench ledger --json --reps 1 --orders 300 --accounts 50
for key in group_mutations_per_s per_commit_mutations_per_s group_vs_per_commit ack_p50_us \
	ack_p99_us due_p50_us due_p99_us batch_mean commit_p50_us commit_p99_us disk_p50_us \
	disk_p99_us ack_floor_p50_us ack_floor_p99_us disk_contig_p50_us disk_contig_p99_us \
	ack_floor_contig_p50_us ack_floor_contig_p99_us feeder_cpu_pct; do
	grep -Eq "\"$key\":[0-9]*\.?[0-9]*[1-9][0-9]*(\.[0-9]+)?[,}]" "$out" ||
		fail "bench ledger --json lacks a positive $key: $(cat "$out")"
done
grep -q '"not_applied":0[,}]' "$out" || fail "bench ledger left commands unapplied"
# the ledger's CPU (--ledger-cpu disk by default) is the one tl_ledger_disk_cpu names, or
# none (-1) on a disk with no single interrupt CPU; the log says which
grep -Eq '"ledger_cpu":(-1|[0-9]+)[,}]' "$out" || fail "bench ledger --json lacks ledger_cpu"
grep -Eq "the disk's interrupts go to CPU|no single CPU takes the disk's interrupts" "$err" ||
	fail "bench ledger: the log does not say where the ledger thread runs"
expect 0 "$tally" bench ledger --json --reps 1 --orders 300 --accounts 50 --ledger-cpu none
grep -q '"ledger_cpu":-1[,}]' "$out" || fail "bench ledger --ledger-cpu none pinned the ledger"
grep -q '"burst_us":300[,}]' "$out" || fail "bench ledger: the feeder's burst is not 300 us by default"
grep -Eq '"feeder_stalls":[0-9]+,"feeder_stall_max_us":[0-9]+[,}]' "$out" ||
	fail "bench ledger --json lacks the feeder's stalls"
# --burst-us 0: the feeder polls (and so takes a whole CPU's worth of time)
expect 0 "$tally" bench ledger --json --reps 1 --orders 300 --accounts 50 --burst-us 0
grep -q '"burst_us":0[,}]' "$out" || fail "bench ledger --burst-us 0 not taken"
expect 2 "$tally" bench ledger --burst-us 100001
grep -q "bad value '100001' for --burst-us" "$err" || fail "bench ledger --burst-us 100001: no clear error"
expect 2 "$tally" bench ledger --orders 5
expect 2 "$tally" bench ledger --ledger-cpu diskette
grep -q "bad value 'diskette' for --ledger-cpu" "$err" || fail "bench ledger --ledger-cpu diskette: no clear error"
expect 2 "$tally" run --set threads.cpu_ledger=-2
grep -q "bad value '-2' for \[threads\] cpu_ledger" "$err" || fail "run: cpu_ledger=-2 not refused"
expect 0 "$tally" bench --help
grep -q '^  ledger ' "$out" || fail "bench --help does not list ledger"

# tally bench io: a short run of every client against the echo server, plain and TLS.
expect 0 "$tally" bench io --json --reps 1 --msgs 200
for key in uring_rtt_p50_us uring_rtt_p99_us blocking_rtt_p50_us tls_rtt_p50_us \
	uring_vs_blocking_p50; do
	grep -Eq "\"$key\":[0-9]*\.?[0-9]*[1-9][0-9]*(\.[0-9]+)?[,}]" "$out" ||
		fail "bench io --json lacks a positive $key: $(cat "$out")"
done
grep -q '"tls_overhead_p50_us":-\?[0-9]' "$out" || fail "bench io --json lacks tls_overhead_p50_us"
grep -q "closing with" "$err" && fail "bench io: a client closed on a protocol error: $(cat "$err")"

# tally bench t2t: a short run, floor and engine against tally sim --t2t; every key, and
# samples on both sides (a run that measured nothing fails).
expect 0 "$tally" bench t2t --json --reps 1 --seconds 5
for key in engine_t2t_p50_us engine_t2t_p99_us floor_p50_us floor_p99_us internal_p50_ns \
	internal_p99_ns internal_md_p50_ns internal_strategy_p50_ns internal_user_p50_ns \
	floor_samples engine_samples internal_samples; do
	grep -Eq "\"$key\":[0-9]*\.?[0-9]*[1-9][0-9]*(\.[0-9]+)?[,}]" "$out" ||
		fail "bench t2t --json lacks a positive $key: $(cat "$out")"
done
# The stall probe's figures may be 0 on a quiet machine; the share lost is a percentage.
for key in cpu_stalls_per_s cpu_stall_p50_us cpu_stall_lost_pct cpu_stall_overlap_pct; do
	grep -Eq "\"$key\":[0-9]+(\.[0-9]+)?[,}]" "$out" || fail "bench t2t --json lacks $key: $(cat "$out")"
done
grep -Eq '"cpu_stall_lost_pct":(100(\.0+)?|[0-9]{1,2}(\.[0-9]+)?)[,}]' "$out" ||
	fail "bench t2t: cpu_stall_lost_pct is no percentage: $(cat "$out")"
grep -qF "\"build\":\"$build\"" "$out" ||
	fail "bench t2t --json does not name the build as --version does ($build): $(cat "$out")"
expect 2 "$tally" bench t2t --seconds 0
expect 2 "$tally" bench t2t --idle sleepy
grep -q "idle" "$err" || fail "bench t2t --idle sleepy: no message naming the option"
expect 2 "$tally" bench t2t --layout sideways
grep -q "layout" "$err" || fail "bench t2t --layout sideways: no message naming the option"
expect 0 "$tally" bench io --help
grep -q '^Usage: tally bench io' "$out" || fail "bench io --help has no usage"
expect 2 "$tally" bench io --msgs 5
expect 2 "$tally" bench io --reps 0
expect 0 "$tally" bench --help
grep -q '^  io ' "$out" || fail "bench --help does not list io"

# tally bench book: one pass of each parser over the real capture (when it is there).
data=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/shared/data
if [ -d "$data/binance-spot" ]; then
	expect 0 "$tally" bench book --json --reps 1 --data "$data"
	for key in mb_per_s levels_per_s ns_per_event_p50 alt_parser_mb_per_s; do
		grep -Eq "\"$key\":[0-9]*\.?[0-9]*[1-9][0-9]*(\.[0-9]+)?[,}]" "$out" ||
			fail "bench book --json lacks a positive $key: $(cat "$out")"
	done
	grep -q '"events":6495[,}]' "$out" || fail "bench book did not replay every depth event"
fi
expect 1 "$tally" bench book --data /nonexistent
expect 2 "$tally" bench book --reps 0

if [ $fails -ne 0 ]; then
	echo "$fails check(s) failed" >&2
	exit 1
fi
echo "cli: ok"
