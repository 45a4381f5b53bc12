# tests/cli/lib.sh: what the command-line tests share. Sourced, not run.
# The sourcing script sets $out and $err (files) and fails=0 before calling these.

fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

# expect CODE CMD...: runs CMD, stdout to $out and stderr to $err; checks the exit code.
expect() {
	local want=$1
	shift
	"$@" >"$out" 2>"$err"
	local got=$?
	[ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want: $(head -3 "$err")"
}
