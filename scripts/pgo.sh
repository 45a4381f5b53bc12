#!/usr/bin/env bash
# scripts/pgo.sh [cmake -D args...]: builds build-pgo/bin/tally, the release build
# optimised from a profile of its own run (GCC's -fprofile-generate, then -fprofile-use):
#   1. build with counters (TALLY_PGO=GENERATE);
#   2. train: `tally run --duration $TALLY_PGO_TRAIN_S` (20 by default) on its embedded
#      default, the sim on loopback, into a throwaway ledger; it must exit 0, which it
#      does only with the ledger equal to the venue;
#   3. rebuild from the counts (TALLY_PGO=USE).
# A profile is kept, with a hash of the sources it was taken from, and reused while they
# are unchanged; any change to them retrains. Sourced by run.sh and test.sh, or run alone.
# Exit status: 0 when build-pgo/bin/tally is built from a current profile, else 1.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# The hash of every file the tally binary is built from.
pgo_sources_hash() {
	(cd "$TALLY_ROOT" &&
		find CMakeLists.txt CMakePresets.json cmake rings io ledger engine sim bench -type f \
			\( -name '*.c' -o -name '*.h' -o -name 'CMakeLists.txt' -o -name '*.cmake' \
			-o -name '*.json' \) -print0 | sort -z | xargs -0 sha256sum | sha256sum |
		cut -d' ' -f1)
}

# pgo_build [cmake -D args...]: the three steps, or only an up-to-date check of the build
# when the profile is current. Every step is checked here, as a caller may run this
# where `set -e` does not apply (in an `if`).
pgo_build() {
	local dir="$TALLY_ROOT/build-pgo" profile="$TALLY_ROOT/build-pgo/pgo-profile"
	local train_s=${TALLY_PGO_TRAIN_S:-20} hash ledger rc=0
	hash=$(pgo_sources_hash) || return 1
	if [ -x "$dir/bin/tally" ] && [ "$(cat "$profile/sources.sha256" 2>/dev/null)" = "$hash" ]; then
		log "pgo: the profile is current"
		build_preset pgo -DTALLY_PGO=USE -DTALLY_PGO_DIR="$profile" "$@" || return 1
		return 0
	fi
	rm -rf "$profile" && mkdir -p "$profile" || return 1
	log "pgo: 1/3 building with counters"
	# Only the binary the training runs: the tests would be built twice for nothing.
	TALLY_BUILD_TARGET=tally build_preset pgo -DTALLY_PGO=GENERATE -DTALLY_PGO_DIR="$profile" \
		"$@" || return 1
	ledger=$(mktemp -d "${TMPDIR:-/tmp}/tally-pgo.XXXXXX") || return 1
	log "pgo: 2/3 training: tally run --duration $train_s on the sim (log: $profile/train.log)"
	"$dir/bin/tally" run --duration "$train_s" --ledger-dir "$ledger" >"$profile/train.log" 2>&1 ||
		rc=$?
	rm -rf "$ledger"
	if [ $rc -ne 0 ]; then
		log "pgo: the training run failed (exit $rc); the end of its log:"
		tail -n 20 "$profile/train.log" >&2
		return 1
	fi
	log "pgo: 3/3 building from the profile"
	build_preset pgo -DTALLY_PGO=USE -DTALLY_PGO_DIR="$profile" "$@" || return 1
	echo "$hash" >"$profile/sources.sha256" || return 1
	log "pgo: built $dir/bin/tally"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	install_missing "${TALLY_BUILD_PKGS[@]}"
	pgo_build "$@" || exit 1
fi
