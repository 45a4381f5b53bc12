#!/usr/bin/env bash
# The README's "run" command: install what is missing, build, and run the main job on its
# embedded default: `tally run` starts `tally sim` on loopback and quotes BTCUSDT on the
# sim's demo account until Ctrl-C (then it cancels everything, checks the ledger against
# the venue and prints a summary). Arguments are passed to `tally run`.
#
# The binary is the profile-guided build (scripts/pgo.sh: about a minute and a half the
# first time, for two builds and a 20 s training run; nothing after, until the sources
# change). Should that fail, the plain release build runs instead, and says so.
source "$(dirname "${BASH_SOURCE[0]}")/pgo.sh"

install_missing "${TALLY_BUILD_PKGS[@]}"
if pgo_build; then
	exec "$TALLY_ROOT/build-pgo/bin/tally" run "$@"
fi
log "pgo: the profile-guided build failed (above); running the release build instead"
build_preset release
exec "$TALLY_ROOT/build/bin/tally" run "$@"
