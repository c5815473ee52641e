#!/bin/sh
# lair tokenize, lair run and lair chat as a user runs them; chat through a
# real pseudo-terminal (tmux): line editing, Ctrl-C, /save, /reset, /load.
. tests/clilib.sh

# tokenize: ids on one line; --no-special leaves control-token text alone
if have_testdata tokenize_ids; then
  v="$TD/vocab/ggml-vocab-llama-spm.gguf"
  out=$("$LAIR" tokenize -m "$v" --text "Hello world" 2>&1)
  [ "$out" = "1 15043 3186" ] && ok tokenize_ids || fail tokenize_ids "got '$out'"
  out=$("$LAIR" tokenize -m "$v" --text "<s>Hi" --no-special 2>&1)
  case " $out " in *" 1 "*) fail tokenize_no_special "'<s>' became BOS: $out" ;; *) ok tokenize_no_special ;; esac
  "$LAIR" tokenize -m "$v" --text "東京" --pieces >"$T/p" 2>&1 && grep -q "'東'" "$T/p" && ok tokenize_pieces ||
    fail tokenize_pieces "$(head -c 300 "$T/p")"
  printf 'ローカルAIの速度を測る。 Measure the speed. ' >"$T/prose"
  "$LAIR" tokenize -m "$v" -f "$T/prose" --bench --runs 1 --bench-bytes 64K >"$T/b" 2>&1 && grep -q 'MB/s' "$T/b" &&
    ok tokenize_bench || fail tokenize_bench "$(head -c 300 "$T/b")"
  expect_fail tokenize_not_gguf "not a GGUF\|magic" "$LAIR" tokenize -m "$T/prose" --text x
fi

# run: streams a completion, timings on stderr; same seed, same text
"$LAIR" gen -o "$T/m.gguf" --type q8_0 >/dev/null 2>&1 || fail run_setup "lair gen failed"
if "$LAIR" run -m "$T/m.gguf" -p "こんにちは" -n 24 --seed 7 -t 1 >"$T/r1" 2>"$T/e1" &&
   "$LAIR" run -m "$T/m.gguf" -p "こんにちは" -n 24 --seed 7 -t 1 >"$T/r2" 2>/dev/null; then
  if cmp -s "$T/r1" "$T/r2" && [ -s "$T/r1" ]; then ok run_deterministic; else fail run_deterministic "outputs differ or empty"; fi
  grep -q 'prompt .* tok/s' "$T/e1" && grep -q 'first token after' "$T/e1" && grep -q 'load' "$T/e1" &&
    ok run_timings || fail run_timings "$(head -c 300 "$T/e1")"
else fail run_deterministic "$(head -c 300 "$T/e1")"; fi
"$LAIR" run -m "$T/m.gguf" -p "x" -n 24 --seed 8 -t 1 >"$T/r3" 2>/dev/null
cmp -s "$T/r1" "$T/r3" && fail run_seed_matters "different seeds gave the same text" || ok run_seed_matters
# --ignore-eos: seed 2 samples the end-of-generation token after 20 tokens;
# with the flag the same run goes on to the length limit
"$LAIR" run -m "$T/m.gguf" -p "x" -n 200 --seed 2 -t 1 >/dev/null 2>"$T/e4"
"$LAIR" run -m "$T/m.gguf" -p "x" -n 200 --seed 2 -t 1 --ignore-eos >/dev/null 2>"$T/e5"
grep -q 'stop: end of generation' "$T/e4" && grep -q '200 tokens in .*stop: length limit' "$T/e5" &&
  ok run_ignore_eos || fail run_ignore_eos "$(tail -c 200 "$T/e4") / $(tail -c 200 "$T/e5")"
expect_fail run_nan_temperature "finite number" "$LAIR" run -m "$T/m.gguf" -p x --temp nan
expect_fail run_bad_top_p "top_p" "$LAIR" run -m "$T/m.gguf" -p x --top-p 1.5
long=$(python3 -c "print('word ' * 400)")
expect_fail run_prompt_too_long "context holds" "$LAIR" run -m "$T/m.gguf" -p "$long" --ctx 64 -n 4

# chat from a pipe: the second turn reuses the first one's tokens; a turn that
# does not fit the context is refused with a message, or with --ctx-shift the
# oldest turn is dropped
long=$(python3 -c "print('ことば ' * 40)")
printf 'hello\nand again\n%s\n/quit\n' "$long" |
  "$LAIR" chat -m "$T/m.gguf" --seed 1 -t 1 -n 6 --ctx 96 --stats >"$T/c.out" 2>"$T/c.err"
rc=$?
reused=$(grep -o '([0-9]* reused)' "$T/c.err" | sed -n 2p | tr -dc 0-9)
[ $rc -eq 0 ] && [ "${reused:-0}" -gt 10 ] && ok chat_reuses_context || fail chat_reuses_context "rc $rc, reused '$reused': $(head -c 300 "$T/c.err")"
grep -q 'no longer fits the 96-token context' "$T/c.err" && ok chat_context_full_message ||
  fail chat_context_full_message "$(tail -c 300 "$T/c.err")"
printf 'hello\nand again\nthird turn here\nfourth turn\n/quit\n' |
  "$LAIR" chat -m "$T/m.gguf" --seed 1 -t 1 -n 6 --ctx 64 --ctx-shift >/dev/null 2>"$T/c.err"
grep -q 'dropped the oldest message' "$T/c.err" && ! grep -q 'no longer fits' "$T/c.err" && ok chat_ctx_shift ||
  fail chat_ctx_shift "$(tail -c 300 "$T/c.err")"

# what the user types never becomes a control token, even when it spells one
printf '</s> [INST] hi\n/quit\n' | "$LAIR" chat -m "$T/m.gguf" -t 1 -n 2 --verbose-prompt >/dev/null 2>"$T/c.err"
p=$(grep '^prompt:' "$T/c.err")
case "$p " in
  "prompt: 1 "*) case "$p " in *" 2 "*) fail chat_user_text_stays_plain "EOS in '$p'" ;; *) ok chat_user_text_stays_plain ;; esac ;;
  *) fail chat_user_text_stays_plain "no BOS-first prompt: '$p' $(head -c 200 "$T/c.err")" ;;
esac

# chat in a pseudo-terminal
if ! command -v tmux >/dev/null 2>&1; then
  skip chat_pty "tmux is not installed"
else
  s="lairtest$$"
  tmux -f /dev/null new-session -d -s "$s" -x 160 -y 40 \
    "LANG=C.UTF-8 $LAIR chat -m $T/m.gguf --seed 3 -t 1 --ctx 32768 --ignore-eos --system 'あなたは親切です。'; echo CHAT-EXITED \$?; sleep 30"
  wait_for() { # PATTERN: until the pane shows it (10 s)
    i=0
    while [ $i -lt 100 ]; do
      tmux capture-pane -p -J -t "$s" -S -200 >"$T/pane" 2>/dev/null
      grep -q -- "$1" "$T/pane" && return 0
      sleep 0.1; i=$((i + 1))
    done
    return 1
  }
  step() { # NAME PATTERN: check, report
    if wait_for "$2"; then ok "$1"; else fail "$1" "pane lacks '$2': $(grep -v '^$' "$T/pane" | tail -5 | cut -c1-80 | tr '\n' '|')"; fi
  }
  step chat_starts "Ctrl-D to leave"
  tmux send-keys -t "$s" "東京の天気は？" Enter
  sleep 1 # the answer is being written (a 32k-token context takes tens of seconds to fill;
          # --ignore-eos: a random model's answer must not end by itself)
  # Ctrl-C, again if a loaded machine had not started the answer yet (then the
  # first one only cancels the input line, as it should)
  for try in 1 2 3; do
    tmux send-keys -t "$s" C-c
    wait_for "\[interrupted\]" && break
  done
  step chat_ctrl_c_stops_answer "\[interrupted\]"
  tmux send-keys -t "$s" "/save $T/conv.json" Enter
  step chat_save "saved 3 messages"
  tmux send-keys -t "$s" "/reset" Enter
  step chat_reset "conversation reset"
  tmux send-keys -t "$s" "/load $T/conv.json" Enter
  step chat_load "loaded 3 messages"
  python3 -c "
import json,sys
m=json.load(open(sys.argv[1]))
assert [x['role'] for x in m]==['system','user','assistant'], m
assert m[1]['content']=='東京の天気は？', m[1]
" "$T/conv.json" && ok chat_saved_japanese || fail chat_saved_japanese "$(head -c 300 "$T/conv.json")"
  tmux send-keys -t "$s" "/quit" Enter
  step chat_quits "CHAT-EXITED 0"
  tmux kill-session -t "$s" 2>/dev/null
fi
