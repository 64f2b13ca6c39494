#!/usr/bin/env python3
"""First-token KL(P_baseline ‖ P_model) per harmless prompt, computed with transformers, split by what the
baseline does with the prompt.

`abliterate eval --baseline` reports the mean over the prompts; this script gives each prompt's share, an
independent check of that mean (transformers, f32, the tokenizer's chat template), and, with `--judged`,
the mean over the prompts the baseline refuses and over those it answers (`abliterate eval --model BASELINE
--harmful PROMPTS --json` judges them). Docs/results.md, "The KL target and the organism's over-refusal".

    python3 Scripts/kl-by-prompt.py --baseline organismA --model edited --prompts harmless_test.txt \
        --judged organism-on-harmless.json --output kl.json

Both models are Hugging Face directories (`abliterate convert`/`ablate` write them); needs torch and
transformers.
"""
import argparse, json
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

parser = argparse.ArgumentParser()
parser.add_argument("--baseline", required=True)
parser.add_argument("--model", required=True)
parser.add_argument("--prompts", required=True, help="one prompt per line")
parser.add_argument("--judged", help="abliterate eval --json of the baseline on these prompts as --harmful")
parser.add_argument("--output", help="per-prompt rows (JSON)")
args = parser.parse_args()

tokenizer = AutoTokenizer.from_pretrained(args.baseline)
prompts = [line.rstrip("\n") for line in open(args.prompts, encoding="utf-8") if line.strip()]

def first_token_log_probabilities(path):
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    out = []
    with torch.no_grad():
        for prompt in prompts:
            ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                                return_tensors="pt", return_dict=True)["input_ids"]
            out.append(torch.log_softmax(model(ids).logits[0, -1].double(), -1))
    return out

baseline, model = first_token_log_probabilities(args.baseline), first_token_log_probabilities(args.model)
rows = [{"prompt": p, "kl": float((b.exp() * (b - m)).sum()),
         "baseline_top": tokenizer.decode([int(b.argmax())]), "model_top": tokenizer.decode([int(m.argmax())])}
        for p, b, m in zip(prompts, baseline, model)]
mean = lambda xs: sum(xs) / len(xs) if xs else float("nan")
print(f"{len(rows)} prompts: mean KL {mean([r['kl'] for r in rows]):.4f}")
if args.judged:
    refused = {r["prompt"]: r["refusal"] for r in json.load(open(args.judged))["responses"]}
    for label, keep in (("refused by the baseline", True), ("answered by the baseline", False)):
        kls = [r["kl"] for r in rows if refused[r["prompt"]] == keep]
        print(f"{label}: {len(kls)} prompts, mean KL {mean(kls):.4f}")
if args.output:
    json.dump(rows, open(args.output, "w"), indent=1)
