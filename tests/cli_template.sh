#!/bin/sh
# lair template as a user runs it, and differentially against Python's jinja2
# (tests/template_oracle.py): every real chat template in $TD/templates x every
# conversation in tests/data/conversations x add_generation_prompt off/on must
# render byte-identically, and where jinja2 raises, lair must fail too (with
# the same raise_exception message).  One line per template.
. tests/clilib.sh
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3   # Debian's python3-jinja2
CONV=tests/data/conversations
US=$(printf '\037')

# --- the command itself (no test data needed)
"$LAIR" template --help | grep -q 'usage: lair template' && ok template_help || fail template_help "no usage line"
printf '%s' '{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}{% if add_generation_prompt %}>{% endif %}{{ bos_token }}{{ eos_token }}{{ tools|length if tools is defined }}' >"$T/t.jinja"
printf '%s' '[{"role": "user", "content": "東京"}]' >"$T/m.json"
out=$("$LAIR" template --template-file "$T/t.jinja" --messages "$T/m.json" --add-generation-prompt --bos-token '<s>' --eos-token '</s>')
[ "$out" = "[user:東京]><s></s>" ] && ok template_file || fail template_file "got '$out'"
printf '%s' '{"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}, {"type": "function"}]}' >"$T/mo.json"
out=$("$LAIR" template --template-file "$T/t.jinja" --messages "$T/mo.json")
[ "$out" = "[user:x]2" ] && ok template_messages_object || fail template_messages_object "got '$out'"
printf 'a\n' >"$T/nl.jinja"
"$LAIR" template --template-file "$T/nl.jinja" --messages "$T/m.json" >"$T/nl.out" && [ "$(od -An -c "$T/nl.out" | tr -d ' ')" = "a" ] &&
  ok template_no_added_newline || fail template_no_added_newline "output: $(od -An -c "$T/nl.out")"
printf '%s' '{{ raise_exception("no system role, please") }}' >"$T/r.jinja"
expect_fail template_raise "^lair: template raised: no system role, please$" "$LAIR" template --template-file "$T/r.jinja" --messages "$T/m.json"
printf '%s\n%s' 'line one' '{{ x | nope }}' >"$T/u.jinja"
expect_fail template_unknown_filter "template: line 2: unknown filter 'nope'" "$LAIR" template --template-file "$T/u.jinja" --messages "$T/m.json"
printf '%s' '{% include "other.jinja" %}' >"$T/i.jinja"
expect_fail template_no_include "not supported" "$LAIR" template --template-file "$T/i.jinja" --messages "$T/m.json"
printf '%s' '{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}' >"$T/d.jinja"
expect_fail template_recursion_limit "recursion too deep" "$LAIR" template --template-file "$T/d.jinja" --messages "$T/m.json"
expect_fail template_needs_messages "--messages" "$LAIR" template --template-file "$T/t.jinja"
expect_fail template_needs_source "exactly one of" "$LAIR" template --messages "$T/m.json"
printf '[{"role": ' >"$T/bad.json"
expect_fail template_bad_json "invalid JSON" "$LAIR" template --template-file "$T/t.jinja" --messages "$T/bad.json"
expect_fail template_missing_file "cannot read" "$LAIR" template --template-file "$T/none.jinja" --messages "$T/m.json"

# --- differential tests against jinja2
first_diff() { # first_diff EXPECTED GOT: where the two files first differ, with a little context
  at=$(cmp "$1" "$2" 2>/dev/null | sed -n 's/.* byte \([0-9]*\).*/\1/p')
  [ -z "$at" ] && at=$(($(wc -c <"$1") + 1))
  from=$((at > 30 ? at - 30 : 1))
  printf 'first difference at byte %s: expected %s ... got %s' "$at" \
    "$(tail -c +"$from" "$1" | head -c 70 | od -An -c | tr -s ' \n' ' ')" \
    "$(tail -c +"$from" "$2" | head -c 70 | od -An -c | tr -s ' \n' ' ')"
}

oracle_ready=""
if [ ! -d "$TD/templates" ]; then
  if [ -n "${LAIR_REQUIRE_TESTDATA:-}" ]; then fail template_oracle "test data missing: $TD/templates"
  else skip template_oracle "no test data at $TD/templates"; fi
elif ! "$PY" -c 'import jinja2' 2>/dev/null; then
  if [ -n "${LAIR_REQUIRE_TESTDATA:-}" ]; then fail template_oracle "jinja2 is not importable by $PY (apt-get install python3-jinja2)"
  else skip template_oracle "jinja2 is not importable by $PY"; fi
else
  set --
  for f in "$TD"/templates/*.jinja; do set -- "$@" --template "$f"; done
  # -m: a model with a chat template (phi-3 vocabulary), one without (ChatML fallback), a synthetic model
  [ -f "$TD/vocab/ggml-vocab-phi-3.gguf" ] && set -- "$@" --model "$TD/vocab/ggml-vocab-phi-3.gguf"
  [ -f "$TD/vocab/ggml-vocab-llama-spm.gguf" ] && set -- "$@" --model "$TD/vocab/ggml-vocab-llama-spm.gguf"
  "$LAIR" gen -o "$T/synth-qwen2.gguf" --arch qwen2 --type q8_0 >/dev/null 2>&1 && set -- "$@" --model "$T/synth-qwen2.gguf"
  if "$PY" tests/template_oracle.py "$T/oracle" "$CONV" "$@" >"$T/oracle.log" 2>&1; then
    oracle_ready=1
  else
    fail template_oracle "tests/template_oracle.py failed: $(tail -c 400 "$T/oracle.log")"
  fi
fi

if [ -n "$oracle_ready" ]; then
  group="" n=0 raised=0 why=""
  report() {
    [ -z "$group" ] && return
    if [ -z "$why" ]; then ok "template_$group ($n renders, $raised raise in jinja2 and lair)"; else fail "template_$group" "$why"; fi
  }
  while IFS="$US" read -r g case kind path msgs tools agp bos eos; do
    if [ "$g" != "$group" ]; then
      report
      group=$g n=0 raised=0 why=""
    fi
    [ -n "$why" ] && continue
    set -- template --messages "$msgs"
    if [ "$kind" = model ]; then set -- "$@" -m "$path"; else set -- "$@" --template-file "$path"; fi
    [ "$tools" != "-" ] && set -- "$@" --tools "$tools"
    [ "$agp" = 1 ] && set -- "$@" --add-generation-prompt
    [ "$bos" != "-" ] && set -- "$@" --bos-token "${bos#=}"
    [ "$eos" != "-" ] && set -- "$@" --eos-token "${eos#=}"
    "$LAIR" "$@" >"$T/got" 2>"$T/err"; rc=$?
    n=$((n + 1))
    exp="$T/oracle/$case"
    if [ -f "$exp.err" ]; then
      if [ $rc -ne 1 ]; then
        why="$case: jinja2 raised ($(head -c 200 "$exp.err" | tr '\t' ' ')) but lair exited $rc"
      elif grep -q '^raise' "$exp.err" && ! grep -qF "template raised: $(cut -f2- "$exp.err" | head -n 1)" "$T/err"; then
        why="$case: raise_exception message differs: jinja2 '$(cut -f2- "$exp.err" | head -c 200)', lair '$(head -c 200 "$T/err")'"
      else
        raised=$((raised + 1))
      fi
    elif [ $rc -ne 0 ]; then
      why="$case: lair failed: $(head -c 300 "$T/err")"
    elif ! cmp -s "$exp.out" "$T/got"; then
      why="$case: $(first_diff "$exp.out" "$T/got")"
    fi
  done <"$T/oracle/cases.txt"
  report
fi
