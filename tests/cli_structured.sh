#!/bin/sh
# Structured output and tool calls through lair serve (tests/structured_test.py):
# 200 schema-constrained requests over the golden models, forced tool calls in
# every template family, fail-closed refusals.  The validator is Debian's
# python3-jsonschema, independent of lair's schema compiler.
. tests/clilib.sh
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
if ! have_testdata structured; then exit 0; fi
if ! $PY -c 'import jsonschema' 2>/dev/null; then
  if [ -n "${LAIR_REQUIRE_TESTDATA:-}" ]; then fail structured "jsonschema is not importable by $PY (apt-get install python3-jsonschema)"
  else skip structured "python3-jsonschema is not installed"; fi
  exit 0
fi
$PY tests/structured_test.py "$LAIR" "$TD" "$T"
