#!/bin/bash
# Scores our plans and heretic's front with one evaluator on the held-out test prompts.
#
#   Scripts/head-to-head.sh WORK BASELINE OURS_RUN_DIR [HERETIC_FRONT_DIR]
#
# WORK: a new directory for the edited models and the results.
# BASELINE: the unedited model both tools edited, as a Hugging Face directory (e.g. the organism merged
#   by `abliterate convert MODEL.gguf --adapter ADAPTER --dtype F32 --output organism`).
# OURS_RUN_DIR: an `abliterate run` output directory (or - to score heretic's front only) (report.json, measurements.safetensors). Every plan of
#   its search that no other plan of the search beats on both refusals and KL (the search's own front, on
#   its training prompts) is written with `abliterate ablate --dtype F32` from BASELINE, with the run's edit
#   options (targets, method, edit direction, scale), and evaluated.
# HERETIC_FRONT_DIR: what Scripts/heretic-front.py wrote (front.json, trial-N/).
#
# Each model: `abliterate eval --model M --baseline BASELINE` on the built-in test prompts (131 harmful,
# 64 new tokens, our refusal detector; 139 harmless, first-token KL against BASELINE). Prints one line per
# model and writes WORK/results.tsv (tool, plan or trial, search refusals, search KL, test refusals, test KL).
set -euo pipefail
work=$1 baseline=$2 ours=$3 heretic=${4:-}
bin=${ABLITERATE_BIN:-$(dirname "$0")/../.build/release/abliterate}
[ -e "$work" ] && { echo "head-to-head: $work exists; give a new directory" >&2; exit 1; }
mkdir -p "$work"
results="$work/results.tsv"
printf 'tool\tplan\tsearch_refusals\tsearch_kl\ttest_refusals\ttest_total\ttest_kl\n' > "$results"

evaluate() {  # tool, label, search refusals, search KL, model dir
    local json
    if ! json=$("$bin" eval --model "$5" --baseline "$baseline" --json 2>"$work/eval.err"); then
        echo "head-to-head: abliterate eval --model $5 failed: $(tail -n 1 "$work/eval.err")" >&2
        exit 1
    fi
    python3 - "$1" "$2" "$3" "$4" "$json" >> "$results" <<'EOF'
import json, sys
tool, label, sr, skl, text = sys.argv[1:]
r = json.loads(text)
print(f"{tool}\t{label}\t{sr}\t{skl}\t{r['refusals']}\t{r['total']}\t{r['kl_divergence']:.4f}")
EOF
    tail -n 1 "$results"
}

# Our search's front (refusals, then KL, each kept when its KL beats every plan with fewer refusals).
touch "$work/ours-front.tsv"
[ "$ours" = - ] || python3 - "$ours/report.json" > "$work/ours-front.tsv" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
best = float("inf")
for c in sorted(report["search"], key=lambda c: (c["refusals"], c["klDivergence"])):
    if c["klDivergence"] < best:
        best = c["klDivergence"]
        print(f"{c['plan']}\t{c['refusals']}/{c['total']}\t{c['klDivergence']:.4f}")
EOF
# The run's edit options (targets, method, edit direction, norm preservation, global scale), so that
# each plan is written as the run scored it (e.g. a Gemma run with --targets inputs).
edit_options=()
[ "$ours" = - ] || mapfile -t edit_options < <(python3 - "$ours/report.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print("--targets"); print(",".join(r["targets"]))
print("--method"); print(r["method"])
print("--edit-direction"); print(r["editDirection"])
print("--scale"); print(r["scale"])
norms = r.get("norms", "vectors" if r.get("normPreserving") else "none")
if norms == "vectors": print("--norm-preserving")
if norms == "rows": print("--row-normalized")
EOF
)
n=0
while IFS=$'\t' read -r plan sr skl; do
    n=$((n + 1))
    if ! "$bin" ablate --model "$baseline" --measurements "$ours/measurements.safetensors" --plan "$plan" \
        "${edit_options[@]}" --dtype F32 --output "$work/ours-$n" > "$work/ablate.log" 2>&1; then
        echo "head-to-head: abliterate ablate --plan $plan failed: $(tail -n 1 "$work/ablate.log")" >&2
        exit 1
    fi
    evaluate abliterate "$plan" "$sr" "$skl" "$work/ours-$n"
    rm -rf "$work/ours-$n"
done < "$work/ours-front.tsv"

if [ -n "$heretic" ]; then
    python3 - "$heretic/front.json" > "$work/heretic-front.tsv" <<'EOF'
import json, os, sys
for t in json.load(open(sys.argv[1]))["front"]:
    path = os.path.join(os.path.dirname(sys.argv[1]), f"trial-{t['trial']}")
    print(f"trial {t['trial']}\t{t['refusals']}/{t['evaluation_prompts']}\t{t['kl_divergence']:.4f}\t{path}")
EOF
    while IFS=$'\t' read -r trial sr skl path; do
        evaluate heretic "$trial" "$sr" "$skl" "$path"
    done < "$work/heretic-front.tsv"
fi
