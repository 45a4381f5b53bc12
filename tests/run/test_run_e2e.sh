#!/usr/bin/env bash
# test_run_e2e.sh TALLY: `tally run` end to end against `tally sim` on loopback.
#
#   1. The embedded default (no arguments but --duration): it starts its own sim, quotes,
#      stops, and the ledger equals the sim's balances exactly (zero drift, exit 0).
#   2. One run per fault flag of the sim (duplicated, reordered, delayed and garbled user
#      events, dropped fills, unknown outcomes, rate limits, dropped connections, a clock
#      8 s ahead, an outside deposit), each against a sim started with that flag: zero
#      drift again, and the fills the faults hid come back through the REST back-fill
#      where that is needed. Reconciliation runs every second: it must write no
#      ADJUSTMENT, except the one the outside deposit calls for. From the sim's audit
#      trail of every order event: no client order id reused, every sim trade settled
#      once (the ledger's trade keys are exactly the sim's trades), and the position
#      limit never exceeded by the conservative exposure (position + open orders).
#   3. Four of those faults again with threads.layout=fused, the three hot stages on one
#      thread, under the same checks.
#   4. Tick-to-trade by cause: the sim (--t2t) matches a request to the frame its id names
#      (run.t2t_ids), and counts nothing when ids name no frame.
#   5. A venue that refuses every myTrades: the back-fill backs off instead of asking
#      again in a loop.
#   6. A venue whose weight limit is hit: reconciliation waits as the venue says.
# After every run `tally ledger verify` must pass. About 175 s in all.
tally=$1
source "$(dirname "$0")/run_lib.sh"

# check_ledger_cpu NAME: with threads.cpu_ledger = disk, the summary's ledger_cpu is the
# CPU the log named, or -1 when the log said no single CPU takes the disk's interrupts.
check_ledger_cpu() {
	local name=$1 cpu
	cpu=$(sed -n "s/.*the disk's interrupts go to CPU \([0-9]*\).*/\1/p" "$work/$name.err" | head -1)
	if [ -z "$cpu" ]; then
		grep -q "no single CPU takes the disk's interrupts" "$work/$name.err" ||
			fail "$name: cpu_ledger=disk: no word on the ledger's CPU"
		cpu=-1
	fi
	grep -q "\"ledger_cpu\":$cpu," "$work/$name.json" ||
		fail "$name: the summary's ledger_cpu is not $cpu: $(cat "$work/$name.json")"
}

# check NAME SUMMARY LEDGER_DIR: zero drift, balances compared, verify passes.
check() {
	local name=$1 summary=$2 dir=$3
	grep -q '"balances_checked":true' "$summary" || fail "$name: the balances were not compared"
	grep -q '"drift":{"BTC":"0","USDT":"0"}' "$summary" || fail "$name: drift: $(cat "$summary")"
	grep -q '"settles_rejected":0,"settles_failed":0' "$summary" ||
		fail "$name: a fill was not settled: $(cat "$summary")"
	"$tally" ledger verify --db "$dir" >/dev/null || fail "$name: ledger verify failed"
	echo "ok: $name: $(grep -oE '"(fills|fills_ws|fills_rest|duplicates_dropped)":[0-9]+' "$summary" | tr '\n' ' ')"
}

# 0. the audit check itself fails on what it must catch: a client order id used twice,
# and a buy that takes the exposure past the limit.
mkdir -p "$work/selftest"
"$tally" ledger apply --db "$work/selftest" </dev/null >/dev/null 2>&1 || true
printf '1\tNEW\t0\tBTCUSDT\ttl-a\tBUY\t100\t200\t0\t0\n2\tCANCELED\t0\tBTCUSDT\ttl-a\tBUY\t100\t200\t0\t0\n3\tNEW\t0\tBTCUSDT\ttl-a\tBUY\t100\t100\t0\t0\n' >"$work/reuse.audit"
(check_audit reuse "$work/selftest" 300) >/dev/null 2>&1 && fail "the audit check missed a reused id"
printf '1\tNEW\t0\tBTCUSDT\ttl-a\tBUY\t100\t200\t0\t0\n2\tTRADE\t0\tBTCUSDT\ttl-a\tBUY\t100\t200\t9\t0\n3\tNEW\t0\tBTCUSDT\ttl-b\tBUY\t100\t200\t0\t0\n' >"$work/over.audit"
(check_audit over "$work/selftest" 300 2>&1) | grep -q 'position limit 300 exceeded' ||
	fail "the audit check missed an exposure past the limit"

# 1. the embedded default; its threads' names are read while it runs
"$tally" run --duration 12 --ledger-dir "$work/embedded" --json-summary "$work/embedded.json" \
	>"$work/embedded.out" 2>"$work/embedded.err" &
pid=$!
sleep 6
thread_names=$(cat /proc/$pid/task/*/comm 2>/dev/null | sort | tr '\n' ' ')
wait $pid || {
	rc=$?
	tail -20 "$work/embedded.err" >&2
	fail "embedded: exit status $rc"
}
check embedded "$work/embedded.json" "$work/embedded"
grep -q '"status":{"mid"' "$work/embedded.err" || fail "embedded: no status line"
# every other stderr line is a JSON log record, the embedded sim's too
grep -v '^{"status"' "$work/embedded.err" | grep -v '^{"ts_ms":[0-9]*,"level":"[a-z]*","prio":[0-9],"component":"[a-z]*","msg":".*"}$' |
	grep . && fail "embedded: a stderr line that is not a JSON log record"
# it quoted: orders went out and were acknowledged
grep -Eq '"orders_acked":[1-9]' "$work/embedded.json" || fail "embedded: no order acked"
# cancels left pre-signed (signed when their order was placed), and the venue took them:
# with no faults, a cancel fails only when its order has filled first
json_num() { grep -oE "\"$1\":[0-9]+" "$2" | head -1 | cut -d: -f2; }
presigned=$(json_num cancels_presigned "$work/embedded.json")
[ "${presigned:-0}" -gt 0 ] || fail "embedded: no pre-signed cancel: $(cat "$work/embedded.json")"
[ "$(json_num cancels_failed "$work/embedded.json")" -le "$(json_num fills "$work/embedded.json")" ] ||
	fail "embedded: more cancels failed than orders filled: $(cat "$work/embedded.json")"
# the main thread's account.status calls (start-up, a reconcile every 5 s) were counted by
# the user thread's rate limiter: the venue counts them against the same weight
grep -Eq '"account_calls_counted":([2-9]|[1-9][0-9]+)[,}]' "$work/embedded.json" ||
	fail "embedded: account.status calls not counted by the limiter: $(cat "$work/embedded.json")"
# the ledger committed (its commit latency is in the summary), on the CPU of the disk's
# interrupts by default (threads.cpu_ledger = disk)
grep -Eq '"ledger_commits":[1-9][0-9]*,"ledger_commit_p50_ns":[1-9][0-9]*,"ledger_commit_p99_ns":[1-9][0-9]*,"ledger_cpu":-?[0-9]+,' \
	"$work/embedded.json" || fail "embedded: no ledger commit figures: $(cat "$work/embedded.json")"
check_ledger_cpu embedded
# the default layout: fused on a box with fewer than 4 CPUs online, split on a bigger one
want=split
[ "$(getconf _NPROCESSORS_ONLN)" -lt 4 ] && want=fused
grep -q "\"layout\":\"$want\"" "$work/embedded.json" || fail "embedded: the layout is not $want"
# each thread of the engine and the ledger says what it is (top -H, ps -L, perf)
hot_threads="tally-md tally-strategy tally-user"
[ "$want" = fused ] && hot_threads=tally-fused
for t in $hot_threads tally-ledger tally-commit; do
	grep -qw -- "$t" <<<"$thread_names" || fail "embedded: no thread named $t: $thread_names"
done
# threads.warm_us (1000 by default): the three parts of the warm pass ran while it idled
grep -Eq '"warm_passes":\{"md":[1-9][0-9]*,"strategy":[1-9][0-9]*,"user":[1-9]' "$work/embedded.json" ||
	fail "embedded: no warm passes"
# the order WebSocket's masking keys were drawn in idle rounds (about 190 requests, 128 keys
# a draw), never by a request on its way out
grep -Eq '"mask_key_draws":\{"in_send":0,"idle":[1-9]' "$work/embedded.json" ||
	fail "embedded: masking keys not drawn in idle rounds: $(cat "$work/embedded.json")"

# 2. each fault in turn. The sim runs a little longer than the engine. A position limit
# of three orders a side binds often at one tick from the mid.
max_position=300
faults=(
	"--dup-events 50"
	"--reorder-events 50"
	"--delay-events-ms 150"
	"--drop-fills 50"
	"--unknown-outcome 20"
	"--rate-limit 10"
	"--garble-events 5"
	"--drop-conn-every-ms 2500"
	"--clock-skew-ms 8000"
	"--deposit-after-ms 2000 --deposit USDT=100"
)
# fault_run LAYOUT FLAGS: one run against a sim with FLAGS, threads.layout=LAYOUT.
fault_run() {
	local layout=$1 f=$2 name
	name=$(echo "$f" | cut -d' ' -f1 | sed 's/^--//')
	[ "$layout" = split ] || name="$name-$layout"
	# shellcheck disable=SC2086
	start_sim "$name" --duration 30 $f
	"$tally" run --set venue.host=127.0.0.1 --set venue.port="$port" \
		--set strategy.half_spread_ticks=1 --set strategy.max_position=$max_position \
		--set run.reconcile_every_ms=1000 --set threads.layout="$layout" \
		--set run.reconcile_window_ms=3000 --duration 8 --ledger-dir "$work/$name" \
		--json-summary "$work/$name.json" >"$work/$name.out" 2>"$work/$name.err" || {
		rc=$?
		tail -20 "$work/$name.err" >&2
		fail "$name: exit status $rc"
	}
	stop_sim
	check "$name" "$work/$name.json" "$work/$name"
	check_audit "$name" "$work/$name" "$max_position"
	# reconciliation ran every second: with every fill accounted for, it never adjusts
	case "$name" in deposit-after-ms*) ;; *)
		grep -q '"adjustments":0,' "$work/$name.json" ||
			fail "$name: reconciliation wrote an ADJUSTMENT: $(cat "$work/$name.json")" ;;
	esac
	grep -Eq '"orders_acked":[1-9]' "$work/$name.json" || fail "$name: no order acked"
	case "$name" in
	drop-fills*)
		grep -Eq '"fills_rest":[1-9]' "$work/$name.json" ||
			echo "note: $name: no fill was dropped in this run" ;;
	dup-events*)
		grep -Eq '"duplicates_dropped":[1-9]' "$work/$name.json" ||
			echo "note: $name: no fill was duplicated in this run" ;;
	rate-limit*)
		# a refusal for a rate limit trips the breaker: everything cancelled, a pause
		grep -Eq '"breaker_trips":[1-9]' "$work/$name.json" ||
			fail "$name: the circuit breaker never tripped" ;;
	deposit-after-ms*)
		# money from outside: reconciliation writes it as one ADJUSTMENT, with its cause
		grep -q '"adjustments":1,' "$work/$name.json" ||
			fail "$name: expected one ADJUSTMENT: $(cat "$work/$name.json")"
		"$tally" ledger dump --db "$work/$name" | grep -q 'ADJUSTMENT.*USDT.*100.00000000' ||
			fail "$name: no ADJUSTMENT of 100 USDT in the journal" ;;
	clock-skew-ms*)
		# the venue's clock 8 s ahead: orders get through only if the offset was measured
		grep -Eq '"orders_acked":[1-9]' "$work/$name.json" ||
			fail "$name: no order was accepted (-1021?)" ;;
	esac
}
for f in "${faults[@]}"; do
	fault_run split "$f"
done
# 3. the fused layout (md, strategy and user on one thread): the faults that put its
# in-thread hand-offs to work: a dropped connection reports every order in flight at once,
# unknown outcomes and refusals turn around through the strategy, fills come back by REST.
for f in "--drop-conn-every-ms 2500" "--unknown-outcome 20" "--drop-fills 50" "--rate-limit 10"; do
	fault_run fused "$f"
done
# 4. tick-to-trade by cause, `tally bench t2t`'s method: a sim with --t2t counts a request
# only when its id names the market-data frame that caused it (run.t2t_ids), so without
# the ids it counts nothing, and with them at most one per top the engine reacted to.
for ids in false true; do
	start_sim "t2t-$ids" --duration 30 --t2t --md-interval-ms 20
	# one of the two with the ledger thread left to the scheduler
	ledger_cpu=disk
	[ "$ids" = false ] && ledger_cpu=-1
	"$tally" run --set venue.host=127.0.0.1 --set venue.port="$port" \
		--set strategy.refresh_ticks=0 --set run.t2t_ids=$ids --duration 5 \
		--set threads.cpu_ledger=$ledger_cpu \
		--ledger-dir "$work/t2t-$ids" --json-summary "$work/t2t-$ids.json" \
		>"$work/t2t-$ids.out" 2>"$work/t2t-$ids.err" || fail "t2t-$ids: exit status $?"
	stop_sim
	check "t2t-$ids" "$work/t2t-$ids.json" "$work/t2t-$ids"
	count=$(sed -n 's/.*"t2t_count":\([0-9]*\).*/\1/p' "$work/t2t-$ids.sim" | tail -1)
	reacted=$(sed -n 's/.*"internal_count":\([0-9]*\).*/\1/p' "$work/t2t-$ids.json")
	[ -n "$count" ] && [ -n "$reacted" ] || fail "t2t-$ids: no t2t_count or internal_count"
	if [ "$ids" = false ]; then
		[ "$count" -eq 0 ] || fail "t2t-false: the sim counted $count requests that named no frame"
	else
		[ "$count" -gt 0 ] || fail "t2t-true: the sim matched no request to its frame"
		[ "$count" -le "$reacted" ] ||
			fail "t2t-true: the sim matched $count requests, the engine reacted to $reacted tops"
	fi
	if [ "$ledger_cpu" = disk ]; then
		check_ledger_cpu "t2t-$ids"
	else
		grep -q '"ledger_cpu":-1,' "$work/t2t-$ids.json" ||
			fail "t2t-$ids: cpu_ledger=-1, yet the ledger was pinned: $(cat "$work/t2t-$ids.json")"
	fi
	echo "ok: t2t-$ids: sim matched $count, engine reacted to $reacted tops"
done
# limit_run NAME SECONDS SIM_FLAGS...: one run of SECONDS against a sim with every fill
# report dropped and SIM_FLAGS, reconciling every second; its exit status is not checked
# (the drift may be expected), its ledger must verify.
limit_run() {
	local name=$1 seconds=$2
	shift 2
	start_sim "$name" --duration 40 --drop-fills 100 "$@"
	"$tally" run --set venue.host=127.0.0.1 --set venue.port="$port" \
		--set strategy.half_spread_ticks=1 --set run.reconcile_every_ms=1000 \
		--set run.reconcile_window_ms=3000 --duration "$seconds" \
		--ledger-dir "$work/$name" --json-summary "$work/$name.json" \
		>"$work/$name.out" 2>"$work/$name.err"
	stop_sim
	"$tally" ledger verify --db "$work/$name" >/dev/null || fail "$name: ledger verify failed"
}

# 5. a venue that refuses every myTrades (429, retry after 1 s), with every fill report
# dropped: the back-fill cannot get through. It must back off (1 s, 2, 4, ...), not ask
# again at once in a loop: 4 requests in 8 s here, where the rate limiter alone let 12
# through and asking on every pass of the user loop made 73488. The drift is expected
# here, and the reconciliation's ADJUSTMENTs with it.
limit_run refuse-trades 8 --refuse-trades 100
asked=$(sed -n 's/.*"event":"stopped".*"my_trades":\([0-9]*\).*/\1/p' "$work/refuse-trades.sim")
[ -n "$asked" ] || fail "refuse-trades: the sim reported no my_trades count"
grep -q 'back-fill: myTrades failed (refused, HTTP 429); again in 4000 ms' \
	"$work/refuse-trades.err" ||
	fail "refuse-trades: the back-off never reached 4 s: $(grep -c back-fill "$work/refuse-trades.err") back-fill lines"
[ "$asked" -le 8 ] || fail "refuse-trades: myTrades was asked $asked times in 8 s"
echo "ok: refuse-trades: myTrades asked $asked times in 8 s, backing off to 4 s and more"

# 6. a venue whose weight limit is hit (400 a minute, reconciliation every second): its 429
# says to wait until the minute is over, about 40 s. Reconciliation's account.status must
# wait too: 1 to 4 refusals here, where asking again every 0.5 s made 30 (a real venue bans
# an IP that goes on: 418). The drift is not checked: fills the back-fill could not read
# while the venue said wait are the next start's to recover.
limit_run weight-limit 12 --weight-per-min 400
refused=$(grep -c 'account.status refused: HTTP 429' "$work/weight-limit.err")
[ "$refused" -ge 1 ] || fail "weight-limit: the limit was never hit; nothing was tested"
[ "$refused" -le 5 ] || fail "weight-limit: account.status refused $refused times"
echo "ok: weight-limit: account.status refused $refused time(s) over the venue's wait"
echo "all e2e runs passed"
