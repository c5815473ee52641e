#!/bin/sh
# lair serve end to end: real servers on real sockets, real clients (curl and
# Python's standard library).  The cases are in tests/serve_test.py.
. tests/clilib.sh

if have_testdata serve; then
  if ! command -v curl >/dev/null 2>&1; then
    skip serve "curl is not installed"
  else
    python3 tests/serve_test.py "$LAIR" "$TD/golden/tiny-llama-Q8_0.gguf" "$T"
  fi
fi
