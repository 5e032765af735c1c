#!/usr/bin/env bash
# Decode speed at a long context: `veloxquant run` with compressed KV caches next to llama.cpp
# (node-llama-cpp 3.22.1 through tests/reference/weights_speed.mjs) with its f16 and q4_0 KV
# caches (flash attention on, which llama.cpp needs for a quantized V cache), same GGUF, same
# threads, the programs interleaved in every repetition (docs/weights.md, "Speed against
# llama.cpp").
#
#   scripts/bench-kv-vs-llamacpp.sh MODEL.gguf [CTX=8192] [REPS=3] [GEN=32] [THREADS=1] [FORMATS="f16 tq3"]
#
# The context is CTX prompt tokens (the first CTX tokens of ../shared/models/test.txt for us,
# CTX deterministic ids for llama.cpp), then GEN generated tokens; decode tokens/s is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: scripts/bench-kv-vs-llamacpp.sh MODEL.gguf [CTX] [REPS] [GEN] [THREADS] [FORMATS]}
ctx=${2:-8192} reps=${3:-3} gen=${4:-32} threads=${5:-1} formats=${6:-"f16 tq3"}
for rep in $(seq "$reps"); do
  for kv in f16 q4_0; do
    node tests/reference/weights_speed.mjs "$model" --prompt $((ctx + 1)) --gen "$gen" --threads "$threads" --reps 1 \
      --kv "$kv" --flash-attention on |
      node -e 'const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
        console.log(`rep ${process.argv[1]} llama.cpp  kv ${r.kv} decode ${r.decode_tokens_per_s.toFixed(1)} tokens/s`)' "$rep"
  done
  for f in $formats; do
    ./build/veloxquant run -m "$model" -f ../shared/models/test.txt --max-prompt "$ctx" -n "$gen" --threads "$threads" \
      --cache-k "$f" --cache-v "$f" 2>&1 >/dev/null |
      awk -v rep="$rep" -v f="$f" '/^generation:/ {g = $7} END {gsub(/\(/, "", g); printf "rep %s veloxquant kv %s decode %s tokens/s\n", rep, f, g}'
  done
done
