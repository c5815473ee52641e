#!/bin/sh
# Runs each libFuzzer target given for $FUZZ_SECONDS seconds (one at a time):
#   FUZZ_SECONDS=600 sh fuzz/run.sh build/fuzz/fuzz_gguf ...
# For target build/fuzz/fuzz_NAME:
#   build/fuzz/seeds-NAME/     seeds, rebuilt each run from $LAIR_TESTDATA
#                              (../shared/testdata) plus small hand-made files
#   FUZZ_MAX_LEN               largest input in bytes (default 65536)
#   build/fuzz/corpus-NAME/    what the fuzzer adds (kept between runs)
#   build/fuzz/artifacts-NAME/ crash-*, leak-*, timeout-*, oom-* inputs
#   build/fuzz/NAME.log        the fuzzer's output
# Prints the final statistics of each run; exits non-zero when any target
# found a crash, leak, timeout or out-of-memory (or did not run).
set -u
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
TESTDATA=${LAIR_TESTDATA:-../shared/testdata}
# Inputs up to 64 KiB: everything the parser interprets lies in the first
# bytes of a file, and on a 10-minute run this gives ~45x the executions and
# more coverage than 1 MiB (which admits whole small models as seeds).
MAX_LEN=${FUZZ_MAX_LEN:-65536}
HEAD_BYTES=$((MAX_LEN < 65536 ? MAX_LEN : 65536))

# ---- little-endian byte writers for hand-made seeds ---------------------------
# shellcheck disable=SC2059 # the octal escape must be in the format
byte() { printf "\\$(printf %03o "$1")"; }
le() { # value, bytes (two's complement for negative values)
  _v=$1; _n=$2
  while [ "$_n" -gt 0 ]; do byte $((_v & 255)); _v=$((_v >> 8)); _n=$((_n - 1)); done
}
u32() { le "$1" 4; }
u64() { le "$1" 8; }
str() { u64 "${#1}"; printf %s "$1"; } # ASCII only
key() { str "$1"; u32 "$2"; }           # key, value type
zeros() { [ "$1" -gt 0 ] && head -c "$1" /dev/zero; return 0; }
pad_to() { # file, alignment: zero-pads the file to a multiple
  _s=$(wc -c < "$1"); zeros $(( ($2 - _s % $2) % $2 )) >> "$1"
}

# A small valid model: one key of each value type, a string array, a nested
# array, a 3-token vocabulary, and tensors f32 [4,2], q8_0 [32], q4_0 [32,1,2].
tiny_model() { # file, version
  {
    printf GGUF; u32 "$2"; u64 3; u64 16
    key general.architecture 8; str llama
    key general.alignment 4; u32 32
    key test.u8 0; le 200 1
    key test.i8 1; le -5 1
    key test.u16 2; le 60000 2
    key test.i16 3; le -300 2
    key test.i32 5; u32 -7
    key test.f32 6; u32 1069547520          # 1.5
    key test.bool 7; byte 1
    key test.u64 10; u64 1099511627776
    key test.i64 11; u64 -2
    key test.f64 12; u64 4613937818241073152 # 3.0
    key test.strings 9; u32 8; u64 2; str a; str bc
    key test.nested 9; u32 9; u64 2; u32 5; u64 1; u32 7; u32 8; u64 1; str x
    key tokenizer.ggml.tokens 9; u32 8; u64 3; str '<s>'; str a; str b
    key tokenizer.ggml.bos_token_id 4; u32 0
    str a; u32 2; u64 4; u64 2; u32 0; u64 0
    str b; u32 1; u64 32; u32 8; u64 32
    str c; u32 3; u64 32; u64 1; u64 2; u32 2; u64 96
  } > "$1"
  pad_to "$1" 32
  {
    zeros 32                                   # a: 32 bytes
    byte 0; byte 60; zeros 32; zeros 30        # b: one block (scale 1.0), padding
    byte 0; byte 56; zeros 16; byte 0; byte 56; zeros 16 # c: two blocks
  } >> "$1"
}

gguf_seeds() { # dir
  tiny_model "$1/tiny-v3.gguf" 3
  tiny_model "$1/tiny-v2.gguf" 2
  { printf GGUF; u32 3; u64 0; u64 0; } > "$1/empty.gguf"
  for f in "$TESTDATA"/golden/*.gguf "$TESTDATA"/vocab/*.gguf; do
    [ -f "$f" ] || continue
    b=$(basename "$f")
    if [ "$(wc -c < "$f")" -le "$MAX_LEN" ]; then
      cp "$f" "$1/$b"
    else
      head -c "$HEAD_BYTES" "$f" > "$1/head-$b"
    fi
  done
}

gguf_dict() { # file
  cat > "$1" <<'EOF'
magic="GGUF"
v3="\x03\x00\x00\x00"
k_align="general.alignment"
k_arch="general.architecture"
k_name="general.name"
k_ftype="general.file_type"
k_tokens="tokenizer.ggml.tokens"
k_scores="tokenizer.ggml.scores"
k_ttype="tokenizer.ggml.token_type"
k_merges="tokenizer.ggml.merges"
k_bos="tokenizer.ggml.bos_token_id"
k_eos="tokenizer.ggml.eos_token_id"
k_addbos="tokenizer.ggml.add_bos_token"
k_split_no="split.no"
k_split_count="split.count"
k_split_tensors="split.tensors.count"
u64_0="\x00\x00\x00\x00\x00\x00\x00\x00"
u64_2p31="\x00\x00\x00\x80\x00\x00\x00\x00"
u64_2p32="\x00\x00\x00\x00\x01\x00\x00\x00"
u64_2p62="\x00\x00\x00\x00\x00\x00\x00\x40"
u64_2p63="\x00\x00\x00\x00\x00\x00\x00\x80"
u64_max="\xff\xff\xff\xff\xff\xff\xff\xff"
u32_max="\xff\xff\xff\xff"
u32_2p31="\x00\x00\x00\x80"
t_string="\x08\x00\x00\x00"
t_array="\x09\x00\x00\x00"
utf8_bad="\xed\xa0\x80"
utf8_4="\xf0\x9f\x98\x80"
EOF
}

# Grammar seeds: 16-bit little-endian grammar length, the GBNF text, then
# the input text (see fuzz/fuzz_grammar.c).
grammar_seed() { # file, grammar, text
  le ${#2} 2 > "$1"; printf %s "$2" >> "$1"; printf %s "$3" >> "$1"
}
grammar_seeds() { # dir
  json='root ::= ws value ws
value ::= object | array | string | number | ("true" | "false" | "null")
object ::= "{" ws ( string ws ":" ws value ( ws "," ws string ws ":" ws value )* )? ws "}"
array ::= "[" ws ( value ( ws "," ws value )* )? ws "]"
string ::= "\"" ( [^"\\\x00-\x1f] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} ) )* "\""
number ::= "-"? ( "0" | [1-9] [0-9]* ) ( "." [0-9]+ )? ( [eE] [-+]? [0-9]+ )?
ws ::= [ \t\n\r]*'
  grammar_seed "$1/json" "$json" '{"a": [1, 2.5e3, "日本😀", null, true]}'
  grammar_seed "$1/reps" 'root ::= "a"{2} "b"{1,3} "c"{2,} ("de"){0,2} [^x-z]? .' 'aabbccdedeq日'
  grammar_seed "$1/escapes" 'root ::= "\x41\u00e9\U0001F600\n" [\]\[\-]+ # comment' 'Aé😀
]['
  grammar_seed "$1/ambig" 'root ::= ("a" | "a" | "aa" | x)* "b"
x ::= "a"+' 'aaaaaaaaaaaaab'
  grammar_seed "$1/nest" 'root ::= "(" root ")" | "x"' '((((x))))'
  grammar_seed "$1/leftrec" 'root ::= root "a" | "b"' 'baa'
}

count() { find "$1" -type f | wc -l; }

status=0
for target in "$@"; do
  name=$(basename "$target"); name=${name#fuzz_}
  dir=$(dirname "$target")
  corpus="$dir/corpus-$name" seeds="$dir/seeds-$name" art="$dir/artifacts-$name/" log="$dir/$name.log"
  rm -rf "$seeds"; mkdir -p "$corpus" "$seeds" "$art"
  dict=""
  case "$name" in
    gguf*) gguf_seeds "$seeds"; gguf_dict "$dir/$name.dict"; dict="-dict=$dir/$name.dict" ;;
    grammar*) grammar_seeds "$seeds" ;;
    schema*) # each official suite file (an array of groups), strict and non-strict
      for f in "$TESTDATA"/json-schema/*.json; do
        [ -f "$f" ] || continue
        n=$(basename "$f" .json)
        { byte 0; head -c "$HEAD_BYTES" "$f"; } > "$seeds/$n"
        { byte 3; head -c "$HEAD_BYTES" "$f"; } > "$seeds/ns-$n"
      done ;;
    tokenize*) # the reference vectors' inputs, behind each selector byte
      i=0
      for f in "$TESTDATA"/vocab/*.inp; do
        [ -f "$f" ] || continue
        for sel in 0 1 2 3 4 5 6 7 8 9 10 11 134; do { byte $sel; head -c 4096 "$f"; } > "$seeds/$i-$sel"; done
        i=$((i + 1))
      done ;;
  esac
  before=$(count "$art")
  echo "== $name: ${FUZZ_SECONDS}s, seeds: $(count "$seeds") files, corpus: $(count "$corpus") files"
  # shellcheck disable=SC2086 # $dict is empty or one word
  "$target" -max_total_time="$FUZZ_SECONDS" -max_len="$MAX_LEN" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$art" $dict "$corpus" "$seeds" > "$log" 2>&1
  rc=$?
  grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE)' "$log" | tail -1
  grep -E '^(Done [0-9]+ runs|stat::)' "$log"
  if [ "$rc" -eq 0 ]; then # keep only the inputs that add coverage
    rm -rf "$corpus.min"; mkdir -p "$corpus.min"
    if "$target" -merge=1 -max_len="$MAX_LEN" -rss_limit_mb=2048 -timeout=10 "$corpus.min" "$corpus" \
         > "$dir/$name.merge.log" 2>&1; then
      rm -rf "$corpus"; mv "$corpus.min" "$corpus"
    fi
  fi
  echo "corpus: $(count "$corpus") files, $(du -sk "$corpus" | cut -f1) KiB"
  after=$(count "$art")
  if [ "$rc" -ne 0 ] || [ "$after" -ne "$before" ]; then
    status=1
    echo "FAILED: $name exited with status $rc; artifacts in $art:"
    ls -l "$art"
    grep -E -A40 '^==[0-9]+==|^(SUMMARY|ERROR): |deadly signal' "$log" | head -80
  fi
done
exit $status
