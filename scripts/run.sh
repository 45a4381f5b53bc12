#!/usr/bin/env bash
# The README's "run" command: install what is missing, build, and run the main job on its
# embedded default: `tally run` starts `tally sim` on loopback and quotes BTCUSDT on the
# sim's demo account until Ctrl-C (then it cancels everything, checks the ledger against
# the venue and prints a summary). Arguments are passed to `tally run`.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

install_missing "${TALLY_BUILD_PKGS[@]}"
build_preset release
exec "$TALLY_ROOT/build/bin/tally" run "$@"
