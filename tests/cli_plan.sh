#!/bin/sh
# lair plan: the seed's tables, exact weight bytes for a file and its preset,
# catalog lookups and ranking, clear errors, and the decode bound for this
# machine checked against lair bench.
. tests/clilib.sh

out=$("$LAIR" plan --tables 2>&1)
if echo "$out" | grep -q "^| 7B     | 3.6 GiB   | 4.0 GiB     | 7.2 GiB   | 14.3 GiB  |$" &&
   echo "$out" | grep -q "^| 70B    | 35.9 GiB  | 40.3 GiB    | 71.7 GiB  | 143.4 GiB |$" &&
   echo "$out" | grep -q "^|    8,192 | 1.00 GiB  | 0.50 GiB  | 0.25 GiB  |$" &&
   echo "$out" | grep -q "^|    2,048 | 0.25 GiB  | 0.12 GiB  | 0.06 GiB  |$"; then ok plan_tables
else fail plan_tables "$(echo "$out" | head -c 400)"; fi

# a lair gen file and its preset give the same weight bytes (exact)
"$LAIR" gen -o "$T/m.gguf" --preset tiny --type q4_k_m >/dev/null 2>&1 || fail plan_gen "lair gen failed"
a=$("$LAIR" plan "$T/m.gguf" --mem 8 --bandwidth 50 --json 2>&1 | sed -n 's/.*"weight_bytes": \([0-9]*\).*/\1/p')
b=$("$LAIR" plan --preset tiny --type q4_k_m --mem 8 --bandwidth 50 --json 2>&1 | sed -n 's/.*"weight_bytes": \([0-9]*\).*/\1/p')
[ -n "$a" ] && [ "$a" = "$b" ] && ok plan_file_equals_preset || fail plan_file_equals_preset "file '$a', preset '$b'"

# a golden model: catalog machine, tier, fit and bound reported (its exact bytes: test_plan)
if have_testdata plan_golden; then
  g="$TD/golden/tiny-llama-F16.gguf"
  out=$("$LAIR" plan "$g" --machine mac-mini-m4-pro-64 2>&1)
  case "$out" in *"tier A-64"*"FITS"*"decode bound:"*) ok plan_golden ;; *) fail plan_golden "$out" ;; esac
fi

# 8B q4_k_m from the preset on a 16 GB Apple tier: fits; 70B-sized params at 4 bits on 16 GB: does not
out=$("$LAIR" plan --preset llama-3.1-8b --type q4_k_m --machine A-16 --json 2>&1)
case "$out" in *'"weight_bytes": 4912898304'*'"fits": true'*) ok plan_preset_8b ;; *) fail plan_preset_8b "$out" ;; esac
out=$("$LAIR" plan --params 70 --bpw 4 --machine A-16 2>&1)
case "$out" in *"DOES NOT FIT"*) ok plan_does_not_fit ;; *) fail plan_does_not_fit "$out" ;; esac

# compare: every catalog machine, Japanese names aligned by display width
out=$("$LAIR" plan --preset llama-3.1-8b --type q4_k_m --compare 2>&1)
n=$(echo "$out" | grep -c -E " (yes|no) ")
# the name column is 30 display columns wide: "自作PC（192GB DDR5）" takes 20
# (自 作 （ ） are double width), so 10 spaces pad it, then the separator
if [ "$n" -eq 17 ] && echo "$out" | grep -q "^自作PC（192GB DDR5）           W-CPU2 " &&
   echo "$out" | grep -q "^NVIDIA DGX Spark               - "; then ok plan_compare
else fail plan_compare "rows $n, widths $wjp/$wen: $(echo "$out" | head -c 300)"; fi

expect_fail plan_unknown_machine "known: this, dgx-spark" "$LAIR" plan --preset tiny --machine nosuch
expect_fail plan_bad_mem "--mem" "$LAIR" plan --preset tiny --mem -3 --bandwidth 10
expect_fail plan_nan_bandwidth "bandwidth" "$LAIR" plan --preset tiny --mem 8 --bandwidth nan
expect_fail plan_bad_kv "--kv" "$LAIR" plan --preset tiny --mem 8 --bandwidth 10 --kv q5_k
expect_fail plan_no_model "give a GGUF file" "$LAIR" plan --mem 8 --bandwidth 10
expect_fail plan_bad_catalog "catalog" "$LAIR" plan --preset tiny --machine x --catalog "$T/m.gguf"

# The bound for this machine against lair bench.  A 0.5B model (0.32 GiB of
# q4_0 weights, far past any cache) makes decode bandwidth-bound.  Measured
# decode must be <= bound x 1.1 (the bound is a ceiling; 10% for the noise of
# the bandwidth probe) and >= bound x 0.15: on this shared 2-core VM decode
# reached 0.56 of the bound, and other jobs running at the same time can halve it.
# The bound is measured before and after the bench and the larger kept: the
# probe's noise is downward (a slow moment), and with decode at 0.77 of the
# bound one probe at half speed failed the ceiling (45.9 against 52.65).
"$LAIR" gen -o "$T/q.gguf" --preset qwen2.5-0.5b --type q4_0 >/dev/null 2>&1
plan_bound() { "$LAIR" plan "$T/q.gguf" --machine this --ctx 64 --json 2>&1 | sed -n 's/.*"decode_tps_bound": \([0-9.e+]*\).*/\1/p'; }
bound1=$(plan_bound)
meas=$("$LAIR" bench -m "$T/q.gguf" -p 0 -n 16 -r 3 --json 2>/dev/null | sed -n 's/.*"decode": {[^}]*"tok_s_median": \([0-9.]*\).*/\1/p')
bound2=$(plan_bound)
bound=$(awk -v a="$bound1" -v b="$bound2" 'BEGIN { if (a == "" || b == "") exit; print (a + 0 > b + 0 ? a : b) }')
if [ -n "$bound" ] && [ -n "$meas" ] && awk -v b="$bound" -v m="$meas" 'BEGIN { exit !(m <= b * 1.1 && m >= b * 0.15) }'; then
  ok "plan_this_vs_bench (bound $bound, measured $meas tok/s)"
else fail plan_this_vs_bench "bounds '$bound1' and '$bound2', measured '$meas'"; fi
