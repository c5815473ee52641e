#!/bin/sh
# The subcommands as a user runs them: lair help / inspect / gen / quantize.
. tests/clilib.sh

# --- help and version
"$LAIR" --version | grep -q '^lair [0-9]' && ok version || fail version "no version line"
"$LAIR" help | grep -q 'quantize' && ok help_lists_commands || fail help_lists_commands "quantize missing"
for c in inspect gen quantize; do
  "$LAIR" $c --help | grep -q "usage: lair $c" && ok "help_$c" || fail "help_$c" "no usage line"
done
expect_fail unknown_command "unknown command" "$LAIR" frobnicate
expect_fail unknown_option "unknown option '--bogus'" "$LAIR" inspect --bogus x.gguf

# --- inspect: every test file, text and JSON
if have_testdata inspect_all_testdata; then
  bad=""
  for f in "$TD"/golden/*.gguf "$TD"/vocab/*.gguf; do
    "$LAIR" inspect "$f" >"$T/i.txt" 2>"$T/err" || bad="$bad $(basename "$f")"
    grep -q '^parameters: ' "$T/i.txt" || bad="$bad $(basename "$f")(no-params)"
  done
  [ -z "$bad" ] && ok inspect_all_testdata || fail inspect_all_testdata "failed:$bad"

  f="$TD/golden/tiny-moe-Q4_K_M.gguf"
  "$LAIR" inspect --json "$f" >"$T/i.json"
  python3 - "$T/i.json" "$f" <<'PY' && ok inspect_json || fail inspect_json "JSON does not match the independent reader"
import json, subprocess, sys
d = json.load(open(sys.argv[1]))
types = subprocess.run([sys.executable, "tests/gguf_check.py", "--types", sys.argv[2]], capture_output=True, text=True).stdout.split("\n")
ours = sorted("%s %s %s" % (t["name"], t["type"], "x".join(map(str, t["shape"]))) for t in d["tensors"])
assert ours == [l for l in types if l], (ours[:3], types[:3])
assert d["parameters"] == sum(eval("*".join(map(str, t["shape"]))) for t in d["tensors"])
keys = {m["key"]: m for m in d["metadata"]}
assert keys["llama.expert_count"]["value"] == 4
assert keys["tokenizer.ggml.tokens"]["count"] == 512 and keys["tokenizer.ggml.tokens"]["truncated"]
assert d["totals"]["q4_K"]["tensors"] > 0
PY
fi
printf 'not a model' >"$T/bad.gguf"
expect_fail inspect_rejects_non_gguf "not a GGUF file" "$LAIR" inspect "$T/bad.gguf"
expect_fail inspect_missing_file "cannot open" "$LAIR" inspect "$T/none.gguf"

# --- gen: every architecture, MoE, a real preset with 896-wide rows
for a in llama qwen2 phi3 gemma2; do
  if "$LAIR" gen -o "$T/g-$a.gguf" --arch $a --type q4_k_m --seed 7 2>"$T/err" &&
     python3 tests/gguf_check.py "$T/g-$a.gguf" >/dev/null && "$LAIR" inspect "$T/g-$a.gguf" >/dev/null; then
    ok "gen_tiny_$a"
  else fail "gen_tiny_$a" "$(cat "$T/err")"; fi
done
"$LAIR" gen -o "$T/g-moe.gguf" --experts 4 --type q8_0 2>/dev/null &&
  python3 tests/gguf_check.py --types "$T/g-moe.gguf" | grep -q 'blk.1.ffn_down_exps.weight q8_0 768x256x4' &&
  ok gen_moe || fail gen_moe "no 3-D expert tensors"
"$LAIR" gen -o "$T/g-a.gguf" --seed 3 --type f16 2>/dev/null && "$LAIR" gen -o "$T/g-b.gguf" --seed 3 --type f16 2>/dev/null &&
  cmp -s "$T/g-a.gguf" "$T/g-b.gguf" && ok gen_deterministic || fail gen_deterministic "same seed, different files"
if "$LAIR" gen -o "$T/qwen.gguf" --preset qwen2.5-0.5b --type q4_k_m 2>"$T/err"; then
  python3 tests/gguf_check.py --types "$T/qwen.gguf" >"$T/types"
  # 896 is no multiple of 256: those rows fall back to q5_0; output is tied (token_embd gets q6_K's fallback q8_0)
  if grep -q 'blk.0.attn_q.weight q5_0 896x896' "$T/types" && grep -q 'token_embd.weight q8_0 896x151936' "$T/types" &&
     grep -q 'blk.0.ffn_down.weight q6_K 4864x896' "$T/types" && [ "$(grep -c . "$T/types")" -eq 290 ]; then
    ok gen_qwen25_05b_shapes
  else fail gen_qwen25_05b_shapes "unexpected tensor list: $(head -3 "$T/types")"; fi
else fail gen_qwen25_05b_shapes "$(cat "$T/err")"; fi
rm -f "$T/qwen.gguf"
"$LAIR" gen --list | grep -q 'mixtral-8x7b' && ok gen_list || fail gen_list "presets missing"
expect_fail gen_unknown_preset "unknown preset 'llama-9000'" "$LAIR" gen -o "$T/x.gguf" --preset llama-9000
expect_fail gen_unknown_type "unknown type 'q9_9'" "$LAIR" gen -o "$T/x.gguf" --type q9_9
expect_fail gen_arch_conflict "only combines with --preset tiny" "$LAIR" gen -o "$T/x.gguf" --preset gemma-2-2b --arch qwen2
expect_fail gen_needs_output "missing -o" "$LAIR" gen

# --- quantize: the per-tensor formats match what llama.cpp chose for the golden files
if have_testdata quantize_matches_golden_recipes; then
  bad=""
  for pair in tiny-llama-F32:Q2_K tiny-llama-F32:Q3_K_M tiny-llama-F32:Q4_0 tiny-llama-F32:Q4_1 tiny-llama-F32:Q4_K_M \
              tiny-llama-F32:Q5_0 tiny-llama-F32:Q5_1 tiny-llama-F32:Q5_K_M tiny-llama-F32:Q6_K tiny-llama-F32:Q8_0 \
              tiny-llama-F32:IQ4_NL tiny-llama-F32:IQ4_XS tiny-llama-F32:F16 tiny-llama-F32:BF16 \
              tiny-llama-tied-F32:Q4_0 tiny-llama3-F32:Q4_K_M tiny-llama3-F32:Q8_0 tiny-qwen2-F32:Q8_0 \
              tiny-qwen2-F32:Q4_K_M tiny-phi3-F32:Q4_0 tiny-phi3-F32:Q6_K tiny-gemma2-F16:Q8_0 tiny-moe-F16:Q8_0 \
              tiny-moe-F16:Q4_K_M; do
    src=${pair%%:*} t=${pair##*:} fam=${src%-*}
    lower=$(echo "$t" | tr 'A-Z' 'a-z')
    "$LAIR" quantize -t 2 "$TD/golden/$src.gguf" "$T/q.gguf" "$lower" 2>"$T/err" || { bad="$bad $fam-$t(failed)"; continue; }
    python3 tests/gguf_check.py --types "$TD/golden/$fam-$t.gguf" >"$T/want"
    python3 tests/gguf_check.py --types "$T/q.gguf" >"$T/got"
    cmp -s "$T/want" "$T/got" || bad="$bad $fam-$t"
  done
  [ -z "$bad" ] && ok quantize_matches_golden_recipes || fail quantize_matches_golden_recipes "differ:$bad"

  expect_fail quantize_refuses_requantize "is already q" "$LAIR" quantize "$TD/golden/tiny-llama-Q4_0.gguf" "$T/r.gguf" q8_0
  "$LAIR" quantize --allow-requantize "$TD/golden/tiny-llama-Q4_0.gguf" "$T/r.gguf" q8_0 2>/dev/null &&
    python3 tests/gguf_check.py "$T/r.gguf" >/dev/null && ok quantize_allow_requantize || fail quantize_allow_requantize "failed"
  "$LAIR" quantize --split-max-size 400K "$TD/golden/tiny-llama-F32.gguf" "$T/s.gguf" q8_0 2>/dev/null
  n=$(ls "$T"/s-0000*-of-*.gguf 2>/dev/null | wc -l)
  if [ "$n" -ge 2 ] && "$LAIR" inspect "$T/s-00001-of-0000$n.gguf" | grep -q "split:      $n files"; then ok quantize_split
  else fail quantize_split "$n shards"; fi
  "$LAIR" quantize --stats "$TD/golden/tiny-llama-F32.gguf" "$T/st.gguf" q4_k_m 2>/dev/null | grep -q '^q4_K ' &&
    ok quantize_stats || fail quantize_stats "no per-type line"
  expect_fail quantize_unknown_type "unknown type 'q1'" "$LAIR" quantize "$TD/golden/tiny-llama-F32.gguf" "$T/x.gguf" q1
fi
