#!/usr/bin/env bash
# The README's "test" command, and what CI runs: install what is missing, then build and
# run every test in the release build, all suites under ASan+UBSan, the concurrent
# suites under TSan, the libFuzzer targets (clang) for a bounded time each, and the
# profile-guided build (scripts/pgo.sh) with the suites that run the whole binary. Warnings
# are errors here. Exit status: 0 only if every suite passed.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

install_missing "${TALLY_BUILD_PKGS[@]}" "${TALLY_TEST_PKGS[@]}"

cd "$TALLY_ROOT"
# TSan's runtime cannot map its shadow memory with high-entropy ASLR (kernels >= 6.6
# default to 32 bits); run the TSan suites with ASLR off for their process only.
tsan_run() { setarch "$(uname -m)" -R "$@"; }

status=0 passed=0 failed=0
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
# count_suite: adds the CTest run that wrote $summary (exit status $1) to the totals.
count_suite() {
	local line total fail
	[ "$1" -eq 0 ] || status=1
	# CTest's closing line: "N% tests passed, F tests failed out of T".
	line=$(grep -E 'tests failed out of [0-9]+' "$summary" | tail -n 1)
	if [ -z "$line" ]; then
		status=1
		return
	fi
	total=${line##* out of }
	fail=$(sed -E 's/.* ([0-9]+) tests failed.*/\1/' <<<"$line")
	passed=$((passed + total - fail))
	failed=$((failed + fail))
}
for preset in release asan tsan fuzz; do
	build_preset "$preset" -DTALLY_WERROR=ON
	log "testing $preset"
	rc=0
	case "$preset" in
	tsan) tsan_run ctest --preset "$preset" | tee "$summary" || rc=1 ;;
	*) ctest --preset "$preset" | tee "$summary" || rc=1 ;;
	esac
	count_suite $rc
done
# The profile-guided build the README's run command runs (scripts/pgo.sh). Its training
# run must end clean (the ledger equal to the venue), and the suites that run the whole
# binary must pass on it: the CLI (with a short tick-to-trade bench), the md feed on the
# recorded data, the io conns and the strategy.
source "$TALLY_ROOT/scripts/pgo.sh"
rc=0
if pgo_build -DTALLY_WERROR=ON; then
	log "testing pgo"
	ctest --preset pgo -R '^(test_cli|test_md_feed|test_io_conn|test_run_strategy)$' |
		tee "$summary" || rc=1
	count_suite $rc
else
	status=1
fi
# One plain closing line over the builds.
echo "tests: $passed passed, $failed failed"
if [ $status -ne 0 ]; then
	log "FAILED: see the failing suites above"
	exit 1
fi
log "all suites passed (release, asan+ubsan, tsan, fuzz, pgo)"
