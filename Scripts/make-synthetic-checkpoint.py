#!/usr/bin/env python3
"""Writes a synthetic checkpoint of a real model's shape (random weights), for time and memory measurements at scale.

Shapes (Hugging Face config values):
  gemma-3-4b   (alias 4b)  Gemma 3: hidden 2560, 34 layers, intermediate 10240, 8 heads, 4 KV heads, head_dim 256
  gemma-3-12b  (alias 12b) Gemma 3: hidden 3840, 48 layers, intermediate 15360, 16 heads, 8 KV heads, head_dim 256
  llama-3.1-8b             Llama:   hidden 4096, 32 layers, intermediate 14336, 32 heads, 8 KV heads, vocab 128256
  qwen3-8b                 Qwen3:   hidden 4096, 36 layers, intermediate 12288, 32 heads, 8 KV heads, vocab 151936

Two outputs:
  --output X.gguf   one GGUF file with bf16 matrices and f32 norms (memory-mapped exactly as a bf16
                    safetensors checkpoint is); --tokenizer is a GGUF whose tokenizer and chat template are
                    copied (a Gemma 3 GGUF for the Gemma shapes, e.g. SmolLM2's for llama/qwen3).
  --output DIR      a Hugging Face directory as the published checkpoints are: bf16 safetensors shards of
                    at most 5 GB (model-0000K-of-0000N.safetensors), model.safetensors.index.json,
                    config.json; --tokenizer is a Hugging Face directory whose tokenizer files are copied
                    (make one from a demo GGUF: abliterate convert gemma-3-270m-q4_k_m.gguf --output g270m).

    Scripts/make-synthetic-checkpoint.py --shape gemma-3-12b --tokenizer g270m --output /tmp/g12b
    Scripts/make-synthetic-checkpoint.py --shape 4b --tokenizer gemma-3-270m-q4_k_m.gguf --output /tmp/g4b.gguf

The embedding has the real model's vocabulary rows; a tokenizer with fewer tokens uses the first ones (as
Qwen's own padded embedding does). Matrices are random bf16 with std about 0.01, norms about 1 (Gemma's
stored w about 0, its gain being 1 + w). Tensors are written a block of rows at a time; nothing the model
says means anything; never commit the output.

With --adapter DIR it also writes a random PEFT LoRA adapter for it (rank --rank, alpha 2·rank, every
q/k/v/o/gate/up/down projection: adapter_config.json and adapter_model.safetensors, f32).
"""
import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter
from safetensors.numpy import save_file

GEMMA_NOTES = dict(arch="gemma3", window=1024, rope_theta=1e6, eps=1e-6, tied=True, qk_norm=True, sandwich=True)
SHAPES = {
    "gemma-3-4b": dict(GEMMA_NOTES, hidden=2560, layers=34, intermediate=10240, heads=8, kv_heads=4,
                       head_dim=256, vocab=262208, shards=2),
    "gemma-3-12b": dict(GEMMA_NOTES, hidden=3840, layers=48, intermediate=15360, heads=16, kv_heads=8,
                        head_dim=256, vocab=262208, shards=5),
    "llama-3.1-8b": dict(arch="llama", hidden=4096, layers=32, intermediate=14336, heads=32, kv_heads=8,
                         head_dim=128, vocab=128256, rope_theta=500000.0, eps=1e-5, tied=False,
                         qk_norm=False, sandwich=False, shards=4),
    "qwen3-8b": dict(arch="qwen3", hidden=4096, layers=36, intermediate=12288, heads=32, kv_heads=8,
                     head_dim=128, vocab=151936, rope_theta=1e6, eps=1e-6, tied=False, qk_norm=True,
                     sandwich=False, shards=5),
}
ALIASES = {"4b": "gemma-3-4b", "12b": "gemma-3-12b"}
SHARD_BYTES = 5 * 10**9
ROWS_PER_BLOCK_ELEMENTS = 1 << 25


def random_bf16(rng, shape):
    """bf16 bit patterns with random sign and mantissa and |x| in [2^-9, 2^-5): std about 0.01."""
    bits = rng.integers(0, 1 << 16, size=shape, dtype=np.uint16)
    exponent = (118 + ((bits >> 7) & 3)).astype(np.uint16)
    return (bits & np.uint16(0x807F)) | (exponent << np.uint16(7))


def to_bf16(values):
    """f32 → bf16 bit patterns (round to nearest even)."""
    bits = np.asarray(values, dtype=np.float32).view(np.uint32)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def layout(s, vocab):
    """(hf_name, gguf_name, shape, kind) of every tensor, kind "matrix" or "norm"."""
    h, i, d = s["hidden"], s["intermediate"], s["head_dim"]
    q, kv = s["heads"] * d, s["kv_heads"] * d
    tensors = [("model.embed_tokens.weight", "token_embd.weight", (vocab, h), "matrix")]
    for l in range(s["layers"]):
        hf, gg = f"model.layers.{l}.", f"blk.{l}."
        block = [("input_layernorm", "attn_norm", (h,), "norm"),
                 ("self_attn.q_proj", "attn_q", (q, h), "matrix"),
                 ("self_attn.k_proj", "attn_k", (kv, h), "matrix"),
                 ("self_attn.v_proj", "attn_v", (kv, h), "matrix")]
        if s["qk_norm"]:
            block += [("self_attn.q_norm", "attn_q_norm", (d,), "norm"),
                      ("self_attn.k_norm", "attn_k_norm", (d,), "norm")]
        block += [("self_attn.o_proj", "attn_output", (h, q), "matrix")]
        if s["sandwich"]:
            block += [("post_attention_layernorm", "post_attention_norm", (h,), "norm"),
                      ("pre_feedforward_layernorm", "ffn_norm", (h,), "norm")]
        else:
            block += [("post_attention_layernorm", "ffn_norm", (h,), "norm")]
        block += [("mlp.gate_proj", "ffn_gate", (i, h), "matrix"), ("mlp.up_proj", "ffn_up", (i, h), "matrix"),
                  ("mlp.down_proj", "ffn_down", (h, i), "matrix")]
        if s["sandwich"]:
            block += [("post_feedforward_layernorm", "post_ffw_norm", (h,), "norm")]
        tensors += [(hf + a + ".weight", gg + b + ".weight", shape, kind) for a, b, shape, kind in block]
    tensors.append(("model.norm.weight", "output_norm.weight", (h,), "norm"))
    if not s["tied"]:
        tensors.append(("lm_head.weight", "output.weight", (vocab, h), "matrix"))
    return tensors


def row_blocks(rng, shape, kind, s, gguf):
    """The tensor's bf16 (or, for a GGUF norm, f32) values, a block of rows at a time."""
    if kind == "norm":
        # Gemma stores w with gain 1 + w (Hugging Face) and llama.cpp's Gemma GGUFs store the gain itself.
        base = 0.0 if (s["arch"] == "gemma3" and not gguf) else 1.0
        values = (base + rng.uniform(-0.1, 0.1, size=shape)).astype(np.float32)
        yield values if gguf else to_bf16(values)
        return
    rows = max(1, ROWS_PER_BLOCK_ELEMENTS // shape[1])
    for start in range(0, shape[0], rows):
        yield random_bf16(rng, (min(rows, shape[0] - start), shape[1]))


def hf_config(s, vocab_size):
    common = dict(hidden_size=s["hidden"], num_hidden_layers=s["layers"], intermediate_size=s["intermediate"],
                  num_attention_heads=s["heads"], num_key_value_heads=s["kv_heads"], head_dim=s["head_dim"],
                  vocab_size=vocab_size, rms_norm_eps=s["eps"], rope_theta=s["rope_theta"],
                  tie_word_embeddings=s["tied"], torch_dtype="bfloat16", attention_bias=False)
    if s["arch"] == "gemma3":
        return dict(common, architectures=["Gemma3ForCausalLM"], model_type="gemma3_text",
                    hidden_activation="gelu_pytorch_tanh", query_pre_attn_scalar=s["head_dim"],
                    sliding_window=s["window"], sliding_window_pattern=6, rope_local_base_freq=10000.0,
                    rope_scaling=dict(factor=8.0, rope_type="linear"), max_position_embeddings=131072,
                    attn_logit_softcapping=None, final_logit_softcapping=None,
                    bos_token_id=2, eos_token_id=[1, 106], pad_token_id=0)
    if s["arch"] == "llama":
        return dict(common, architectures=["LlamaForCausalLM"], model_type="llama", hidden_act="silu",
                    max_position_embeddings=131072, mlp_bias=False,
                    rope_scaling=dict(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                      original_max_position_embeddings=8192, rope_type="llama3"))
    return dict(common, architectures=["Qwen3ForCausalLM"], model_type="qwen3", hidden_act="silu",
                max_position_embeddings=40960, use_sliding_window=False)


def write_huggingface(args, s, rng):
    names = [n for n in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                         "generation_config.json", "chat_template.jinja") if os.path.exists(os.path.join(args.tokenizer, n))]
    if "tokenizer.json" not in names:
        sys.exit(f"{args.tokenizer}: no tokenizer.json (make one: abliterate convert MODEL.gguf --output DIR)")
    tensors = layout(s, s["vocab"])
    sizes = [int(np.prod(shape)) * 2 for _, _, shape, _ in tensors]
    # Shards of at most SHARD_BYTES, filled in order as transformers' save_pretrained does.
    shards, current, used = [], [], 0
    for index, size in enumerate(sizes):
        if current and used + size > SHARD_BYTES:
            shards.append(current)
            current, used = [], 0
        current.append(index)
        used += size
    shards.append(current)
    os.makedirs(args.output, exist_ok=True)
    weight_map = {}
    for k, members in enumerate(shards):
        shard_name = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        header, offset = {"__metadata__": {"format": "pt"}}, 0
        for index in members:
            name, _, shape, _ = tensors[index]
            header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + sizes[index]]}
            offset += sizes[index]
            weight_map[name] = shard_name
        encoded = json.dumps(header, separators=(",", ":")).encode()
        encoded += b" " * (-len(encoded) % 8)
        with open(os.path.join(args.output, shard_name), "wb") as f:
            f.write(struct.pack("<Q", len(encoded)) + encoded)
            for index in members:
                _, _, shape, kind = tensors[index]
                for block in row_blocks(rng, shape, kind, s, gguf=False):
                    block.tofile(f)
        print(f"  {shard_name}: {len(members)} tensors, {offset / 1e9:.2f} GB", file=sys.stderr)
    with open(os.path.join(args.output, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": sum(sizes)}, "weight_map": weight_map}, f, indent=2)
    with open(os.path.join(args.output, "config.json"), "w") as f:
        json.dump(hf_config(s, s["vocab"]), f, indent=2)
    for name in names:
        shutil.copyfile(os.path.join(args.tokenizer, name), os.path.join(args.output, name))
    print(f"{args.output}: {len(tensors)} tensors in {len(shards)} shards, {sum(sizes) / 1e9:.2f} GB", file=sys.stderr)


def write_gguf(args, s, rng):
    source = GGUFReader(args.tokenizer)
    source_arch = source.fields["general.architecture"].contents()
    vocab = len(source.fields["tokenizer.ggml.tokens"].contents())
    arch = s["arch"]
    writer = GGUFWriter(args.output, arch)
    keys = {
        f"{arch}.context_length": (32768, GGUFValueType.UINT32),
        f"{arch}.embedding_length": (s["hidden"], GGUFValueType.UINT32),
        f"{arch}.block_count": (s["layers"], GGUFValueType.UINT32),
        f"{arch}.feed_forward_length": (s["intermediate"], GGUFValueType.UINT32),
        f"{arch}.attention.head_count": (s["heads"], GGUFValueType.UINT32),
        f"{arch}.attention.head_count_kv": (s["kv_heads"], GGUFValueType.UINT32),
        f"{arch}.attention.key_length": (s["head_dim"], GGUFValueType.UINT32),
        f"{arch}.attention.value_length": (s["head_dim"], GGUFValueType.UINT32),
        f"{arch}.attention.layer_norm_rms_epsilon": (s["eps"], GGUFValueType.FLOAT32),
        f"{arch}.rope.freq_base": (s["rope_theta"], GGUFValueType.FLOAT32),
        "general.name": (f"synthetic {args.shape}-shaped (random weights)", GGUFValueType.STRING),
        "general.file_type": (32, GGUFValueType.UINT32),  # MOSTLY_BF16
    }
    if arch == "gemma3":
        keys[f"{arch}.attention.sliding_window"] = (s["window"], GGUFValueType.UINT32)
    if arch == "llama":
        keys[f"{arch}.rope.dimension_count"] = (s["head_dim"], GGUFValueType.UINT32)
        keys[f"{arch}.vocab_size"] = (vocab, GGUFValueType.UINT32)
    for name, (value, vtype) in keys.items():
        writer.add_key_value(name, value, vtype)
    for field in source.fields.values():
        # The tokenizer and the general descriptions; the source's own architecture keys are replaced above.
        if field.name.startswith(("GGUF.", source_arch + ".")) or field.name in keys or field.name in (
                "general.architecture", "general.quantization_version"):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub)

    tensors = layout(s, vocab)
    total = 0
    for _, name, shape, kind in tensors:
        if kind == "matrix":
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
    for n, (_, name, shape, kind) in enumerate(tensors):
        writer.write_tensor_data(np.concatenate(list(row_blocks(rng, shape, kind, s, gguf=True))))
        if n % 50 == 0:
            print(f"  {n}/{len(tensors)} {name}", file=sys.stderr)
    writer.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES) + sorted(ALIASES), required=True)
    parser.add_argument("--tokenizer", required=True,
                        help="a GGUF (for a .gguf output) or a Hugging Face directory (for a directory output)")
    parser.add_argument("--output", required=True, help="X.gguf, or a directory for a Hugging Face checkpoint")
    parser.add_argument("--layers", type=int, help="override the layer count")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--adapter", help="also write a random LoRA adapter directory here")
    parser.add_argument("--rank", type=int, default=16)
    args = parser.parse_args()
    args.shape = ALIASES.get(args.shape, args.shape)
    s = dict(SHAPES[args.shape])
    if args.layers:
        s["layers"] = args.layers
    rng = np.random.default_rng(args.seed)
    if args.output.endswith(".gguf"):
        write_gguf(args, s, rng)
    else:
        write_huggingface(args, s, rng)
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
