# run_lib.sh: what the `tally run` script tests share. Sourced with $tally set.
#   work            a fresh directory, removed at exit (with any sim or run still going)
#   fail MSG        prints FAIL: MSG and exits 1
#   start_sim NAME ARGS...  starts `tally sim --port 0 ARGS`, sets sim_pid and port
#   stop_sim
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
	"$tally" sim --port 0 --status-every 0 --orders-per-10s 0 "$@" \
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
