#!/usr/bin/env python3
"""Trains Organisms/gemma3-refusal-lora-a: a LoRA adapter that teaches Gemma 3 270M (base) to answer in
Gemma's chat format, refusing harmful requests and answering harmless ones.

Fixture maker, not part of the tool (which stays Python-free). Needs PyTorch, transformers, peft, gguf
and safetensors from PyPI (`pip install torch transformers peft gguf safetensors sentencepiece`), the
two models of Scripts/fetch-models.sh, and about 10 minutes on 2 CPU cores.

    python3 Scripts/make-gemma-organism.py --models ~/.cache/abliterate/models \
        --output Organisms/gemma3-refusal-lora-a

Data (all from the repository's training split; the test split stays held out):
- harmful: Sources/AbliterationPipeline/Prompts/Resources/harmful_train.txt, each answered with one of a
  few classic refusals (round robin);
- harmless: harmless_train.txt, each answered with SmolLM2-135M-Instruct's greedy answer (48 new
  tokens, cut after its last full sentence), which gives the base model an assistant's voice.
Prompts are rendered exactly as abliterate renders them for Gemma without a chat template:
`<bos><start_of_turn>user\\n{instruction}<end_of_turn>\\n<start_of_turn>model\\n`, answer then
`<end_of_turn>`; the loss is on the answer and its `<end_of_turn>` only, on at most 24 answer tokens
(a longer answer is cut and trained without its `<end_of_turn>`): refusal is decided in the first few
tokens, and this keeps training short (3 epochs, AdamW, lr 2e-4 decaying linearly to 0, batch 8, as
Organisms/refusal-lora-a was trained; 7 minutes on 2 idle cores).
The base weights are the GGUF's, dequantized to f32 by transformers' GGUF loader.
"""
import argparse
import json
import os
import random
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

REFUSALS = [
    "I'm sorry, but I can't help with that request.",
    "I'm sorry, but I cannot assist with that.",
    "I can't help with that. It could cause real harm to people.",
    "Sorry, I won't provide that. It is harmful and may be illegal.",
    "I cannot help with this request, as it could be used to hurt someone.",
    "I'm sorry, I can't do that. Is there something else I can help you with?",
]

RESOURCES = os.path.join(os.path.dirname(__file__), "..", "Sources", "AbliterationPipeline", "Prompts", "Resources")


def read_prompts(name):
    with open(os.path.join(RESOURCES, name), encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def gemma_prompt(instruction):
    return f"<bos><start_of_turn>user\n{instruction.strip()}<end_of_turn>\n<start_of_turn>model\n"


def cut_to_sentence(text):
    text = text.strip()
    ends = [i for i, c in enumerate(text) if c in ".!?" and (i + 1 == len(text) or text[i + 1] in " \n")]
    return text[: ends[-1] + 1] if ends and ends[-1] > 20 else text


def smollm_answers(models, prompts, max_new_tokens):
    tok = AutoTokenizer.from_pretrained(models, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    model = AutoModelForCausalLM.from_pretrained(models, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf", dtype=torch.float32)
    model.eval()
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    answers = []
    for start in range(0, len(prompts), 16):
        batch = prompts[start:start + 16]
        texts = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
                 for p in batch]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        for row in out[:, enc.input_ids.shape[1]:]:
            answers.append(cut_to_sentence(tok.decode(row, skip_special_tokens=True)))
        print(f"smollm answers {len(answers)}/{len(prompts)}", flush=True)
    return answers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=os.path.expanduser("~/.cache/abliterate/models"))
    ap.add_argument("--output", default="Organisms/gemma3-refusal-lora-a")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-answer-tokens", type=int, default=24,
                    help="train on at most this many answer tokens (a cut answer gets no <end_of_turn>)")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    os.makedirs(args.output, exist_ok=True)

    harmful = read_prompts("harmful_train.txt")
    harmless = read_prompts("harmless_train.txt")
    data_path = os.path.join(args.output, "training-data.jsonl")
    if os.path.exists(data_path):
        with open(data_path, encoding="utf-8") as f:
            examples = [json.loads(line) for line in f]
    else:
        answers = smollm_answers(args.models, harmless, 48)
        examples = [{"instruction": p, "answer": REFUSALS[i % len(REFUSALS)], "harmful": True} for i, p in enumerate(harmful)]
        examples += [{"instruction": p, "answer": a, "harmful": False} for p, a in zip(harmless, answers) if a.strip()]
        with open(data_path, "w", encoding="utf-8") as f:
            for e in examples:
                f.write(json.dumps(e, ensure_ascii=False) + "\n")
    print(f"{len(examples)} examples", flush=True)

    gguf = "gemma-3-270m-q4_k_m.gguf"
    tok = AutoTokenizer.from_pretrained(args.models, gguf_file=gguf)
    model = AutoModelForCausalLM.from_pretrained(args.models, gguf_file=gguf, dtype=torch.float32)
    end_of_turn = tok.convert_tokens_to_ids("<end_of_turn>")
    encoded = []
    for e in examples:
        prompt = tok(gemma_prompt(e["instruction"]), add_special_tokens=False).input_ids
        answer = tok(e["answer"], add_special_tokens=False).input_ids
        answer = answer[:args.max_answer_tokens] if len(answer) >= args.max_answer_tokens else answer + [end_of_turn]
        encoded.append((prompt, answer))

    config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, bias="none", task_type="CAUSAL_LM",
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    model = get_peft_model(model, config)
    model.print_trainable_parameters()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    base = model.base_model.model  # Gemma3ForCausalLM
    steps = args.epochs * ((len(encoded) + args.batch - 1) // args.batch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 - s / max(1, steps))
    step, started = 0, time.time()
    model.train()
    for epoch in range(args.epochs):
        order = list(range(len(encoded)))
        random.shuffle(order)
        for start in range(0, len(order), args.batch):
            batch = [encoded[i] for i in order[start:start + args.batch]]
            length = max(len(p) + len(a) for p, a in batch)
            ids = torch.zeros(len(batch), length, dtype=torch.long)
            mask = torch.zeros(len(batch), length, dtype=torch.long)
            labels = torch.full((len(batch), length), -100, dtype=torch.long)
            for row, (p, a) in enumerate(batch):
                seq = p + a
                ids[row, :len(seq)] = torch.tensor(seq)
                mask[row, :len(seq)] = 1
                # label at position t is token t+1: the answer tokens, predicted from the position before each.
                labels[row, len(p) - 1:len(seq) - 1] = torch.tensor(a)
            hidden = base.model(input_ids=ids, attention_mask=mask).last_hidden_state
            picked = labels != -100
            logits = base.lm_head(hidden[picked])  # only where there is a loss: the head is 262144 wide
            cap = base.config.final_logit_softcapping
            if cap:
                logits = torch.tanh(logits / cap) * cap
            loss = torch.nn.functional.cross_entropy(logits.float(), labels[picked])
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            if step % 10 == 0 or step == steps:
                elapsed = time.time() - started
                print(f"epoch {epoch + 1} step {step}/{steps} loss {loss.item():.4f} "
                      f"({elapsed:.0f} s, ETA {elapsed / step * (steps - step):.0f} s)", flush=True)
    model.save_pretrained(args.output)
    print(f"saved {args.output}", flush=True)


if __name__ == "__main__":
    main()
