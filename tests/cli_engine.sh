#!/bin/sh
# lair logits and lair bench as a user runs them.
. tests/clilib.sh

if have_testdata logits_matches_reference; then
  ref="$TD/golden/tiny-qwen2-F32"
  toks=$(python3 -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))['tokens'])))" "$ref.ref.json")
  if "$LAIR" logits -m "$ref.gguf" --tokens "$toks" --kv-type f32 --out "$T/l.f32" --greedy 24 >"$T/greedy" 2>"$T/err"; then
    python3 - "$ref" "$T/l.f32" "$T/greedy" <<'PY' && ok logits_matches_reference || fail logits_matches_reference "NMSE or greedy off"
import json, struct, sys
ref = json.load(open(sys.argv[1] + ".ref.json"))
a = open(sys.argv[1] + ".logits.f32", "rb").read()
b = open(sys.argv[2], "rb").read()
assert len(a) == len(b), (len(a), len(b))
x = struct.unpack("<%df" % (len(a) // 4), a)
y = struct.unpack("<%df" % (len(b) // 4), b)
nmse = sum((p - q) ** 2 for p, q in zip(x, y)) / sum(p * p for p in x)
assert nmse < 1e-6, nmse
assert open(sys.argv[3]).read().strip() == ",".join(map(str, ref["greedy"])), "greedy"
PY
  else fail logits_matches_reference "$(cat "$T/err")"; fi
  expect_fail logits_bad_token "token 512 out of range" "$LAIR" logits -m "$TD/golden/tiny-llama-Q4_0.gguf" --tokens 1,512
  expect_fail logits_bad_kv_type "unknown KV type" "$LAIR" logits -m "$TD/golden/tiny-llama-Q4_0.gguf" --tokens 1 --kv-type q9
  expect_fail logits_not_a_model "tensor 'token_embd.weight' missing" "$LAIR" logits -m "$TD/vocab/ggml-vocab-llama-spm.gguf" --tokens 1
fi

# bench on a synthetic model: every field present, speeds positive
if "$LAIR" gen -o "$T/b.gguf" --arch gemma2 --type q4_0 2>/dev/null &&
   "$LAIR" bench -m "$T/b.gguf" -p 32 -n 8 -r 2 -t 2 --json >"$T/b.json" 2>"$T/err"; then
  python3 - "$T/b.json" <<'PY' && ok bench_json || fail bench_json "bad JSON: $(head -c 300 "$T/b.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["prefill"]["tok_s_median"] > 0 and d["decode"]["tok_s_median"] > 0
assert d["bytes_per_token"] > 0 and d["peak_rss_mib"] > 0 and d["reps"] == 2
PY
else fail bench_json "$(cat "$T/err")"; fi
expect_fail bench_needs_model "missing -m" "$LAIR" bench
