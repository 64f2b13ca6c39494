#!/usr/bin/env bash
# Refusal–KL trade-off of the direction methods on the refusal organism (SmolLM2-135M-Instruct +
# Organisms/refusal-lora-a), with one measurement on the built-in training prompts and evaluation on the
# built-in test prompts. Prints a Markdown table. Usage: Scripts/compare-methods.sh [PLAN ...]
# ROWS (default "conventional projected norm-preserving biprojected nf4") picks the rows, e.g.
# ROWS=biprojected Scripts/compare-methods.sh to re-run one method (the NF4 measurement is skipped
# unless the nf4 row is asked for). KEEP=DIR keeps the measurement files in DIR.
# Needs a release build (`swift build -c release`) and the models (`Scripts/fetch-models.sh`).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/release/abliterate
MODELS="${ABLITERATE_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/abliterate/models}"
MODEL="$MODELS/SmolLM2-135M-Instruct.Q4_1.gguf"
ADAPTER=Organisms/refusal-lora-a
if [ -n "${KEEP:-}" ]; then  # KEEP=DIR keeps the measurements there
  WORK=$KEEP; mkdir -p "$WORK"
else
  WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
fi
PLANS=("$@")
[ ${#PLANS[@]} -gt 0 ] || PLANS=("21:6-25" "21:6-25@1.15" "21:6-25@1.25" "21:6-25@1.5")
ROWS=" ${ROWS:-conventional projected norm-preserving biprojected nf4} "
wants() { [[ "$ROWS" == *" $1 "* ]]; }

$BIN measure --model "$MODEL" --adapter $ADAPTER --output "$WORK/full.safetensors" >&2
if wants nf4; then
  $BIN measure --model "$MODEL" --adapter $ADAPTER --quantize nf4 --output "$WORK/nf4.safetensors" >&2
fi

row() { # label measurements plan extra-args...
  local label=$1 m=$2 plan=$3; shift 3
  local out="$WORK/model-$RANDOM"
  $BIN ablate --model "$MODEL" --adapter $ADAPTER --measurements "$m" --plan "$plan" "$@" --output "$out" >/dev/null
  $BIN eval --model "$out" --baseline "$MODEL" --baseline-adapter $ADAPTER --json 2>/dev/null |
    python3 -c "import json,sys; d=json.load(sys.stdin); print('| $label | $plan | %d/%d (%.1f%%) | %.3f |' % (d['refusals'], d['total'], 100*d['refusal_rate'], d['kl_divergence']))"
  rm -rf "$out"
}

echo "| method | plan | refusals (harmful test) | first-token KL (harmless test) |"
echo "|---|---|---|---|"
$BIN eval --model "$MODEL" --adapter $ADAPTER --json 2>/dev/null |
  python3 -c "import json,sys; d=json.load(sys.stdin); print('| organism, no edit | - | %d/%d (%.1f%%) | 0 |' % (d['refusals'], d['total'], 100*d['refusal_rate']))"
for plan in "${PLANS[@]}"; do
  if wants conventional; then row "conventional" "$WORK/full.safetensors" "$plan" --method conventional; fi
  if wants projected; then row "projected" "$WORK/full.safetensors" "$plan" --method projected; fi
  if wants norm-preserving; then
    row "projected, norm-preserving" "$WORK/full.safetensors" "$plan" --method projected --norm-preserving
  fi
  if wants biprojected; then row "biprojected" "$WORK/full.safetensors" "$plan" --method biprojected; fi
  if wants nf4; then row "projected, measured on NF4" "$WORK/nf4.safetensors" "$plan" --method projected; fi
done
if wants nf4; then
  echo
  echo "Direction cosine, NF4 vs full precision (projected):"
  $BIN analyze "$WORK/full.safetensors" --compare "$WORK/nf4.safetensors"
fi
