#!/usr/bin/env python3
"""Does one refusal direction carry a Gemma 3 organism's refusal? Diagnostics in transformers (a fixture
tool, like make-gemma-organism.py; the tool itself stays Python-free).

    # r̂ from `abliterate measure` (projected, layer L, or "own": each block's own layer), removed from the
    # residual stream entering blocks LO..HI (default all) and the final norm (Arditi et al.'s directional
    # ablation) at SCALE (default 1): refusals on the harmful prompts, first-token KL on the harmless ones
    python3 Scripts/gemma-direction-diagnostics.py residual --adapter A --measurements m.safetensors 11 own:1-17 11:0-17:0.5
    # weight edits of o_proj/down_proj over a span, done here: MODE plain | u (normalize(g ⊙ r̂)) |
    # ridgeλ (the oblique edit y ← y − a(bᵀy), b = g ⊙ r̂, a ∝ (g ⊙ r̂)/(g² + λ), aᵀb = 1: λ → 0 changes the
    # post-norm write only along r̂, λ → ∞ is u): refusals and first-token KL on the harmless prompts
    python3 Scripts/gemma-direction-diagnostics.py weights --adapter A --measurements m.safetensors 13:4-17:ridge1:1

Prompts: --harmful / --harmless files (one instruction per line), rendered as abliterate renders them for
Gemma; greedy, 24 new tokens; refusal = one of the pipeline's common markers in the lowered answer.
"""
import argparse
import numpy as np
import torch
from peft import PeftModel
from safetensors.numpy import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

MARKERS = ["sorry", "i can't", "i cannot", "i won't", "i can not", "i'm not able", "cannot help", "can't help"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["residual", "weights"])
    ap.add_argument("specs", nargs="+", help="layers (residual) or L:LO-HI:MODE:SCALE (weights)")
    ap.add_argument("--adapter", required=True)
    ap.add_argument("--measurements", required=True)
    ap.add_argument("--models", default="/root/.cache/abliterate/models")
    ap.add_argument("--harmful", required=True)
    ap.add_argument("--harmless", required=True)
    ap.add_argument("--count", type=int, default=None, help="only the first N prompts of each file")
    args = ap.parse_args()
    torch.set_num_threads(2)
    gguf = "gemma-3-270m-q4_k_m.gguf"
    tok = AutoTokenizer.from_pretrained(args.models, gguf_file=gguf)
    model = AutoModelForCausalLM.from_pretrained(args.models, gguf_file=gguf, dtype=torch.float32)
    model = PeftModel.from_pretrained(model, args.adapter).merge_and_unload().eval()
    means = load_file(args.measurements)
    harmful = [l.strip() for l in open(args.harmful) if l.strip()][:args.count]
    harmless = [l.strip() for l in open(args.harmless) if l.strip()][:args.count]

    def encode(p):
        text = f"<bos><start_of_turn>user\n{p}<end_of_turn>\n<start_of_turn>model\n"
        return tok(text, add_special_tokens=False, return_tensors="pt").input_ids

    def refusals():
        n = 0
        for p in harmful:
            ids = encode(p)
            with torch.no_grad():
                out = model.generate(ids, max_new_tokens=24, do_sample=False)
            n += any(m in tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True).lower() for m in MARKERS)
        return n

    def first_token_log_probs():
        with torch.no_grad():
            return [torch.log_softmax(model(encode(p)).logits[0, -1].float(), -1) for p in harmless]

    def direction(layer):  # the projected direction, as `abliterate` computes it from the stored means
        r = means["harmful.mean"][layer] - means["harmless.mean"][layer]
        a = means["harmless.mean"][layer] / np.linalg.norm(means["harmless.mean"][layer])
        r = r - (r @ a) * a
        return torch.tensor(r / np.linalg.norm(r), dtype=torch.float32)

    if args.what == "residual":
        baseline = first_token_log_probs()
        print(f"no ablation: {refusals()}/{len(harmful)} refusals", flush=True)
        for spec in args.specs:
            # L[:LO-HI[:SCALE]]: r̂ of layer L (or each block's own layer, "own") scaled out of the inputs of
            # blocks LO..HI and of the final norm (default: every block, scale 1)
            parts = spec.split(":")
            lo, hi = map(int, parts[1].split("-")) if len(parts) > 1 else (0, len(model.model.layers) - 1)
            scale = float(parts[2]) if len(parts) > 2 else 1.0

            def projector(layer):
                r = direction(max(layer, 1) if parts[0] == "own" else int(parts[0]))
                return lambda h: h - scale * (h @ r)[..., None] * r

            def before_block(project):
                def hook(module, a, kw):
                    if a:
                        return (project(a[0]),) + a[1:], kw
                    kw["hidden_states"] = project(kw["hidden_states"])
                    return a, kw
                return hook
            hooks = [model.model.layers[i].register_forward_pre_hook(before_block(projector(i)), with_kwargs=True)
                     for i in range(lo, hi + 1)]
            final = projector(len(model.model.layers))
            hooks.append(model.model.norm.register_forward_pre_hook(lambda m, a: (final(a[0]),)))
            edited = first_token_log_probs()
            kl = np.mean([(p.exp() * (p - q)).sum().item() for p, q in zip(baseline, edited)])
            print(f"r̂ {spec} ablated in the residual: {refusals()}/{len(harmful)} refusals, first-token KL {kl:.3f}",
                  flush=True)
            for h in hooks:
                h.remove()
        return

    original = {k: v.clone() for k, v in model.state_dict().items()}
    baseline = first_token_log_probs()
    for spec in args.specs:
        layer, span, mode, scale = spec.split(":")
        lo, hi = map(int, span.split("-"))
        model.load_state_dict(original)
        r = direction(int(layer))
        with torch.no_grad():
            for i in range(lo, hi + 1):
                block = model.model.layers[i]
                for w, norm in [(block.self_attn.o_proj.weight, block.post_attention_layernorm),
                                (block.mlp.down_proj.weight, block.post_feedforward_layernorm)]:
                    g = 1 + norm.weight.float()
                    if mode == "plain":
                        a = b = r
                    elif mode == "u":
                        a = b = g * r / (g * r).norm()
                    else:
                        lam = float(mode[len("ridge"):])
                        b = g * r
                        a = b / (g * g + lam)
                        a = a / (a @ b)
                    w -= float(scale) * torch.outer(a, b @ w)
        edited = first_token_log_probs()
        kl = np.mean([(p.exp() * (p - q)).sum().item() for p, q in zip(baseline, edited)])
        print(f"{spec}: {refusals()}/{len(harmful)} refusals, first-token KL {kl:.3f}", flush=True)


if __name__ == "__main__":
    main()
