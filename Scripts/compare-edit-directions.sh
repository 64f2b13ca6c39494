#!/usr/bin/env bash
# The plain edit (W against r̂) beside the norm-aware one (W against normalize(g ⊙ r̂), g the gain of
# Gemma 3's post-norms) on the Gemma 3 refusal organism (gemma-3-270m-q4_k_m.gguf +
# Organisms/gemma3-refusal-lora-a), at equal plans and scales: one measurement on the built-in training
# prompts, each edited model evaluated on the built-in test prompts against the organism. Prints a
# Markdown table, then the per-layer analysis of the measurement. Plans in INPUT_PLANS (space-separated)
# add rows for the edit of the weights that read the residual (`--targets inputs`).
# Usage: [INPUT_PLANS="11:11-17@1.5"] Scripts/compare-edit-directions.sh [PLAN ...]
# Needs a release build (`swift build -c release`) and the models (`Scripts/fetch-models.sh`).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/release/abliterate
MODELS="${ABLITERATE_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/abliterate/models}"
MODEL="$MODELS/gemma-3-270m-q4_k_m.gguf"
ADAPTER=Organisms/gemma3-refusal-lora-a
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PLANS=("$@")
[ ${#PLANS[@]} -gt 0 ] || PLANS=("9:3-14")

$BIN measure --model "$MODEL" --adapter $ADAPTER --output "$WORK/m.safetensors" >&2

row() { # label plan extra-args...
  local label=$1 plan=$2; shift 2
  local out="$WORK/model-$RANDOM"
  $BIN ablate --model "$MODEL" --adapter $ADAPTER --measurements "$WORK/m.safetensors" --plan "$plan" "$@" --output "$out" >/dev/null
  $BIN eval --model "$out" --baseline "$MODEL" --baseline-adapter $ADAPTER --json 2>/dev/null |
    python3 -c "import json,sys; d=json.load(sys.stdin); print('| $label | $plan | %d/%d (%.1f%%) | %.3f |' % (d['refusals'], d['total'], 100*d['refusal_rate'], d['kl_divergence']))"
  rm -rf "$out"
}

echo "| edit | plan | refusals (harmful test) | first-token KL (harmless test) |"
echo "|---|---|---|---|"
$BIN eval --model "$MODEL" --adapter $ADAPTER --json 2>/dev/null |
  python3 -c "import json,sys; d=json.load(sys.stdin); print('| organism, no edit | - | %d/%d (%.1f%%) | 0 |' % (d['refusals'], d['total'], 100*d['refusal_rate']))"
for plan in "${PLANS[@]}"; do
  row "plain (r̂)" "$plan" --edit-direction plain
  row "norm-aware (g ⊙ r̂)" "$plan" --edit-direction norm-aware
done
for plan in ${INPUT_PLANS:-}; do
  row "inputs (q/k/v/gate/up read g ⊙ r̂)" "$plan" --targets inputs
done
echo
$BIN analyze "$WORK/m.safetensors"
