#!/usr/bin/env bash
# tally replay as a user runs it: the real BTCUSDT captures with --emit top, the summary,
# the cryptofeed capture, a symbol filter, a stream with no snapshot, and usage errors.
# $1: the tally binary. The captures are in ../shared/data beside the checkout.
set -u
tally=$1
fails=0
work=$(mktemp -d /tmp/tally-replay-cli.XXXXXX)
trap 'rm -rf "$work"' EXIT
out=$work/out
err=$work/err
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# A library that did not load would make every check a no-op: refuse to go on.
declare -F expect >/dev/null || { echo "FAIL: lib.sh did not load" >&2; exit 1; }
data=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/shared/data
if [ ! -d "$data/binance-spot" ]; then
	echo "skipped: no recorded data at $data" >&2
	exit 77
fi
spot=("$data/binance-spot/btcusdt_20240808.gz" "$data/binance-spot/btcusdt_20240809.gz")

expect 0 "$tally" replay --emit top "${spot[@]}"
lines=$(wc -l <"$out")
[ "$lines" -gt 6000 ] || fail "--emit top printed only $lines lines"
bad=$(grep -cvE '^\{"u":[0-9]+,"bid":"[0-9]+\.[0-9]{8}","bid_qty":"[0-9]+\.[0-9]{8}","ask":"[0-9]+\.[0-9]{8}","ask_qty":"[0-9]+\.[0-9]{8}"\}$' "$out" || true)
[ "$bad" -eq 0 ] || fail "$bad --emit top lines are not in the documented form: $(grep -vE '^\{"u"' "$out" | head -2)"
# Update ids only move forward.
sort -c -t: -k2,2n <(sed -E 's/^\{"u":([0-9]+),.*/x:\1/' "$out") 2>/dev/null ||
	fail "--emit top update ids are not increasing"
grep -q 'BTCUSDT: live; 6495 depth events' "$err" || fail "summary lacks the live state: $(cat "$err")"
grep -q ' 0 gaps, 0 resyncs' "$err" || fail "summary reports gaps: $(cat "$err")"
grep -q 'MB/s' "$err" || fail "summary lacks MB/s"

# The four cryptofeed symbols, merged from the ws and http files; then one of them.
expect 0 "$tally" replay "$data/cryptofeed/BINANCE.ws.1.0" "$data/cryptofeed/BINANCE.http.0.0"
for s in NKNUSDT BLZETH LRCBTC RUNEEUR; do
	grep -q "$s: live" "$err" || fail "cryptofeed $s did not sync: $(cat "$err")"
done
expect 0 "$tally" replay --symbol nknusdt "$data/cryptofeed/BINANCE.ws.1.0" "$data/cryptofeed/BINANCE.http.0.0"
grep -q "NKNUSDT: live" "$err" || fail "--symbol lost its symbol"
grep -q "BLZETH" "$err" && fail "--symbol did not filter"

# No snapshot at all: it stays syncing and says so.
nosnap=$work/bad.capture
expect 0 "$tally" replay "$data/cryptofeed/BINANCE.ws.1.0"
grep -q "still syncing" "$err" || fail "a stream with no snapshot does not say it is still syncing"

# Bad lines are counted and skipped, not fatal.
{ echo "garbage"; zcat "${spot[0]}" | head -50; echo "123 {not json"; } >"$nosnap"
expect 0 "$tally" replay "$nosnap"
grep -q "1 bad messages, 1 bad lines" "$err" || fail "bad input not counted: $(tail -1 "$err")"

expect 1 "$tally" replay /nonexistent/capture.gz
grep -q "No such file" "$err" || fail "a missing file is not named"
expect 2 "$tally" replay
expect 2 "$tally" replay --emit bottom "${spot[0]}"
expect 2 "$tally" replay --px-decimals 19 "${spot[0]}"
expect 0 "$tally" replay --help
grep -q '^Usage: tally replay' "$out" || fail "replay --help has no usage"
expect 0 "$tally" --help
grep -q '^  replay ' "$out" || fail "tally --help does not list replay"
[ "$fails" -eq 0 ] || { echo "test_replay_cli: $fails failures" >&2; exit 1; }
echo "test_replay_cli: ok"
