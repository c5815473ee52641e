#!/bin/sh
# lair grammar: parse a GBNF file, --check texts against it (ok / rejected at
# byte N, exit 1 when any is rejected), --bench the token masks on a real
# vocabulary, and clear errors for bad grammars.
. tests/clilib.sh

cat >"$T/json.gbnf" <<'EOF'
# JSON, as users paste it
root   ::= ws value ws
value  ::= object | array | string | number | ("true" | "false" | "null")
object ::= "{" ws ( string ws ":" ws value ( ws "," ws string ws ":" ws value )* )? ws "}"
array  ::= "[" ws ( value ( ws "," ws value )* )? ws "]"
string ::= "\"" ( [^"\\\x00-\x1f] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} ) )* "\""
number ::= "-"? ( "0" | [1-9] [0-9]* ) ( "." [0-9]+ )? ( [eE] [-+]? [0-9]+ )?
ws     ::= [ \t\n\r]*
EOF
printf '{"名前": "山田", "tags": ["😀", 1.5e3, null]}\n' >"$T/good.json"
printf '{"a": [1, 2}' >"$T/bad.json"
printf '{"a": ' >"$T/short.json"

out=$("$LAIR" grammar --gbnf "$T/json.gbnf" 2>&1)
case "$out" in "ok: "*"parsed in"*) ok grammar_parse ;; *) fail grammar_parse "$out" ;; esac

out=$("$LAIR" grammar --gbnf "$T/json.gbnf" --check "$T/good.json" 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$out" = "$T/good.json: ok" ] && ok grammar_check_ok || fail grammar_check_ok "rc $rc: $out"

"$LAIR" grammar --gbnf "$T/json.gbnf" --check "$T/good.json" "$T/bad.json" "$T/short.json" >"$T/o" 2>&1; rc=$?
if [ $rc -eq 1 ] && grep -q "good.json: ok" "$T/o" && grep -q "bad.json: rejected at byte 11$" "$T/o" &&
   grep -q "short.json: rejected at byte 6 (incomplete)" "$T/o"; then ok grammar_check_rejected
else fail grammar_check_rejected "rc $rc: $(head -c 300 "$T/o")"; fi

printf 'root ::= "a"\nx ::= "b" missing\n' >"$T/undef.gbnf"
expect_fail grammar_undefined_rule "line 2, rule 'x': rule 'missing' is referenced but not defined" \
  "$LAIR" grammar --gbnf "$T/undef.gbnf"
printf 'root ::= list\nlist ::= list "," item | item\nitem ::= "x"\n' >"$T/left.gbnf"
expect_fail grammar_left_recursion "rule 'list' is left-recursive" "$LAIR" grammar --gbnf "$T/left.gbnf"
expect_fail grammar_missing_file "cannot read" "$LAIR" grammar --gbnf "$T/nope.gbnf"
printf '{"type": "object",' >"$T/broken.schema.json"
expect_fail grammar_schema_not_json "not valid JSON: line 1" "$LAIR" grammar --schema "$T/broken.schema.json"
expect_fail grammar_one_source "exactly one of --gbnf FILE and --schema FILE" \
  "$LAIR" grammar --gbnf "$T/json.gbnf" --schema "$T/broken.schema.json"
expect_fail grammar_check_needs_files "needs at least one" "$LAIR" grammar --gbnf "$T/json.gbnf" --check

if have_testdata grammar_bench; then
  "$LAIR" grammar --gbnf "$T/json.gbnf" -m "$TD/vocab/ggml-vocab-llama-spm.gguf" --bench --text "$T/good.json" \
    --runs 2 >"$T/b" 2>&1; rc=$?
  if [ $rc -eq 0 ] && grep -q "32000 tokens" "$T/b" && grep -q "first visit .* median .* p99 .* max" "$T/b" &&
     grep -q "cached .* median" "$T/b"; then ok grammar_bench
  else fail grammar_bench "rc $rc: $(head -c 400 "$T/b")"; fi
  expect_fail grammar_bench_rejects_text "is not allowed by the grammar" \
    "$LAIR" grammar --gbnf "$T/json.gbnf" -m "$TD/vocab/ggml-vocab-llama-spm.gguf" --bench --text "$T/bad.json"
fi
