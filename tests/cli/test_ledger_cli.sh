#!/usr/bin/env bash
# `tally ledger ...` as a user meets it: apply with acks and line-numbered errors, exit
# codes, re-applying a file (all duplicates, nothing changes), balances, dump, verify, and
# the help texts. Balances are checked to the last digit.
set -u
tally=$1
fails=0
work=$(mktemp -d /var/tmp/tally-cli.XXXXXX)
trap 'rm -rf "$work"' EXIT
out=$work/out
err=$work/err
db=$work/db

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# A library that did not load would make every check a no-op: refuse to go on.
declare -F expect >/dev/null || { echo "FAIL: lib.sh did not load" >&2; exit 1; }

has() { grep -qF -- "$1" "$2" || fail "$2 lacks: $1"; }

cat >"$work/good.jsonl" <<'JSON'
{"type":"ASSET_DEFINE","key":"a:BTC","asset":"BTC","decimals":8}
{"type":"ASSET_DEFINE","key":"a:USDT","asset":"USDT","decimals":6}
{"type":"ACCOUNT_OPEN","key":"o:mm","account":"mm"}

{"type":"DEPOSIT_CREDIT","key":"tx:1","account":"mm","asset":"USDT","amount":"100000"}
{"type":"LOCK","key":"lock:7","account":"mm","asset":"USDT","amount":"6000.5","order":7}
{"type":"TRADE_SETTLE","key":"trade:1","account":"mm","asset":"BTC","quote":"USDT","side":"BUY","price":"60000.10","qty":"0.05","fee":"0.00005","fee_asset":"BTC","order":7}
{"type":"TRADE_SETTLE","key":"trade:2","account":"mm","asset":"BTC","quote":"USDT","side":"BUY","price":"60000.10","qty":"0.05","order":7,"final":true}
JSON

expect 0 "$tally" ledger apply --db "$db" "$work/good.jsonl"
[ "$(wc -l <"$out")" -eq 7 ] || fail "apply printed $(wc -l <"$out") acks for 7 commands"
[ "$(grep -c '"status":"applied"' "$out")" -eq 7 ] || fail "not every good line applied"
has '{"line":8,"key":"trade:2","status":"applied","seq":9,"entries":3' "$out"
has '"available":"93999.990000","locked":"0.000000"' "$out"
has '7 commands acked, 0 not applied, 0 malformed' "$err"

# the same file again, from stdin: all duplicates, exit 0, balances unchanged
expect 0 "$tally" ledger apply --db "$db" - <"$work/good.jsonl"
[ "$(grep -c '"status":"duplicate"' "$out")" -eq 7 ] || fail "re-apply is not all duplicates"

expect 0 "$tally" ledger balances --db "$db" --json
has '{"account":"mm","asset":"BTC","available":"0.09995000","locked":"0.00000000","total":"0.09995000"' "$out"
has '{"account":"mm","asset":"USDT","available":"93999.990000","locked":"0.000000","total":"93999.990000"' "$out"
expect 0 "$tally" ledger balances --db "$db"
grep -Eq '^mm +USDT +93999.990000 +0.000000 +93999.990000$' "$out" || fail "balances table"

# bad lines: each reported with its number; the rest still applied; exit 1
cat >"$work/bad.jsonl" <<'JSON'
{"type":"DEPOSIT_CREDIT","key":"tx:2","account":"mm","asset":"BTC","amount":"1"}
not json at all
{"type":"DEPOSIT_CREDIT","key":"tx:3","account":"mm","asset":"BTC","amount":"1"
{"type":"DEPOSIT_CREDIT","key":"tx:4","account":"mm","asset":"BTC"}
{"type":"DEPOSIT_CREDIT","key":"tx:5","account":"mm","asset":"BTC","amount":"1e5"}
{"type":"DEPOSIT_CREDIT","key":"tx:6","account":"mm","asset":"BTC","amount":"1","colour":"red"}
{"type":"NO_SUCH","key":"tx:7"}
{"type":"DEPOSIT_CREDIT","account":"mm","asset":"BTC","amount":"1"}
{"type":"DEPOSIT_CREDIT","key":"tx:9","account":"mm","asset":"BTC","amount":"-1"}
{"type":"DEPOSIT_CREDIT","key":"tx:10","account":"mm","asset":"DOGE","amount":"1"}
{"type":"DEPOSIT_CREDIT","key":"tx:11","account":"mm","asset":"BTC","amount":"0.000000001"}
{"type":"WITHDRAW_DEBIT","key":"tx:12","account":"mm","asset":"BTC","amount":"5"}
{"type":"DEPOSIT_CREDIT","key":"tx:13","account":"mm","asset":"BTC","amount":"2"}
JSON
expect 1 "$tally" ledger apply --db "$db" "$work/bad.jsonl"
has 'line 2: not valid JSON' "$err"
has 'line 3: truncated JSON' "$err"
has 'line 4: DEPOSIT_CREDIT needs "amount"' "$err"
has 'line 5: "amount" is not a decimal' "$err"
has 'line 6: unknown field "colour"' "$err"
has '{"line":7,"key":"tx:7","status":"rejected","reason":"unknown_type","code":1}' "$out"
has '{"line":8,"key":"","status":"rejected","reason":"missing_key","code":2}' "$out"
has '{"line":9,"key":"tx:9","status":"rejected","reason":"not_positive","code":8}' "$out"
has '{"line":10,"key":"tx:10","status":"rejected","reason":"unknown_asset","code":5}' "$out"
has '{"line":11,"key":"tx:11","status":"rejected","reason":"precision","code":9}' "$out"
has '{"line":12,"key":"tx:12","status":"rejected","reason":"insufficient","code":12}' "$out"
has '{"line":13,"key":"tx:13","status":"applied"' "$out"
has '13 lines, 8 commands acked, 6 not applied, 5 malformed' "$err"
expect 0 "$tally" ledger balances --db "$db" --json
has '{"account":"mm","asset":"BTC","available":"3.09995000"' "$out"

expect 0 "$tally" ledger verify --db "$db"
has 'ok: 13 entries, 9 commands, 2 balances, 0 open orders, 0 problems' "$out"

expect 0 "$tally" ledger dump --db "$db" --csv
has 'seq,command,leg,account,asset,d_available,d_locked,order,ts_ms,key,text,hash' "$out"
has '6,TRADE_SETTLE,spend,"mm","USDT",0.000000,-3000.005000,7,' "$out"
[ "$(wc -l <"$out")" -eq 14 ] || fail "dump --csv: $(wc -l <"$out") lines for 13 entries"
expect 0 "$tally" ledger dump --db "$db" --json
[ "$(grep -c '"hash":"[0-9a-f]\{64\}"' "$out")" -eq 13 ] || fail "dump --json hashes"
expect 0 "$tally" ledger dump --db "$db"

# errors and usage
expect 1 "$tally" ledger verify --db "$work/nothing-here"
has 'no ledger here' "$err"
expect 1 "$tally" ledger apply --db "$db" "$work/missing.jsonl"
expect 2 "$tally" ledger apply "$work/good.jsonl"
expect 2 "$tally" ledger apply --db "$db" --durability sometimes "$work/good.jsonl"
expect 2 "$tally" ledger frobnicate
expect 2 "$tally" ledger balances --db "$db" --csv
for sub in apply balances dump verify; do
	expect 0 "$tally" ledger "$sub" --help
	has "Usage: tally ledger $sub" "$out"
	has "Exit status" "$out"
done
expect 0 "$tally" ledger --help
has 'verify' "$out"
expect 0 "$tally" --help
has '  ledger ' "$out"

# periodic durability still acks everything, after its sync
rm -rf "$db"
expect 0 "$tally" ledger apply --db "$db" --durability periodic --sync-ms 20 "$work/good.jsonl"
[ "$(grep -c '"status":"applied"' "$out")" -eq 7 ] || fail "periodic mode lost acks"

[ "$fails" -eq 0 ] || { echo "test_ledger_cli: $fails failures" >&2; exit 1; }
echo "test_ledger_cli: ok"
