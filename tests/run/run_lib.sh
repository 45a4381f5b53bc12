# run_lib.sh: what the `tally run` script tests share. Sourced with $tally set.
#   work            a fresh directory, removed at exit (with any sim or run still going)
#   fail MSG        prints FAIL: MSG and exits 1
#   start_sim NAME ARGS...  starts `tally sim --port 0 ARGS`, sets sim_pid and port; the
#                   sim's audit trail of every order event goes to $work/NAME.audit
#   stop_sim
#   check_audit NAME LEDGER_DIR [MAX_POSITION]   checks that trail against the ledger
# The demo key pair of the sim is exported for `tally run --set venue.host=...`.
set -u
work=$(mktemp -d /var/tmp/tally-run-test.XXXXXX)
sim_pid= run_pid= port=
cleanup() {
	[ -n "$run_pid" ] && kill -9 "$run_pid" 2>/dev/null
	[ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
export TALLY_API_KEY=tallyDemoKey0000000000000000000000000000000000000000000000000001
export TALLY_API_SECRET=tallyDemoSecret000000000000000000000000000000000000000000000001

start_sim() {
	local name=$1
	shift
	"$tally" sim --port 0 --status-every 0 --orders-per-10s 0 --audit "$work/$name.audit" "$@" \
		>"$work/$name.sim" 2>"$work/$name.simerr" &
	sim_pid=$!
	for _ in $(seq 50); do
		grep -q listening "$work/$name.sim" 2>/dev/null && break
		sleep 0.1
	done
	port=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$work/$name.sim" | head -1)
	[ -n "$port" ] || fail "$name: the sim did not start"
}

stop_sim() {
	kill "$sim_pid" 2>/dev/null
	wait "$sim_pid" 2>/dev/null
	sim_pid=
}

# check_audit NAME LEDGER_DIR [MAX_POSITION]: from the sim's own record of every order
# event (tally sim --audit): no client order id was used twice (accepted or refused), and
# the sim's trades are exactly the ledger's TRADE_SETTLE keys, each trade once. With
# MAX_POSITION (lots), the account's conservative exposure never passed it: at every
# event, position + open buys <= MAX and open sells - position <= MAX (seed 003). The
# position counts from the sim's start, so this suits one engine run per sim.
check_audit() {
	local name=$1 dir=$2 max=${3:-} audit=$work/$1.audit
	[ -s "$audit" ] || fail "$name: the sim wrote no audit trail"
	awk -F'\t' -v max="$max" -v trades="$work/$name.sim-trades" '
		function use(cid) {
			if (cid in used) { printf "client order id %s used again (%s)\n", cid, $2; bad = 1 }
			used[cid] = 1
			n_used++
		}
		$2 == "NEW" { use($5); if ($6 == "BUY") ob += $8; else os += $8 }
		$2 == "REJECTED" { use($5) }
		$2 == "TRADE" {
			if ($6 == "BUY") { pos += $8; ob -= $8 } else { pos -= $8; os -= $8 }
			if ($9 in traded) { printf "trade %s reported twice\n", $9; bad = 1 }
			traded[$9] = 1
			n_traded++
			print "trade:" $4 ":" $9 > trades
		}
		$2 == "CANCELED" || $2 == "EXPIRED" { if ($6 == "BUY") ob -= $8; else os -= $8 }
		max != "" && (pos + ob > max || os - pos > max) && !over {
			printf "position limit %d exceeded at %s %s %s: position %d, open buys %d, open sells %d\n",
				max, $1, $2, $5, pos, ob, os
			over = bad = 1
		}
		max != "" && (pos + ob == max || os - pos == max) { at_limit++ }
		END {
			close(trades)
			printf "orders %d, trades %d, final position %d, events at the limit %d\n",
				n_used, n_traded, pos, at_limit
			exit bad
		}' "$audit" >"$work/$name.audit-check" || fail "$name: audit: $(cat "$work/$name.audit-check")"
	touch "$work/$name.sim-trades"
	"$tally" ledger dump --db "$dir" --csv | awk -F',' '$2 == "TRADE_SETTLE" { gsub(/"/, "", $10); print $10 }' |
		sort -u >"$work/$name.ledger-trades"
	sort "$work/$name.sim-trades" | cmp -s - "$work/$name.ledger-trades" || fail "$name: the sim's trades and the ledger's differ: $(sort "$work/$name.sim-trades" | diff - "$work/$name.ledger-trades" | head -5)"
	echo "ok: $name: audit: $(cat "$work/$name.audit-check")"
}
