#!/usr/bin/env bash
# The README's "run" command: install what is missing, build, run the main job.
# Until the engine lands, the main job is the ring benchmark.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

install_missing "${TALLY_BUILD_PKGS[@]}"
build_preset release
exec "$TALLY_ROOT/build/bin/tally" bench ring "$@"
