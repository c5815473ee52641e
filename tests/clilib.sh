# Helpers for the CLI test scripts (sourced).  Each case prints one line:
# "ok NAME", "not ok NAME: why" or "skip NAME: why".
LAIR=${LAIR_BIN:-build/lair}
TD=${LAIR_TESTDATA:-../shared/testdata}
T=${LAIR_TMP:-/tmp}/cli.$$
mkdir -p "$T"
trap 'rm -rf "$T"' EXIT

ok() { echo "ok $1"; }
fail() { echo "not ok $1: $2"; }
skip() { echo "skip $1: $2"; }
have_testdata() {
  [ -d "$TD/golden" ] && return 0
  if [ -n "${LAIR_REQUIRE_TESTDATA:-}" ]; then fail "$1" "test data missing: $TD"; else skip "$1" "no test data at $TD"; fi
  return 1
}
# expect_fail NAME PATTERN CMD...: the command exits 1 and its stderr matches PATTERN
expect_fail() {
  name=$1 pat=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"; rc=$?
  if [ $rc -ne 1 ]; then fail "$name" "exit status $rc, expected 1"; return; fi
  if grep -q -- "$pat" "$T/err"; then ok "$name"; else fail "$name" "stderr lacks '$pat': $(head -c 300 "$T/err")"; fi
}
