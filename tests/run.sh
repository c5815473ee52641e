#!/bin/sh
# Runs every test binary in $BUILD/tests and every tests/cli_*.sh script.
# Each prints one line per case: "ok NAME", "not ok NAME: why" or "skip NAME: why".
# Ends with the summary line "N passed, N failed" (", N skipped" when any were).
set -u
BUILD=${BUILD:-build}
RUN_PREFIX=${RUN_PREFIX:-}
export LAIR_TESTDATA=${LAIR_TESTDATA:-../shared/testdata}
export LAIR_BIN="$BUILD/lair"
export LAIR_TMP=${LAIR_TMP:-$BUILD/testtmp}
rm -rf "$LAIR_TMP"; mkdir -p "$LAIR_TMP"
log="$LAIR_TMP/all.log"
: > "$log"
status=0
for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  echo "== $(basename "$t")"
  $RUN_PREFIX "$t" > "$LAIR_TMP/out" 2>&1; rc=$?
  cat "$LAIR_TMP/out"; cat "$LAIR_TMP/out" >> "$log"
  if [ $rc -ne 0 ] && ! grep -q '^not ok' "$LAIR_TMP/out"; then
    echo "not ok $(basename "$t"): exited with status $rc" | tee -a "$log"
  fi
done
for s in tests/cli_*.sh; do
  [ -f "$s" ] || continue
  [ -n "$RUN_PREFIX" ] && [ -n "${LAIR_TESTS_QUICK:-}" ] && continue
  echo "== $(basename "$s")"
  sh "$s" > "$LAIR_TMP/out" 2>&1; rc=$?
  cat "$LAIR_TMP/out"; cat "$LAIR_TMP/out" >> "$log"
  if [ $rc -ne 0 ] && ! grep -q '^not ok' "$LAIR_TMP/out"; then
    echo "not ok $(basename "$s"): exited with status $rc" | tee -a "$log"
  fi
done
passed=$(grep -c '^ok ' "$log")
failed=$(grep -c '^not ok ' "$log")
skipped=$(grep -c '^skip ' "$log")
echo
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
