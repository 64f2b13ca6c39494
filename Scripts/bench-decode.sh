#!/usr/bin/env bash
# Batch-1 decode beside llama.cpp, the figures of Docs/benchmarks.md ("Native decode kernels and a spinning
# worker pool"). Run from the repository root after `swift build -c release --product abliterate`.
#
#   LLAMA_CPP_BIN=dir   a llama.cpp build's bin directory with llama-bench (Docs/benchmarks.md says how to build it)
#   BEFORE=path         another abliterate binary to measure first (e.g. a worktree's build of an older commit)
#   ROUNDS=3            rounds of ours-then-llama.cpp per model (the machine's speed drifts: compare within a round)
#   SYNTH=file.gguf     also a synthetic bf16 checkpoint (Scripts/make-synthetic-checkpoint.py)
#   MODELS=dir          the GGUF test models (default: ~/.cache/abliterate/models)
set -uo pipefail
A=${ABLITERATE:-.build/release/abliterate}
MD=${MODELS:-${ABLITERATE_MODELS:-$HOME/.cache/abliterate/models}}
L=${LLAMA_CPP_BIN:?set LLAMA_CPP_BIN to a llama.cpp bin directory holding llama-bench}/llama-bench
FILES=("$MD/SmolLM2-135M-Instruct.Q4_1.gguf" "$MD/gemma-3-270m-q4_k_m.gguf")
decode() { "$1" bench runtime --model "$2" --batch 1 --prompt-length 8 --decode-tokens 32 --repetitions 3 2>&1 \
    | grep -E "decode batch 1 \(31 steps after a" | sed -E 's/.* ([0-9.]+) tokens\/s/\1/'; }

echo "== bench kernels"; "$A" bench kernels --repetitions 5 2>&1 | grep -E "bf16 -> f32|f32 activations"
for M in "${FILES[@]}"; do
    n=$(basename "$M")
    [ -n "${BEFORE:-}" ] && echo "$n: before $(decode "$BEFORE" "$M") tokens/s"
    for k in portable avx2 default; do
        echo "$n: kernels $k $(ABLITERATE_KERNELS=$k decode "$A" "$M") tokens/s"
    done
done
for round in $(seq 1 "${ROUNDS:-3}"); do
    for M in "${FILES[@]}"; do
        ours=$(decode "$A" "$M")
        theirs=$("$L" -m "$M" -t 2 -p 0 -n 32 -r 3 2>&1 | grep tg32 | awk -F'|' '{print $8}' | awk '{print $1}')
        echo "round $round $(basename "$M"): abliterate $ours tokens/s, llama.cpp tg32 $theirs, ratio $(python3 -c "print(round($ours/$theirs, 2))")"
    done
done
if [ -n "${SYNTH:-}" ]; then
    for X in ${BEFORE:-} "$A"; do
        echo "$SYNTH ($X):"
        "$X" bench runtime --model "$SYNTH" --batch 1 --prompt-length 4 --decode-tokens 4 --repetitions 2 2>&1 \
            | grep -E "decode batch 1 \(3 steps after a|weight reads"
    done
fi
