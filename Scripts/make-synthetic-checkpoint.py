#!/usr/bin/env python3
"""Writes a synthetic Gemma 3 text checkpoint of a real model's shape, for memory measurements at scale.

The weights are random bf16 (matrices) and f32 (norms, stored as g = 1 + w as llama.cpp's Gemma GGUFs do);
the metadata and tokenizer (262,144 tokens, chat template) are copied from a Gemma 3 GGUF, with the
dimensions replaced. The file is a GGUF with bf16 tensors: memory-mapped like a bf16 safetensors checkpoint,
so the anonymous memory a command needs is the same. Nothing the model says means anything.

    Scripts/make-synthetic-checkpoint.py --shape 4b --tokenizer ~/.cache/abliterate/models/gemma-3-270m-q4_k_m.gguf \\
        --output /tmp/gemma3-4b-synthetic.gguf

Shapes (Hugging Face config names): 4b = hidden 2560, 34 layers, intermediate 10240, 8 heads, 4 KV heads,
head_dim 256; 12b = hidden 3840, 48 layers, intermediate 15360, 16 heads, 8 KV heads, head_dim 256.
The file is written tensor by tensor (one tensor in memory at a time); never commit it.

With --adapter DIR it also writes a random PEFT LoRA adapter for it (rank --rank, alpha 2·rank, every
q/k/v/o/gate/up/down projection: adapter_config.json and adapter_model.safetensors, f32).
"""
import json
import os
import argparse
import sys

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter
from safetensors.numpy import save_file

SHAPES = {
    "4b": dict(hidden=2560, layers=34, intermediate=10240, heads=8, kv_heads=4, head_dim=256, window=1024),
    "12b": dict(hidden=3840, layers=48, intermediate=15360, heads=16, kv_heads=8, head_dim=256, window=1024),
}


def random_bf16(rng, shape):
    """bf16 bit patterns with random sign and mantissa and |x| in [2^-9, 2^-5): std about 0.01."""
    bits = rng.integers(0, 1 << 16, size=shape, dtype=np.uint16)
    exponent = (118 + ((bits >> 7) & 3)).astype(np.uint16)
    return (bits & np.uint16(0x807F)) | (exponent << np.uint16(7))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), required=True)
    parser.add_argument("--tokenizer", required=True, help="a Gemma 3 GGUF to take the tokenizer and metadata from")
    parser.add_argument("--output", required=True)
    parser.add_argument("--layers", type=int, help="override the layer count")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--adapter", help="also write a random LoRA adapter directory here")
    parser.add_argument("--rank", type=int, default=16)
    args = parser.parse_args()
    s = dict(SHAPES[args.shape])
    if args.layers:
        s["layers"] = args.layers
    source = GGUFReader(args.tokenizer)
    vocab = len(source.fields["tokenizer.ggml.tokens"].contents())

    writer = GGUFWriter(args.output, "gemma3")
    overrides = {
        "general.name": f"synthetic gemma3 {args.shape}-shaped (random weights)",
        "gemma3.embedding_length": s["hidden"], "gemma3.block_count": s["layers"],
        "gemma3.feed_forward_length": s["intermediate"], "gemma3.attention.head_count": s["heads"],
        "gemma3.attention.head_count_kv": s["kv_heads"], "gemma3.attention.key_length": s["head_dim"],
        "gemma3.attention.value_length": s["head_dim"], "gemma3.attention.sliding_window": s["window"],
        "general.file_type": 32,  # MOSTLY_BF16
    }
    for field in source.fields.values():
        if field.name.startswith("GGUF.") or field.name in ("general.architecture", "general.quantization_version"):
            continue
        vtype = field.types[0]
        value = overrides.get(field.name, field.contents())
        sub = field.types[-1] if vtype == GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, value, vtype, sub_type=sub)

    h, i, d = s["hidden"], s["intermediate"], s["head_dim"]
    q, kv = s["heads"] * d, s["kv_heads"] * d
    tensors = [("token_embd.weight", (vocab, h), "bf16"), ("output_norm.weight", (h,), "norm")]
    for l in range(s["layers"]):
        p = f"blk.{l}."
        tensors += [
            (p + "attn_norm.weight", (h,), "norm"), (p + "attn_q.weight", (q, h), "bf16"),
            (p + "attn_k.weight", (kv, h), "bf16"), (p + "attn_v.weight", (kv, h), "bf16"),
            (p + "attn_q_norm.weight", (d,), "norm"), (p + "attn_k_norm.weight", (d,), "norm"),
            (p + "attn_output.weight", (h, q), "bf16"), (p + "post_attention_norm.weight", (h,), "norm"),
            (p + "ffn_norm.weight", (h,), "norm"), (p + "ffn_gate.weight", (i, h), "bf16"),
            (p + "ffn_up.weight", (i, h), "bf16"), (p + "ffn_down.weight", (h, i), "bf16"),
            (p + "post_ffw_norm.weight", (h,), "norm"),
        ]
    total = 0
    for name, shape, kind in tensors:
        if kind == "bf16":
            nbytes = int(np.prod(shape)) * 2
            writer.add_tensor_info(name, shape, np.dtype(np.uint16), nbytes, raw_dtype=GGMLQuantizationType.BF16)
        else:
            nbytes = int(np.prod(shape)) * 4
            writer.add_tensor_info(name, shape, np.dtype(np.float32), nbytes)
        total += nbytes
    print(f"{args.output}: {len(tensors)} tensors, {total / 1e9:.2f} GB, vocab {vocab}", file=sys.stderr)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    rng = np.random.default_rng(args.seed)
    for n, (name, shape, kind) in enumerate(tensors):
        if kind == "bf16":
            writer.write_tensor_data(random_bf16(rng, shape))
        else:
            writer.write_tensor_data((1 + rng.uniform(-0.1, 0.1, size=shape)).astype(np.float32))
        if n % 50 == 0:
            print(f"  {n}/{len(tensors)} {name}", file=sys.stderr)
    writer.close()
    if args.adapter:
        write_adapter(args.adapter, s, args.rank, rng)


def write_adapter(directory, s, rank, rng):
    """A PEFT LoRA adapter with random A (r, in) and B (out, r), small enough not to matter numerically."""
    os.makedirs(directory, exist_ok=True)
    h, i, d = s["hidden"], s["intermediate"], s["head_dim"]
    q, kv = s["heads"] * d, s["kv_heads"] * d
    shapes = {"self_attn.q_proj": (q, h), "self_attn.k_proj": (kv, h), "self_attn.v_proj": (kv, h),
              "self_attn.o_proj": (h, q), "mlp.gate_proj": (i, h), "mlp.up_proj": (i, h), "mlp.down_proj": (h, i)}
    tensors = {}
    for l in range(s["layers"]):
        for module, (out, inp) in shapes.items():
            name = f"base_model.model.model.layers.{l}.{module}"
            tensors[name + ".lora_A.weight"] = rng.normal(0, 0.01, size=(rank, inp)).astype(np.float32)
            tensors[name + ".lora_B.weight"] = rng.normal(0, 0.001, size=(out, rank)).astype(np.float32)
    save_file(tensors, os.path.join(directory, "adapter_model.safetensors"))
    config = {"peft_type": "LORA", "r": rank, "lora_alpha": 2 * rank,
              "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}
    with open(os.path.join(directory, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)


if __name__ == "__main__":
    main()
