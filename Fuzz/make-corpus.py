#!/usr/bin/env python3
"""Writes the seed corpora under Fuzz/Corpus/<target>/: small valid and near-valid inputs for each
fuzz target. Standard library only; run from anywhere: python3 Fuzz/make-corpus.py"""
import json, os, struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "Corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---------- GGUF ----------
def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b

def gval(v):
    """(type id, bytes) of a Python value: str, bool, int (uint32 / int64), float (float32), list."""
    if isinstance(v, str): return 8, gstr(v)
    if isinstance(v, bool): return 7, struct.pack("<B", v)
    if isinstance(v, int): return (4, struct.pack("<I", v)) if 0 <= v < 2**32 else (11, struct.pack("<q", v))
    if isinstance(v, float): return 6, struct.pack("<f", v)
    if isinstance(v, list):
        t = gval(v[0])[0] if v else 8
        return 9, struct.pack("<IQ", t, len(v)) + b"".join(gval(x)[1] for x in v)
    raise TypeError(v)

def gguf(kv, tensors, version=3, alignment=32):
    """tensors: (name, dims innermost first, ggml type, data bytes)."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kv))
    for k, v in kv.items():
        t, b = gval(v)
        out += gstr(k) + struct.pack("<I", t) + b
    offset, datas = 0, []
    for name, dims, typ, data in tensors:
        out += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", typ, offset)
        datas.append((offset, data))
        offset += (len(data) + alignment - 1) // alignment * alignment
    out += b"\0" * (-len(out) % alignment)
    data_start = len(out)
    for off, data in datas:
        out += b"\0" * (data_start + off - len(out)) + data
    return out

f32 = lambda xs: struct.pack("<%df" % len(xs), *xs)
f16 = lambda xs: struct.pack("<%de" % len(xs), *xs)
q8_0 = struct.pack("<e", 0.1) + bytes(range(32))            # one block of 32
q4_0 = struct.pack("<e", 0.2) + bytes(range(0, 256, 16))    # one block of 32
q4_1 = struct.pack("<ee", 0.2, -1.0) + bytes(range(16))

put("gguf", "empty-v3.gguf", gguf({}, []))
put("gguf", "v2-metadata.gguf", gguf({"general.architecture": "llama", "general.alignment": 32,
                                      "llama.block_count": 2, "llama.rope.freq_base": 10000.0}, [], version=2))
put("gguf", "tensors.gguf", gguf({"general.architecture": "llama"}, [
    ("token_embd.weight", [4, 2], 0, f32([1, 2, 3, 4, 5, 6, 7, 8])),
    ("output_norm.weight", [4], 1, f16([1, 1, 1, 1])),
    ("blk.0.attn_q.weight", [32, 1], 8, q8_0),
    ("blk.0.attn_k.weight", [32], 2, q4_0),
    ("blk.0.attn_v.weight", [32], 3, q4_1),
    ("scalar", [], 0, f32([2.5])),
]))
gpt2_tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "H", "e", "l", "o", "\u0120", "w", "He", "ll", "Hello", "1", "2"]
put("gguf", "tokenizer-gpt2.gguf", gguf({
    "general.architecture": "llama", "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "smollm",
    "tokenizer.ggml.tokens": gpt2_tokens, "tokenizer.ggml.token_type": [3, 3, 3] + [1] * 11,
    "tokenizer.ggml.merges": ["H e", "l l", "He ll", "Hell o"], "tokenizer.ggml.bos_token_id": 1,
    "tokenizer.ggml.eos_token_id": 2, "tokenizer.ggml.add_bos_token": False,
    "tokenizer.chat_template": "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}",
}, [("token_embd.weight", [2, 14], 0, f32([0.5] * 28))]))
spm_tokens = ["<unk>", "<s>", "</s>", "<0x0A>", "<0x41>", "\u2581", "\u2581H", "e", "l", "o", "\u2581He", "ll", "H"]
put("gguf", "tokenizer-llama.gguf", gguf({
    "general.architecture": "llama", "tokenizer.ggml.model": "llama",
    "tokenizer.ggml.tokens": spm_tokens, "tokenizer.ggml.scores": [0.0, 0.0, 0.0, 0.0, 0.0, -1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0],
    "tokenizer.ggml.token_type": [2, 3, 3, 6, 6, 1, 1, 1, 1, 1, 1, 1, 1], "tokenizer.ggml.bos_token_id": 1,
    "tokenizer.ggml.eos_token_id": 2, "tokenizer.ggml.unknown_token_id": 0, "tokenizer.ggml.add_space_prefix": True,
}, []))
put("gguf", "tokenizer-gemma.gguf", gguf({
    "general.architecture": "gemma3", "tokenizer.ggml.model": "llama",
    "tokenizer.ggml.tokens": ["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>", "  ", "a", "b", "ab", "<0x0A>"],
    "tokenizer.ggml.token_type": [3, 3, 3, 3, 3, 1, 1, 1, 1, 6], "tokenizer.ggml.bos_token_id": 2,
    "tokenizer.ggml.eos_token_id": 1,
}, []))
put("gguf", "nested-array.gguf", gguf({"a": [[1, 2], [3]], "s": ["x", ""], "i": -5, "f": 1.5, "b": True}, []))
put("gguf", "truncated.gguf", gguf({"general.architecture": "llama"}, [("t", [8], 0, f32([1] * 8))])[:-9])

# ---------- safetensors ----------
def st(tensors, metadata=None, pad=True):
    """tensors: (name, dtype, shape, data bytes) laid out in order."""
    header, off, data = {}, 0, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, b in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(b)]}
        off += len(b); data += b
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data

bf16 = lambda xs: b"".join(struct.pack("<f", x)[2:] for x in xs)
put("safetensors", "f32.safetensors", st([("a", "F32", [2, 2], f32([1, 2, 3, 4]))], {"format": "pt"}))
put("safetensors", "mixed.safetensors", st([
    ("w.bf16", "BF16", [3], bf16([1, -2, 0.5])), ("w.f16", "F16", [2, 1], f16([1, 2])),
    ("i8", "I8", [4], bytes([1, 255, 3, 4])), ("flag", "BOOL", [2], b"\x01\x00"), ("i64", "I64", [1], struct.pack("<q", -3)),
    ("empty", "F32", [0, 4], b""), ("scalar", "F64", [], struct.pack("<d", 3.0)), ("u16", "U16", [1], b"\x01\x02")]))
put("safetensors", "no-metadata-unpadded.safetensors", st([("x", "F32", [1], f32([7]))], pad=False))
put("safetensors", "empty-header.safetensors", struct.pack("<Q", 2) + b"{}")
put("safetensors", "overlap.safetensors", struct.pack("<Q", 88) + json.dumps(
    {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}},
    separators=(",", ":")).encode().ljust(88) + bytes(12))

# ---------- sharded index (shards are written by the fuzzer itself) ----------
s1, s2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
put("safetensors_index", "valid.json", json.dumps({"metadata": {"total_size": 96}, "weight_map": {
    "model.embed_tokens.weight": s1, "model.norm.weight": s1, "lm_head.weight": s2,
    "model.layers.0.mlp.down_proj.weight": s2}}, indent=2))
put("safetensors_index", "one-shard.json", json.dumps({"weight_map": {"model.norm.weight": s1}}))
put("safetensors_index", "missing-tensor.json", json.dumps({"metadata": {}, "weight_map": {"nope": s2}}))
put("safetensors_index", "bad-shard.json", json.dumps({"weight_map": {"x": "broken.safetensors", "y": "../etc"}}))

# ---------- tokenizer.json ----------
byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
added = [{"id": 0, "content": "<|endoftext|>", "special": True}, {"id": 1, "content": "<|im_start|>", "special": True},
         {"id": 2, "content": "<|im_end|>", "special": True}]
vocab = {t: i for i, t in enumerate(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "H", "e", "l", "o", "\u0120", "w",
                                     "He", "ll", "llo", "Hello", "\u0120w", "1", "2", "\u010a"])}
merges = ["H e", "l l", "ll o", "He llo", "\u0120 w"]
def tok(model, pre=byte_level, normalizer=None, added_tokens=added, post=None):
    return json.dumps({"version": "1.0", "added_tokens": added_tokens, "normalizer": normalizer, "pre_tokenizer": pre,
                       "post_processor": post, "model": model}, ensure_ascii=False, indent=1)
put("tokenizer_json", "byte-level.json", tok({"type": "BPE", "vocab": vocab, "merges": merges}))
put("tokenizer_json", "byte-level-pair-merges.json", tok({"type": "BPE", "vocab": vocab, "merges": [m.split(" ") for m in merges]},
    post={"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|im_start|>", "type_id": 0}},
                                                   {"Sequence": {"id": "A", "type_id": 0}}]}))
put("tokenizer_json", "digits.json", tok({"type": "BPE", "vocab": vocab, "merges": merges},
    pre={"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, byte_level]}))
spm_vocab = {t: i for i, t in enumerate(["<unk>", "<s>", "</s>", "<0x0A>", "<0x41>", "\u2581", "\u2581H", "e", "l", "o", "\u2581He", "ll", "H"])}
put("tokenizer_json", "sentencepiece.json", tok(
    {"type": "BPE", "byte_fallback": True, "unk_token": "<unk>", "vocab": spm_vocab, "merges": ["\u2581 H", "\u2581H e", "l l"]},
    pre=None, added_tokens=[{"id": 0, "content": "<unk>", "special": True}, {"id": 1, "content": "<s>", "special": True}],
    normalizer={"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                    {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}))
put("tokenizer_json", "escapes.json", '{"model": {"type": "BPE", "vocab": {"\\u00e9": 0, "e\\u0301": 1, "\\ud83d\\ude00": 2, "\\"\\\\\\/\\b\\f\\n\\r\\t": 3}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}}')

# ---------- tokenizer_config.json ----------
chatml = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
put("tokenizer_config", "chatml.json", json.dumps({"add_bos_token": False, "bos_token": "<|im_start|>", "eos_token": "<|im_end|>",
    "unk_token": None, "pad_token": "<|endoftext|>", "chat_template": chatml, "model_max_length": 8192}, indent=2))
put("tokenizer_config", "token-objects.json", json.dumps({"add_bos_token": True,
    "bos_token": {"content": "<|endoftext|>", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "__type": "AddedToken"},
    "eos_token": {"content": "<|im_end|>"}}))
put("tokenizer_config", "template-list.json", json.dumps({"chat_template": [{"name": "default", "template": chatml},
    {"name": "tool_use", "template": "{{ tools }}"}]}))
put("tokenizer_config", "empty.json", "{}")
put("tokenizer_config", "not-object.json", "[1, 2, 3]")

# ---------- chat templates ----------
put("chat_template", "chatml.jinja", chatml)
put("chat_template", "gemma.jinja", """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}{%- set role = "model" -%}{%- else -%}{%- set role = message['role'] -%}{%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {{ message['content'] | trim }}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}{{'<start_of_turn>model\n'}}{%- endif -%}
""")
put("chat_template", "llama3.jinja", """{{- bos_token }}
{%- set ns = namespace(found=false) %}
{%- for message in messages %}
    {%- if message.role == 'system' %}{%- set ns.found = true %}{%- endif %}
{%- endfor %}
{%- if not ns.found %}{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' + 'Default system.' | upper + '<|eot_id|>' }}{%- endif %}
{%- for message in messages %}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}
""")
put("chat_template", "expressions.jinja", """{% set xs = [1, 2, 3] %}{{ xs | length }} {{ xs | join(', ') }} {{ (xs[0] + 2) * 3 // 2 % 5 }}
{% for i in range(3) if i != 1 %}{{ loop.index }}:{{ i }}{% if not loop.last %},{% endif %}{% else %}none{% endfor %}
{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | list | tojson }}
{{ {'a': 1, 'b': [true, none]} | tojson }} {{ 'x' ~ 1.5 ~ "y" }} {{ 'abc'[::-1] }} {{ "A b" | lower | replace('b', 'c') | title }}
{% if messages is defined and messages|length > 2 and 'x' in 'xyz' %}yes{% elif false %}no{% endif %}
{#- comment -#}{% raw %}{{ not parsed }}{% endraw %}{{ messages[-1].content.strip() | default('d') }}
{% macro m(a, b=2) %}{{ a }}-{{ b }}{% endmacro %}{{ m(1) }}{{ 3 if true else 4 }}{{ 2 ** 10 }}
""")
put("chat_template", "broken.jinja", "{% for m in messages %}{{ m.content ")

# ---------- prompt files: first byte = format (bits 0-1: txt jsonl json csv) and field (bits 2-3) ----------
put("prompt_file", "txt", b"\x00" + "Write a poem.\r\nHow do I bake bread?\n\n  How do I bake bread?  \n\xef\xbb\xbfcaf\u00e9\n".encode())
put("prompt_file", "jsonl", b"\x01" + b'{"prompt": "Tell me a joke."}\n"A bare string"\nnull\n\n{"instruction": "Do X", "output": "y"}\n')
put("prompt_file", "jsonl-field-text", b"\x09" + b'{"text": "one", "prompt": "two"}\r\n{"text": null}\n')
put("prompt_file", "json", b"\x02" + b'["a", {"goal": "b"}, null, " a ", {"prompt": "c\\u00e9"}]')
put("prompt_file", "csv", b"\x03" + b'id,prompt,category\n1,"Say ""hi"", please",x\n2,"multi\nline",y\n\n3,plain,z\r\n')
put("prompt_file", "csv-field-prompt", b"\x07" + b'\xef\xbb\xbf prompt ,text\n"unterminated,a\n')

# ---------- plan strings (CLI form and JSON) ----------
for i, s in enumerate(["23:11-23,29:24-41@0.8", "0:0", " 5 : 1 - 3 @ -0.5 , 6:4", "12:0-30@1e-3",
                       '{"entries": [{"measurementLayer": 23, "firstTarget": 11, "lastTarget": 23, "scale": 0.8}]}',
                       '[{"measurementLayer": 1, "firstTarget": 0, "lastTarget": 0}]', "1:2-1", "3:1-2,4:2-3"]):
    put("plan", "plan-%d" % i, s)

# ---------- adapter_config.json ----------
put("adapter_config", "peft.json", json.dumps({"alpha_pattern": {}, "bias": "none", "fan_in_fan_out": False, "lora_alpha": 32,
    "lora_dropout": 0.05, "peft_type": "LORA", "r": 2, "rank_pattern": {}, "target_modules": ["q_proj", "v_proj"],
    "task_type": "CAUSAL_LM", "use_dora": False, "use_rslora": False}, indent=2))
put("adapter_config", "rslora-string-target.json", json.dumps({"r": 2, "lora_alpha": 16.5, "target_modules": "q_proj", "use_rslora": True}))
put("adapter_config", "wrong-rank.json", json.dumps({"r": 4, "lora_alpha": 8, "target_modules": ["q_proj"]}))
put("adapter_config", "dora.json", json.dumps({"peft_type": "LORA", "r": 2, "lora_alpha": 8, "target_modules": [], "use_dora": True}))

# ---------- adapter tensors (config is r = 2) ----------
A = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
B = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"
put("adapter_tensors", "f32.safetensors", st([(A, "F32", [2, 3], f32([0.1] * 6)), (B, "F32", [4, 2], f32([0.2] * 8))], {"format": "pt"}))
put("adapter_tensors", "bf16-two-targets.safetensors", st([
    (A, "BF16", [2, 2], bf16([1, 2, 3, 4])), (B, "BF16", [2, 2], bf16([1, 0, 0, 1])),
    (A.replace("q_proj", "v_proj"), "BF16", [2, 1], bf16([1, 1])), (B.replace("q_proj", "v_proj"), "BF16", [1, 2], bf16([2, 2]))]))
put("adapter_tensors", "lacks-b.safetensors", st([(A, "F32", [2, 3], f32([0.1] * 6))]))

# ---------- measurement files ----------
def measurements(layer_count=2, hidden=4, meta_over=None, rows=None):
    meta = {"adapter": None, "architecture": "llama", "chatTemplate": True, "harmfulCount": 8, "harmlessCount": 8,
            "hiddenSize": hidden, "layerConvention": "index L", "layerCount": layer_count, "model": "m.gguf",
            "position": "last prompt token", "quantization": "none", "systemPrompt": None, "toolVersion": "0.1.0",
            "winsorizeQuantile": 1.0}
    meta.update(meta_over or {})
    r = (rows if rows is not None else layer_count + 1)
    n = r * hidden
    ts = [("harmful.m2", "F32", [r, hidden], f32([1.0] * n)), ("harmful.mean", "F32", [r, hidden], f32([(i % 5) - 2.0 for i in range(n)])),
          ("harmless.m2", "F32", [r, hidden], f32([1.0] * n)), ("harmless.mean", "F32", [r, hidden], f32([(i % 3) * 0.5 for i in range(n)]))]
    return st(ts, {"abliterate.measurements": json.dumps(meta, sort_keys=True), "format": "pt"})
put("measurements", "valid.safetensors", measurements())
put("measurements", "one-layer.safetensors", measurements(layer_count=0, hidden=2))
put("measurements", "shape-mismatch.safetensors", measurements(rows=2))
put("measurements", "zero-count.safetensors", measurements(meta_over={"harmfulCount": 0}))
print("corpus written to", ROOT)
