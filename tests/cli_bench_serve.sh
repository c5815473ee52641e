#!/bin/sh
# lair bench serve / lair bench report against a real lair serve on a tiny
# generated model: the three outputs exist and agree, two results merge, the
# HTML renders in headless chromium; bad endpoints and options are refused.
. tests/clilib.sh

"$LAIR" gen -o "$T/m.gguf" >/dev/null 2>&1 || fail bench_serve_gen "lair gen failed"
start_server() { # NAME [lair serve options]: sets SPID and PORT (empty when it did not start)
  name=$1; shift
  "$LAIR" serve -m "$T/m.gguf" --port 0 -t 1 "$@" >"$T/$name.out" 2>"$T/$name.err" &
  SPID=$!
  PORT=
  i=0
  while [ $i -lt 100 ] && [ -z "$PORT" ]; do
    PORT=$(sed -n 's/.*listening on http:\/\/[^ ]*:\([0-9][0-9]*\).*/\1/p' "$T/$name.out" | head -n 1)
    [ -n "$PORT" ] || sleep 0.1
    i=$((i + 1))
  done
}
stop_server() { kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; }
start_server serve

if [ -z "$PORT" ]; then
  fail bench_serve_start "lair serve did not start: $(head -c 300 "$T/serve.err")"
  stop_server
  exit 0
fi
EP=http://127.0.0.1:$PORT
run_bench() { # OUTDIR
  "$LAIR" bench serve --endpoint "$EP" --model m --concurrency 1,2 --runs 1 --max-tokens 16 --warmup 1 \
    --set P1,P3 --out "$1" 2>"$T/bench.err"
}

if run_bench "$T/a"; then
  if [ -s "$T/a/results.json" ] && [ -s "$T/a/summary.md" ] && [ -s "$T/a/report.html" ]; then ok bench_serve_outputs
  else fail bench_serve_outputs "missing output in $T/a: $(ls "$T/a")"; fi
  # results.json: both levels, 17 requests each (P1: 4 prompts x 2 modes, P3: 3 x 3), the metrics present
  if python3 - "$T/a/results.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
lv = d["levels"]
assert [l["concurrency"] for l in lv] == [1, 2], lv
for l in lv:
    assert l["requests"] == 17, l["requests"]
    s = l["short"]
    assert s["n"] == l["requests"] - l["errors"], (s, l["errors"])
    if s["n"]:
        assert 0 < s["ttft_p50_s"] <= s["ttft_p95_s"] and s["ttft_p50_s"] <= s["e2e_p50_s"], s
        assert l["aggregate_tok_s"] > 0
    q = {(x["set"], x["mode"]): x for x in l["quality"]}
    assert set(q) == {("P1", "plain"), ("P1", "response_format"), ("P3", "plain"), ("P3", "response_format"), ("P3", "tools")}, q
    assert sum(x["requests"] for x in q.values()) == 17
    for x in q.values():
        assert x["errors"] == 0 or x["first_error"], x
assert len(d["requests"]) == 34
assert d["server"]["runtime"] == "lair" and d["server"]["version"]
assert d["server_peak_rss_bytes"] > 0, d.get("server_peak_rss_note")
assert d["conditions"]["max_tokens"] == 16 and d["conditions"]["seed"] == 42
assert d["machine"]["cores"] >= 1
PY
  then ok bench_serve_results_json; else fail bench_serve_results_json "results.json lacks metrics (see above)"; fi
  if grep -q '^| 2 | short | ' "$T/a/summary.md" && grep -q '^| 1 | P3 | tools |' "$T/a/summary.md"; then ok bench_serve_summary_md
  else fail bench_serve_summary_md "summary.md lacks the tables: $(head -c 300 "$T/a/summary.md")"; fi
  if grep -q '<svg' "$T/a/report.html" && grep -q 'charset="utf-8"' "$T/a/report.html" && grep -q 'レポート' "$T/a/report.html"
  then ok bench_serve_report_html; else fail bench_serve_report_html "report.html lacks <svg> or the UTF-8 meta"; fi
  if grep -q 'measure c=2.*17/17' "$T/bench.err"; then ok bench_serve_progress
  else fail bench_serve_progress "no progress lines on stderr: $(tail -c 300 "$T/bench.err")"; fi
else
  fail bench_serve_run "lair bench serve failed: $(tail -c 400 "$T/bench.err")"
fi

# two runs merged: one polyline per series
if run_bench "$T/b" && "$LAIR" bench report "$T/a/results.json" "$T/b/results.json" --out "$T/r" 2>"$T/rep.err"; then
  n=$(grep -c '<polyline' "$T/r/report.html")
  if [ "$n" -eq 4 ] && [ "$(grep -c '^## m @' "$T/r/summary.md")" -eq 2 ]; then ok bench_report_merge
  else fail bench_report_merge "expected 4 polylines (2 charts x 2 series) and 2 sections, got $n"; fi
  CHROME=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
  if [ -z "$CHROME" ]; then
    skip bench_report_chromium "chromium is not installed"
  else
    timeout 60 "$CHROME" --headless=new --no-sandbox --disable-gpu --dump-dom "file://$(cd "$T/r" && pwd)/report.html" >"$T/dom.html" 2>/dev/null
    svgs=$(grep -o '<svg' "$T/dom.html" | wc -l)
    circles=$(grep -o '<circle' "$T/dom.html" | wc -l)
    if [ "$svgs" -eq 4 ] && [ "$circles" -gt 8 ] && grep -q 'レポート' "$T/dom.html"; then ok bench_report_chromium
    else fail bench_report_chromium "rendered DOM has $svgs <svg> and $circles <circle> (want 4 and > 8)"; fi
  fi
else
  fail bench_report_merge "second run or report failed: $(tail -c 300 "$T/bench.err" "$T/rep.err" 2>/dev/null)"
fi
stop_server

# a server that wants a key: with --api-key every plain request succeeds
# and the server's version is read; without it every request is a 401
start_server keyed --api-key sekrit
if [ -n "$PORT" ]; then
  KEP=http://127.0.0.1:$PORT
  "$LAIR" bench serve --endpoint "$KEP" --model m --api-key sekrit --concurrency 1 --runs 1 --max-tokens 16 --warmup 0 \
    --set P1 --out "$T/k" 2>"$T/k.err"
  "$LAIR" bench serve --endpoint "$KEP" --model m --concurrency 1 --runs 1 --max-tokens 16 --warmup 0 \
    --set P1 --out "$T/n" 2>"$T/n.err"
  if python3 - "$T/k/results.json" "$T/n/results.json" <<'PY'
import json, sys
k, n = (json.load(open(p)) for p in sys.argv[1:3])
plain = {q["mode"]: q for q in k["levels"][0]["quality"]}["plain"]
assert plain["requests"] == 4 and plain["errors"] == 0, plain
assert k["server"]["runtime"] == "lair" and k["server"]["version"], k["server"]
for q in n["levels"][0]["quality"]:
    assert q["errors"] == q["requests"] and "401" in q["first_error"], q
PY
  then ok bench_serve_api_key; else fail bench_serve_api_key "see above; $(tail -c 300 "$T/k.err")"; fi
else
  fail bench_serve_api_key "keyed lair serve did not start: $(head -c 300 "$T/keyed.err")"
fi
stop_server

echo '{"levels": 3}' >"$T/bogus.json"
expect_fail bench_report_not_results "not a lair bench serve results.json" "$LAIR" bench report "$T/bogus.json" --out "$T/x"
expect_fail bench_report_bad_json "serve.out: '\\[' or '{' expected" "$LAIR" bench report "$T/serve.out" --out "$T/x"
# nothing listens on the port of the stopped server any more
expect_fail bench_serve_unreachable "cannot reach the endpoint" "$LAIR" bench serve --endpoint "$EP" --model m --out "$T/u"
expect_fail bench_serve_bad_concurrency "concurrency '1,x'" "$LAIR" bench serve --endpoint "$EP" --model m --concurrency 1,x
expect_fail bench_serve_bad_set "unknown prompt set 'P9'" "$LAIR" bench serve --endpoint "$EP" --model m --set P1,P9
