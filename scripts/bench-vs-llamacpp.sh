#!/usr/bin/env bash
# Prefill and decode speed of `veloxquant run` next to llama.cpp's (node-llama-cpp 3.22.1 through
# tests/reference/weights_speed.mjs) on the same GGUF, f16 KV cache on both sides, 1 and 2 threads,
# the two programs interleaved in every repetition (docs/weights.md, "Speed").
#
#   scripts/bench-vs-llamacpp.sh MODEL.gguf [REPS=3] [PROMPT=256] [GEN=32]
#
# Needs build/veloxquant and scripts/install-reference.sh. The prompt is the first PROMPT tokens of
# ../shared/models/test.txt for us and PROMPT deterministic ids for llama.cpp (the same count).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: scripts/bench-vs-llamacpp.sh MODEL.gguf [REPS] [PROMPT] [GEN]}
reps=${2:-3} prompt=${3:-256} gen=${4:-32}
for rep in $(seq "$reps"); do
  for t in 1 2; do
    node tests/reference/weights_speed.mjs "$model" --prompt $((prompt + 1)) --gen "$gen" --threads "$t" --reps 1 |
      node -e 'const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
        console.log(`rep ${process.argv[1]} threads ${r.threads} llama.cpp  prefill ${r.prefill_tokens_per_s.toFixed(1)} decode ${r.decode_tokens_per_s.toFixed(2)} tokens/s`)' "$rep"
    ./build/veloxquant run -m "$model" -f ../shared/models/test.txt --max-prompt "$prompt" -n "$gen" --threads "$t" \
      --cache-k f16 --cache-v f16 2>&1 >/dev/null |
      awk -v rep="$rep" -v t="$t" '/^prompt:/ {p = $7} /^generation:/ {g = $7}
        END {gsub(/\(/, "", p); gsub(/\(/, "", g); printf "rep %s threads %s veloxquant prefill %s decode %s tokens/s\n", rep, t, p, g}'
  done
done
