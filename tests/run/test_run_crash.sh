#!/usr/bin/env bash
# test_run_crash.sh TALLY: kill -9 `tally run` while it trades, six times, restarting it on
# the same ledger against the same `tally sim` (which drops half the fill events, so a
# killed process often leaves fills it has not settled); then one clean run. The fourth
# start's recovery finds myTrades rate-limited (429, three times) and must wait. Each restart
# must recover what the killed process left (orders cancelled, unsettled fills settled
# from the venue's trade history, reservations released) before it quotes. Last, a start
# 65 s after a trade the ledger lacks, with nothing reserved. At the end:
#   - the ledger equals the sim's balances exactly (zero drift), with no ADJUSTMENT ever
#     written: no fill was lost (that would be a drift) or counted twice (keys are trade
#     ids);
#   - `tally ledger verify` passes.
tally=$1
source "$(dirname "$0")/run_lib.sh"

start_sim crash --seed 7 --drop-fills 50
args=(--set venue.host=127.0.0.1 --set venue.port="$port" --set strategy.half_spread_ticks=1
	--ledger-dir "$work/ledger")

recovered=0
for cycle in 1 2 3 4 5 6; do
	limited=0
	if [ "$cycle" = 4 ]; then
		# This start's recovery is rate-limited: SIGUSR1 makes the sim refuse the next 3
		# myTrades requests with 429 (retry after 1 s). It must wait them out and still
		# settle everything; it quotes about 3 s later, so it gets 3 s more.
		kill -USR1 "$sim_pid"
		limited=3
	fi
	"$tally" run "${args[@]}" >"$work/run$cycle.out" 2>"$work/run$cycle.err" &
	run_pid=$!
	# 2.0 to 4.0 s in: mid-trading, at a moment nobody chose
	sleep "$((2 + limited + RANDOM % 3)).$((RANDOM % 10))"
	kill -9 "$run_pid" 2>/dev/null || {
		tail -20 "$work/run$cycle.err" >&2
		fail "cycle $cycle: tally run had already exited"
	}
	wait "$run_pid" 2>/dev/null
	run_pid=
	grep -q "quoting BTCUSDT" "$work/run$cycle.err" ||
		fail "cycle $cycle: it never started quoting: $(tail -5 "$work/run$cycle.err")"
	n=$(sed -n 's/.* \([0-9]*\) fill(s) it had not settled.*/\1/p' "$work/run$cycle.err")
	recovered=$((recovered + ${n:-0}))
	if [ "$limited" != 0 ]; then
		refusals=$(grep -c "recovery: myTrades: rate limited" "$work/run$cycle.err")
		# at least 1: a request the killed process wrote just before its death may still
		# reach the sim after the signal, and take one of the 3
		[ "$refusals" -ge 1 ] ||
			fail "cycle $cycle: recovery saw no refusal of myTrades: $(grep recovery "$work/run$cycle.err")"
		echo "cycle $cycle: recovery waited out $refusals refusal(s) (429) of myTrades"
	fi
	echo "cycle $cycle: killed; fills recovered at this start: ${n:-0}"
done

"$tally" run "${args[@]}" --duration 4 --json-summary "$work/final.json" \
	>"$work/final.out" 2>"$work/final.err" || {
	tail -20 "$work/final.err" >&2
	fail "the final run failed"
}
grep -q '"balances_checked":true' "$work/final.json" || fail "balances not compared"
grep -q '"drift":{"BTC":"0","USDT":"0"}' "$work/final.json" || fail "drift: $(cat "$work/final.json")"
if "$tally" ledger dump --db "$work/ledger" | grep -q ADJUSTMENT; then
	"$tally" ledger dump --db "$work/ledger" | grep ADJUSTMENT >&2
	fail "an ADJUSTMENT was needed: a restart did not recover everything"
fi
"$tally" ledger verify --db "$work/ledger" >/dev/null || fail "ledger verify failed"
echo "6 kill -9 cycles and a clean run: zero drift, no ADJUSTMENT, verify passes"

# A trade the ledger lacks, made after the last run began, and a start more than a minute
# later with nothing left reserved (the case of a fill whose report was lost while its
# order's reservation was already released). The start must read myTrades from the start
# of the last run that placed orders, which the ledger's newest order names, and settle
# it: reading only the last minute would leave a difference for an ADJUSTMENT.
node "$(dirname "$0")/place_order.js" "$port" BUY 0.01 >"$work/outside.out" ||
	fail "the sim did not fill the order placed from outside: $(cat "$work/outside.out")"
echo "a trade the ledger lacks; starting again 65 s later"
sleep 65
"$tally" run "${args[@]}" --duration 3 --json-summary "$work/late.json" \
	>"$work/late.out" 2>"$work/late.err" || {
	tail -20 "$work/late.err" >&2
	fail "the run after the outside trade failed"
}
n=$(sed -n 's/.* \([0-9]*\) fill(s) it had not settled.*/\1/p' "$work/late.err")
[ "${n:-0}" -ge 1 ] || fail "the outside trade was not settled at start: $(grep recovery "$work/late.err")"
grep -q '"drift":{"BTC":"0","USDT":"0"}' "$work/late.json" || fail "drift: $(cat "$work/late.json")"
if "$tally" ledger dump --db "$work/ledger" | grep -q ADJUSTMENT; then
	"$tally" ledger dump --db "$work/ledger" | grep ADJUSTMENT >&2
	fail "an ADJUSTMENT was needed: the start did not read back far enough"
fi
"$tally" ledger verify --db "$work/ledger" >/dev/null || fail "ledger verify failed"
# the sim's record: no client order id reused across the restarts, every trade (the outside
# one too) settled once
check_audit crash "$work/ledger"
fills=$("$tally" ledger dump --db "$work/ledger" | grep -c TRADE_SETTLE)
echo "ok: 6 kill -9 cycles, a clean run, and a start 65 s after a trade it had not seen:" \
	"zero drift, no ADJUSTMENT, verify passes ($fills fill entries in the journal;" \
	"$recovered fill(s) recovered at restarts, $n at the last)"
