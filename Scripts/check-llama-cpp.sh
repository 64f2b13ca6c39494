#!/usr/bin/env bash
# Does llama.cpp load a GGUF file and generate what our runtime generates?
#
#   Scripts/check-llama-cpp.sh MODEL.gguf [LLAMA_CPP_BIN]
#   Scripts/check-llama-cpp.sh HF_DIRECTORY [LLAMA_CPP_BIN]
#
# LLAMA_CPP_BIN (argument or environment): a llama.cpp build's binary directory holding llama-simple
# (e.g. build/bin after `cmake --build build --target llama-simple`). ABLITERATE: our binary
# (.build/release/abliterate). TOKENS: tokens generated per prompt (32).
#
# A Hugging Face directory is first converted by `abliterate convert DIR --gguf-type $GGUF_TYPE` (f16 by
# default) into a temporary GGUF, which is then checked as below; and our runtime's completions on the
# directory itself are compared with ours on the GGUF (the conversion must not change what we generate
# beyond the type's rounding).
#
# For each of 5 fixed raw-text prompts (BOS added as the model says, no chat template) it runs llama.cpp's
# llama-simple (greedy sampler: temperature 0, top-k 1) and `abliterate generate --raw` (greedy), both
# for TOKENS tokens or until an end-of-generation token, and compares the generated text. A difference is
# reported with the first differing completion token (index, and both texts from there). llama.cpp and
# our runtime are different implementations (different accumulation order, llama.cpp's quantized dot
# products on Q8_0-rounded activations): where two candidate tokens are nearly tied, the greedy choice can
# flip, and everything after follows from it.
#
# Exit status: 0 when llama.cpp loaded the file and every prompt agreed (for a directory: ours on the
# directory too), 1 when some prompt differed, 2 when llama.cpp failed (file not loaded) or on a usage
# error. Needs jq.
set -euo pipefail

usage() { echo "usage: $0 MODEL.gguf [LLAMA_CPP_BIN]  (or LLAMA_CPP_BIN=DIR)" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
MODEL=$1
BIN_DIR=${2:-${LLAMA_CPP_BIN:-}}
[[ -n $BIN_DIR ]] || usage
ABLITERATE=${ABLITERATE:-.build/release/abliterate}
TOKENS=${TOKENS:-32}
SIMPLE=$BIN_DIR/llama-simple

[[ -f $MODEL || -d $MODEL ]] || { echo "check-llama-cpp: $MODEL: no such file or directory" >&2; exit 2; }
[[ -x $SIMPLE ]] || { echo "check-llama-cpp: $SIMPLE: not an executable (pass the llama.cpp build's bin directory)" >&2; exit 2; }
[[ -x $ABLITERATE ]] || { echo "check-llama-cpp: $ABLITERATE: not an executable (swift build -c release, or set ABLITERATE)" >&2; exit 2; }
command -v jq >/dev/null || { echo "check-llama-cpp: jq is needed" >&2; exit 2; }

PROMPTS=(
  "The capital of France is"
  "Here is a simple recipe for bread:"
  "def fibonacci(n):"
  "The three primary colours are"
  "Once upon a time, in a small village,"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

SOURCE=
if [[ -d $MODEL ]]; then
  SOURCE=$MODEL
  MODEL=$work/converted.gguf
  echo "source: $SOURCE (Hugging Face directory), converted with --gguf-type ${GGUF_TYPE:-f16}"
  "$ABLITERATE" convert "$SOURCE" --gguf-type "${GGUF_TYPE:-f16}" --output "$MODEL" | sed 's/^/  /'
fi
echo "model: $MODEL"
echo "llama.cpp: $SIMPLE; ours: $ABLITERATE; $TOKENS tokens per prompt, greedy"
differed=0
source_differed=0
for i in "${!PROMPTS[@]}"; do
  prompt=${PROMPTS[$i]}
  n=$((i + 1))
  # llama.cpp: prints the prompt's pieces (BOS included), then each generated piece, then a newline.
  if ! "$SIMPLE" -m "$MODEL" -n "$TOKENS" -ngl 0 "$prompt" >"$work/llama.out" 2>"$work/llama.err"; then
    echo "check-llama-cpp: llama.cpp failed on $MODEL (prompt $n): $(grep -iE 'error|failed' "$work/llama.err" | head -3 | tr '\n' ' ')" >&2
    exit 2
  fi
  "$ABLITERATE" generate --model "$MODEL" --raw --prompt "$prompt" --max-new-tokens "$TOKENS" --json >"$work/ours.json"
  if [[ -n $SOURCE ]]; then
    "$ABLITERATE" generate --model "$SOURCE" --raw --prompt "$prompt" --max-new-tokens "$TOKENS" --json >"$work/source.json"
    jq -r --slurpfile g "$work/ours.json" --argjson n "$n" '
      if .completion_token_ids == $g[0].completion_token_ids then "prompt \($n): ours on the directory = ours on the GGUF"
      else "prompt \($n): ours on the directory DIFFERS from ours on the GGUF: \(.completion_text[0:60] | @json) vs \($g[0].completion_text[0:60] | @json)" end' \
      "$work/source.json"
    if ! jq -e --slurpfile g "$work/ours.json" '.completion_token_ids == $g[0].completion_token_ids' "$work/source.json" >/dev/null; then
      source_differed=$((source_differed + 1))
    fi
  fi

  # llama.cpp's completion: what follows the first occurrence of the prompt, less the final newline.
  jq -n --rawfile out "$work/llama.out" --arg prompt "$prompt" --slurpfile ours "$work/ours.json" --argjson n "$n" '
    ($out | sub("\n$"; "")) as $o
    | ($o | index($prompt)) as $at
    | if $at == null then error("prompt \($n): llama.cpp output does not contain the prompt: \($o[0:200])") else . end
    | ($o[($at + ($prompt | length)):]) as $theirs
    | $ours[0] as $j
    | $j.completion_text as $mine
    | ([$mine, $theirs] | map(length) | min) as $m
    | (first(range(0; $m) | select($mine[.:.+1] != $theirs[.:.+1])) // $m) as $c
    # the completion token of ours in which the texts first differ
    | ([foreach $j.completion_token_texts[] as $t (0; . + ($t | length))] | map(select(. <= $c)) | length) as $k
    | {equal: ($mine == $theirs), tokens: ($j.completion_token_ids | length), stop: $j.stop_reason, k: $k, c: $c,
       common: $mine[0:$c], before: ($j.completion_token_texts[0:$k] | join("")), mine: $mine[$c:$c+60], theirs: $theirs[$c:$c+60],
       preview: $mine[0:80]}' >"$work/cmp.json"
  if [[ $(jq -r .equal "$work/cmp.json") == true ]]; then
    jq -r --argjson n "$n" '"prompt \($n): equal (\(.tokens) tokens, \(.stop)): \(.preview | @json)"' "$work/cmp.json"
  else
    differed=$((differed + 1))
    jq -r --argjson n "$n" '"prompt \($n): DIFFER at completion token \(.k) of ours (character \(.c)); common: \(.common | @json)\n"
      + "  ours:      \(.mine | @json)\n  llama.cpp: \(.theirs | @json)"' "$work/cmp.json"
    # How close the choice was in our runtime: our top logits after the prompt and the completion
    # tokens before the differing one (given as text, so shown only when it re-tokenizes to those tokens).
    "$ABLITERATE" generate --model "$MODEL" --raw --prompt "$prompt$(jq -j .before "$work/cmp.json")" --max-new-tokens 1 --json \
      >"$work/step.json"
    jq -r --slurpfile ours "$work/ours.json" --argjson k "$(jq .k "$work/cmp.json")" '
      if .prompt_token_ids == ($ours[0].prompt_token_ids + $ours[0].completion_token_ids[0:$k]) then
        "  our top logits at that token: " + ([.first_step_top10[0:3][] | "\(.token | @json) \(.logit * 1000 | round / 1000)"] | join(", "))
      else "  (the text before that token re-tokenizes differently; no logits shown)" end' "$work/step.json"
  fi
done
if [[ -n $SOURCE ]]; then
  echo "ours on the directory and on the GGUF: $((${#PROMPTS[@]} - source_differed)) of ${#PROMPTS[@]} prompts equal"
fi
if ((differed == 0 && source_differed == 0)); then
  echo "all ${#PROMPTS[@]} prompts equal"
else
  ((differed == 0)) || echo "$differed of ${#PROMPTS[@]} prompts differ"
  exit 1
fi
