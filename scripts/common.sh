# scripts/common.sh: shared by run.sh and test.sh. Sourced, not run.
# Installs the Debian packages that are missing (and only those), then builds a preset.
set -euo pipefail

TALLY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Packages needed to build and run tally on Debian 12.
TALLY_BUILD_PKGS=(build-essential cmake ninja-build pkg-config
	liburing-dev libck-dev libwebsockets-dev libwolfssl-dev liblmdb-dev libjsmn-dev zlib1g-dev
	libinih-dev nettle-dev)

# And to run every test: the independent interop peers (node's `ws`, libwebsockets is
# above), the certificates they present, and clang with libFuzzer for the fuzz targets.
TALLY_TEST_PKGS=(nodejs node-ws openssl clang libclang-rt-14-dev)

log() { printf 'tally: %s\n' "$*" >&2; }

# install_missing PKG...: apt-get installs whichever of PKG are not installed yet.
install_missing() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		log "missing Debian packages: ${missing[*]}; run as root, or: sudo apt-get install -y ${missing[*]}"
		exit 1
	fi
	log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# build_preset NAME [extra cmake -D args...]: configures once, then builds incrementally:
# every target, or only $TALLY_BUILD_TARGET when that is set.
build_preset() {
	local preset=$1
	shift
	local dir
	case "$preset" in
	release) dir=build ;;
	*) dir=build-$preset ;;
	esac
	cd "$TALLY_ROOT"
	if [ ! -f "$dir/build.ninja" ]; then
		log "configuring $preset"
		cmake --preset "$preset" "$@" >/dev/null
	elif [ $# -gt 0 ]; then
		cmake "$dir" "$@" >/dev/null
	fi
	log "building $preset"
	# One job per core; the machine has two, so no more.
	cmake --build "$dir" -j "$(nproc)" ${TALLY_BUILD_TARGET:+--target "$TALLY_BUILD_TARGET"}
}
