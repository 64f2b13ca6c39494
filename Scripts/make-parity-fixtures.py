"""Writes Tests/Fixtures/parity/: one tiny random checkpoint per supported architecture and config variant,
saved by transformers in f32 with a small tokenizer, and transformers' own outputs for a few prompts, which
Tests/ModelRuntimeTests/ParityTests.swift compares our runtime against.

Every fixture is hidden 64, 2-4 blocks, grouped-query attention, f32 safetensors. Weights are drawn with
spread (Q/K scaled up so attention is far from uniform, norm gains around their identity, biases large), so
each feature changes the logits well above the test's tolerance; `sensitivity` in each reference.json says
by how much (the largest top-10 logit change when transformers runs the same weights without the feature).

Per fixture, reference.json holds transformers' (f32, eager attention) results for each prompt: the prompt
ids (the chat template with add_generation_prompt=True, or the raw text with the tokenizer's special
tokens), the 10 largest logits at the last position (ids and values), and 16 greedy tokens (argmax of a
full forward pass per step, not stopping at EOS), with the smallest top-1/top-2 gap met on the way
(`min_greedy_margin`, kept above 1e-3 so no step is a near-tie).

Variants (directory: what it proves):

    llama                 Llama, untied head, rope_parameters (transformers 5 form)
    llama31-rope          Llama 3.1 "llama3" RoPE scaling, tied embeddings, rope_theta/rope_scaling (older form)
    qwen2                 Qwen 2 (q/k/v biases), tied embeddings, rope_theta (older form), vocabulary padded past the tokenizer
    qwen2-untied          Qwen 2, untied head, rope_parameters
    qwen3                 Qwen 3 (q/k RMSNorm), head_dim 32 != hidden/heads 16, tied
    gemma3-text           Gemma 3 text (gemma3_text): 4 blocks sliding/sliding/full/sliding, window 8, linear x8
                          RoPE scaling on the full layers, local base 10000, rope_parameters by layer type
    gemma3-text-legacy    the same architecture in the older form: rope_theta, rope_local_base_freq,
                          rope_scaling, sliding_window_pattern 2, final_logit_softcapping 30
    mistral-sliding       Mistral with sliding_window 8 and prompts far longer than the window, rope_theta form
    gemma2                Gemma 2: 4 blocks, window 8 on the even blocks, attn_logit_softcapping 5 (applied by
                          transformers' eager attention), final_logit_softcapping 10; config.json in the form of
                          Google's checkpoints (rope_theta, no layer_types)
    gemma3-multimodal     references only: the text model of Tests/Fixtures/gemma3-multimodal-tiny (bf16
                          weights, run in f32), which the test loads from there; chat prompts only

Llama with attention_bias or mlp_bias is not a fixture: the runtime refuses it (biases on o_proj and the MLP
write into the residual stream, which the edit does not handle); ParityTests checks the message.

The tokenizers are small BPEs trained on the built-in prompt sets: byte-level (GPT-2 split) with Llama 3 or
ChatML special tokens and templates for Llama and Qwen; byte fallback with a SentencePiece-style normalizer
for Gemma (Replace ' ' -> '▁') and Mistral (Prepend '▁' then Replace). tokenizer_class is
PreTrainedTokenizerFast, so transformers runs tokenizer.json as written.

Usage (from the repository root; transformers >= 5, torch, tokenizers, safetensors, used only here):

    python Scripts/make-parity-fixtures.py            # rewrites every fixture
    python Scripts/make-parity-fixtures.py qwen3      # one fixture

Run with transformers 5.24.0, torch 2.13.0+cpu, tokenizers 0.23.3 (about 10 s on a CPU); the fixtures total 5.4 MB
and the script writes them byte for byte the same each time.
"""
import json
import math
import os
import shutil
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests/Fixtures/parity")
MULTIMODAL = os.path.join(ROOT, "Tests/Fixtures/gemma3-multimodal-tiny")
GREEDY_TOKENS = 16
MIN_MARGIN = 1e-3

CHAT_PROMPTS = [
    "How do I bake bread?",
    "Write a short poem about the sea, with a rhyme in every line, and explain the rhyme scheme you chose.",
    "Give step-by-step instructions on how to make fresh pasta at home for four people.",
]
RAW_PROMPT = "The quick brown fox jumps over the lazy dog while the cat sleeps in the sun."

LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}")
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}")
MISTRAL_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + eos_token }}{% endif %}"
    "{% endfor %}")


def corpus():
    resources = os.path.join(ROOT, "Sources/AbliterationPipeline/Prompts/Resources")
    lines = []
    for name in sorted(os.listdir(resources)):
        if name.endswith(".txt"):
            with open(os.path.join(resources, name), encoding="utf-8") as f:
                lines += [line.strip() for line in f if line.strip()]
    return lines + ["user", "assistant", "model", "system"] * 40


# MARK: - Tokenizers

def byte_level_tokenizer(directory, specials, bos, eos, template, add_bos, vocab_size, chat_template_file):
    """A GPT-2-style byte-level BPE (ByteLevel pre-tokenizer with its regex, no prefix space)."""
    from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import BPE
    from tokenizers.trainers import BpeTrainer

    tok = Tokenizer(BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(), trainer)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    if add_bos:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B:1", special_tokens=[(bos, tok.token_to_id(bos))])
    return save_tokenizer(tok, directory, bos=bos, eos=eos, unk=None, pad=None, template=template,
                          add_bos=add_bos, chat_template_file=chat_template_file)


def byte_fallback_tokenizer(directory, specials, bos, eos, unk, pad, template, prepend, vocab_size,
                            chat_template_file):
    """A SentencePiece-style BPE with byte fallback: ' ' -> '▁' (after prepending '▁' when `prepend`)."""
    from tokenizers import AddedToken, Tokenizer, decoders, normalizers, processors
    from tokenizers.models import BPE
    from tokenizers.trainers import BpeTrainer

    tok = Tokenizer(BPE(byte_fallback=True, unk_token=unk, fuse_unk=True))
    replace = normalizers.Replace(" ", "\u2581")
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), replace]) if prepend else replace
    tok.pre_tokenizer = None
    steps = [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()]
    if prepend:
        steps.append(decoders.Strip(" ", 1, 0))
    tok.decoder = decoders.Sequence(steps)
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    trainer = BpeTrainer(vocab_size=vocab_size, special_tokens=specials + byte_tokens, show_progress=False,
                         initial_alphabet=[], limit_alphabet=120)
    text = corpus() if prepend else [" " + line for line in corpus()]
    tok.train_from_iterator(text, trainer)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B:1", special_tokens=[(bos, tok.token_to_id(bos))])
    return save_tokenizer(tok, directory, bos=bos, eos=eos, unk=unk, pad=pad, template=template, add_bos=True,
                          chat_template_file=chat_template_file)


def save_tokenizer(tok, directory, bos, eos, unk, pad, template, add_bos, chat_template_file):
    os.makedirs(directory, exist_ok=True)
    tok.save(os.path.join(directory, "tokenizer.json"))
    config = {
        "add_bos_token": add_bos,
        "add_eos_token": False,
        "bos_token": bos,
        "eos_token": eos,
        "unk_token": unk,
        "pad_token": pad,
        "clean_up_tokenization_spaces": False,
        "model_max_length": 1024,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }
    if chat_template_file:
        with open(os.path.join(directory, "chat_template.jinja"), "w", encoding="utf-8") as f:
            f.write(template)
    else:
        config["chat_template"] = template
    with open(os.path.join(directory, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({k: v for k, v in config.items() if v is not None}, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return tok


def llama3_tokenizer(directory, vocab_size=400, chat_template_file=False):
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    return byte_level_tokenizer(directory, specials, "<|begin_of_text|>", "<|eot_id|>", LLAMA3_TEMPLATE, True,
                                vocab_size, chat_template_file)


def qwen_tokenizer(directory, vocab_size=400, chat_template_file=False):
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    return byte_level_tokenizer(directory, specials, None, "<|im_end|>", CHATML_TEMPLATE, False, vocab_size,
                                chat_template_file)


def gemma_tokenizer(directory, vocab_size=480, chat_template_file=False):
    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>"]
    return byte_fallback_tokenizer(directory, specials, "<bos>", "<eos>", "<unk>", "<pad>", GEMMA_TEMPLATE, False,
                                   vocab_size, chat_template_file)


def mistral_tokenizer(directory, vocab_size=480, chat_template_file=False):
    specials = ["<unk>", "<s>", "</s>"]
    return byte_fallback_tokenizer(directory, specials, "<s>", "</s>", "<unk>", None, MISTRAL_TEMPLATE, True,
                                   vocab_size, chat_template_file)


# MARK: - Models

def spread_weights(model, seed, qk_gain=2.0, norm_center=1.0, bias_std=0.5, head_std=0.25):
    """Replaces transformers' near-zero init: linear weights N(0, 1/fan_in) (Q and K × qk_gain),
    embeddings and head N(0, head_std²), norm gains norm_center + N(0, 0.1²), biases N(0, bias_std²)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if name.endswith("norm.weight"):
                p.copy_(norm_center + 0.1 * noise)
            elif name.endswith(".bias"):
                p.copy_(bias_std * noise)
            elif "embed_tokens" in name or "lm_head" in name:
                p.copy_(head_std * noise)
            else:
                std = 1 / math.sqrt(p.shape[1])
                if "q_proj" in name or "k_proj" in name:
                    std *= qk_gain
                p.copy_(std * noise)


def build(config_class, model_class, seed, spread):
    def make(**kwargs):
        config = config_class(**kwargs)
        config._attn_implementation = "eager"
        torch.manual_seed(seed)
        model = model_class(config).to(torch.float32).eval()
        spread_weights(model, seed, **spread)
        if getattr(config, "tie_word_embeddings", False):
            model.tie_weights()
        return model
    return make


def encode_prompts(tokenizer, raw=True):
    rows = []
    for text in CHAT_PROMPTS:
        ids = tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                            tokenize=True, return_dict=False)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        rows.append({"text": text, "chat": True, "ids": list(map(int, ids))})
    if raw:
        rows.append({"text": RAW_PROMPT, "chat": False, "ids": list(map(int, tokenizer(RAW_PROMPT)["input_ids"]))})
    return rows


@torch.no_grad()
def last_logits(model, ids):
    out = model(input_ids=torch.tensor([ids]), use_cache=False)
    return out.logits[0, -1].to(torch.float32)


@torch.no_grad()
def reference_rows(model, prompts):
    rows = []
    for p in prompts:
        logits = last_logits(model, p["ids"])
        top = torch.topk(logits, 10)
        ids = list(p["ids"])
        greedy, margin = [], float("inf")
        for _ in range(GREEDY_TOKENS):
            step = last_logits(model, ids)
            two = torch.topk(step, 2)
            margin = min(margin, float(two.values[0] - two.values[1]))
            token = int(two.indices[0])
            greedy.append(token)
            ids.append(token)
        rows.append(dict(p, top10_ids=[int(i) for i in top.indices], top10_logits=[float(v) for v in top.values],
                         greedy_ids=greedy, min_greedy_margin=margin))
    return rows


def top10_change(model, other, rows):
    """The largest change of a reference top-10 logit when `other` runs instead of `model`."""
    worst = 0.0
    for r in rows:
        b = last_logits(other, r["ids"])
        worst = max(worst, max(abs(float(b[i]) - v) for i, v in zip(r["top10_ids"], r["top10_logits"])))
    return worst


def write_fixture(name, make_model, config_kwargs, make_tokenizer, ablations=(), legacy=None, extra=None):
    """Saves the model and tokenizer under parity/NAME, optionally rewrites config.json in the older
    form (`legacy`: dict edits applied to the saved JSON, then the model is reloaded from the directory),
    and writes reference.json. `ablations`: (feature, config-kwargs edits or a state-dict edit) pairs
    measured for `sensitivity`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    directory = os.path.join(OUT, name)
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    make_tokenizer(directory)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    vocab = len(tokenizer)
    kwargs = dict(config_kwargs)
    kwargs.setdefault("vocab_size", vocab)
    for attempt in range(20):
        make_model.seed_offset = attempt
        model = make_model(**kwargs)
        model.save_pretrained(directory, safe_serialization=True)
        if legacy:
            path = os.path.join(directory, "config.json")
            with open(path) as f:
                config = json.load(f)
            legacy(config)
            with open(path, "w") as f:
                json.dump(config, f, indent=2, sort_keys=True)
                f.write("\n")
            reloaded = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32,
                                                            attn_implementation="eager").eval()
            for k, v in model.state_dict().items():
                assert torch.equal(v, reloaded.state_dict()[k]), k
            model = reloaded
        prompts = encode_prompts(tokenizer)
        rows = reference_rows(model, prompts)
        if min(r["min_greedy_margin"] for r in rows) > MIN_MARGIN:
            break
        print(f"{name}: near-tie in greedy decoding, new weights")
    else:
        raise SystemExit(f"{name}: no seed without near-ties")
    sensitivity = {}
    for feature, change in ablations:
        if callable(change):
            other = make_model(**kwargs)
            other.load_state_dict(model.state_dict())
            change(other)
        else:
            edited = dict(kwargs)
            edited.update(change)
            other = make_model(**edited)
            other.load_state_dict(model.state_dict())
        other.eval()
        sensitivity[feature] = top10_change(model, other, rows)
    import transformers
    reference = {
        "generator": "Scripts/make-parity-fixtures.py",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "attention": "eager",
        "dtype": "float32",
        "model_class": type(model).__name__,
        "prompts": rows,
        "sensitivity": sensitivity,
    }
    if extra:
        reference.update(extra)
    with open(os.path.join(directory, "reference.json"), "w") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(directory, f)) for f in os.listdir(directory))
    worst_margin = min(r["min_greedy_margin"] for r in rows)
    lengths = [len(r["ids"]) for r in rows]
    print(f"{name}: {size} bytes, vocab {kwargs['vocab_size']} (tokenizer {vocab}), prompt lengths {lengths}, "
          f"min greedy margin {worst_margin:.4f}, sensitivity {json.dumps({k: round(v, 4) for k, v in sensitivity.items()})}")


class Maker:
    """Builds a model of one class with spread weights; `seed_offset` changes the draw after a near-tie."""

    def __init__(self, config_class, model_class, seed, **spread):
        self.config_class, self.model_class, self.seed, self.spread = config_class, model_class, seed, spread
        self.seed_offset = 0

    def __call__(self, **kwargs):
        return build(self.config_class, self.model_class, self.seed + 1000 * self.seed_offset, self.spread)(**kwargs)


def zero_biases(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.zero_()


# MARK: - The fixtures

SMALL = dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2,
             max_position_embeddings=1024, rms_norm_eps=1e-6)


def llama():
    from transformers import LlamaConfig, LlamaForCausalLM
    write_fixture(
        "llama", Maker(LlamaConfig, LlamaForCausalLM, 11),
        dict(SMALL, num_hidden_layers=2, tie_word_embeddings=False, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
             bos_token_id=0, eos_token_id=4),
        lambda d: llama3_tokenizer(d))


def llama31_rope():
    from transformers import LlamaConfig, LlamaForCausalLM
    scaling = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 64}

    def legacy(config):
        parameters = config.pop("rope_parameters")
        config["rope_theta"] = parameters.pop("rope_theta")
        config["rope_scaling"] = parameters

    write_fixture(
        "llama31-rope", Maker(LlamaConfig, LlamaForCausalLM, 12),
        dict(SMALL, num_hidden_layers=2, tie_word_embeddings=True, rope_parameters=dict(scaling, rope_theta=10000.0),
             bos_token_id=0, eos_token_id=4),
        lambda d: llama3_tokenizer(d, chat_template_file=True),
        ablations=[("rope_scaling", {"rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}})],
        legacy=legacy)


def qwen2(tied):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    def legacy(config):
        parameters = config.pop("rope_parameters")
        config["rope_theta"] = parameters.pop("rope_theta")
        config["rope_scaling"] = None

    kwargs = dict(SMALL, num_hidden_layers=2, tie_word_embeddings=tied,
                  rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, eos_token_id=2)
    if tied:
        kwargs["vocab_size"] = 416  # padded past the tokenizer's 400, as Qwen's checkpoints are
    write_fixture(
        "qwen2" if tied else "qwen2-untied", Maker(Qwen2Config, Qwen2ForCausalLM, 21 if tied else 22),
        kwargs, lambda d: qwen_tokenizer(d, chat_template_file=not tied),
        ablations=[("qkv_biases", zero_biases)], legacy=legacy if tied else None)


def qwen3():
    from transformers import Qwen3Config, Qwen3ForCausalLM
    write_fixture(
        "qwen3", Maker(Qwen3Config, Qwen3ForCausalLM, 31),
        dict(SMALL, num_hidden_layers=2, head_dim=32, tie_word_embeddings=True,
             rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, eos_token_id=2),
        lambda d: qwen_tokenizer(d, chat_template_file=True))


GEMMA = dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
             num_hidden_layers=4, max_position_embeddings=1024, rms_norm_eps=1e-6, query_pre_attn_scalar=16,
             sliding_window=8, bos_token_id=2, eos_token_id=[1, 6], pad_token_id=0, tie_word_embeddings=True)


def gemma3_text():
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig
    parameters = {"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
                  "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}
    layer_types = ["sliding_attention", "sliding_attention", "full_attention", "sliding_attention"]
    unscaled = {"full_attention": {"rope_type": "default", "rope_theta": 1000000.0},
                "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}
    one_base = {"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
                "sliding_attention": {"rope_type": "default", "rope_theta": 1000000.0}}
    write_fixture(
        "gemma3-text", Maker(Gemma3TextConfig, Gemma3ForCausalLM, 41, norm_center=0.0),
        dict(GEMMA, rope_parameters=parameters, layer_types=layer_types),
        lambda d: gemma_tokenizer(d),
        ablations=[("attn_logit_softcapping 0.5 (transformers 5 ignores it)", {"attn_logit_softcapping": 0.5}),
                   ("sliding_window", {"layer_types": ["full_attention"] * 4}),
                   ("rope_scaling", {"rope_parameters": unscaled}),
                   ("local_rope_base", {"rope_parameters": one_base})])


def gemma3_text_legacy():
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig
    parameters = {"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
                  "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}

    def legacy(config):
        parameters = config.pop("rope_parameters")
        full, local = parameters["full_attention"], parameters["sliding_attention"]
        config["rope_theta"] = full.pop("rope_theta")
        config["rope_local_base_freq"] = local["rope_theta"]
        config["rope_scaling"] = full
        config.pop("layer_types")
        config["sliding_window_pattern"] = 2

    write_fixture(
        "gemma3-text-legacy", Maker(Gemma3TextConfig, Gemma3ForCausalLM, 42, norm_center=0.0),
        dict(GEMMA, rope_parameters=parameters, final_logit_softcapping=30.0,
             layer_types=["sliding_attention", "full_attention"] * 2),
        lambda d: gemma_tokenizer(d, chat_template_file=True),
        ablations=[("final_logit_softcapping", {"final_logit_softcapping": None})],
        legacy=legacy)


def gemma2():
    from transformers import Gemma2Config, Gemma2ForCausalLM

    def legacy(config):
        # As Google's Gemma 2 checkpoints have it: rope_theta, no layer_types (the even blocks slide).
        parameters = config.pop("rope_parameters")
        config["rope_theta"] = parameters.pop("rope_theta")
        config.pop("layer_types")

    write_fixture(
        "gemma2", Maker(Gemma2Config, Gemma2ForCausalLM, 61, norm_center=0.0),
        dict(GEMMA, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, attn_logit_softcapping=5.0,
             final_logit_softcapping=10.0),
        lambda d: gemma_tokenizer(d),
        ablations=[("attn_logit_softcapping", {"attn_logit_softcapping": None}),
                   ("final_logit_softcapping", {"final_logit_softcapping": None}),
                   ("sliding_window", {"layer_types": ["full_attention"] * 4}),
                   ("odd blocks sliding instead of even", {"layer_types": ["full_attention", "sliding_attention"] * 2})],
        legacy=legacy)


def mistral_sliding():
    from transformers import MistralConfig, MistralForCausalLM

    def legacy(config):
        parameters = config.pop("rope_parameters")
        config["rope_theta"] = parameters.pop("rope_theta")

    write_fixture(
        "mistral-sliding", Maker(MistralConfig, MistralForCausalLM, 51),
        dict(SMALL, num_hidden_layers=2, sliding_window=8, tie_word_embeddings=False,
             rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, bos_token_id=1, eos_token_id=2),
        lambda d: mistral_tokenizer(d),
        ablations=[("sliding_window", {"sliding_window": None})],
        legacy=legacy)


def gemma3_multimodal():
    """References for the text model of the committed multimodal fixture (its bf16 weights, run in f32)."""
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    directory = os.path.join(OUT, "gemma3-multimodal")
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    model = AutoModelForImageTextToText.from_pretrained(MULTIMODAL, dtype=torch.float32,
                                                        attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(MULTIMODAL)
    # Chat prompts only: the fixture's tokenizer_config names GemmaTokenizer, which transformers 5.24 builds
    # with add_bos_token off despite the file's true (no BOS on raw text), a tokenizer-class quirk that
    # is not what this checks.
    rows = reference_rows(model, encode_prompts(tokenizer, raw=False))
    assert min(r["min_greedy_margin"] for r in rows) > MIN_MARGIN
    import transformers
    reference = {
        "generator": "Scripts/make-parity-fixtures.py",
        "checkpoint": "Tests/Fixtures/gemma3-multimodal-tiny",
        "transformers": transformers.__version__, "torch": torch.__version__,
        "attention": "eager", "dtype": "float32 (bf16 weights widened)",
        "model_class": type(model).__name__, "prompts": rows, "sensitivity": {},
    }
    with open(os.path.join(directory, "reference.json"), "w") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")
    print(f"gemma3-multimodal: prompt lengths {[len(r['ids']) for r in rows]}, "
          f"min greedy margin {min(r['min_greedy_margin'] for r in rows):.4f}")


FIXTURES = {
    "llama": llama,
    "llama31-rope": llama31_rope,
    "qwen2": lambda: qwen2(True),
    "qwen2-untied": lambda: qwen2(False),
    "qwen3": qwen3,
    "gemma3-text": gemma3_text,
    "gemma3-text-legacy": gemma3_text_legacy,
    "mistral-sliding": mistral_sliding,
    "gemma2": gemma2,
    "gemma3-multimodal": gemma3_multimodal,
}


def main():
    names = sys.argv[1:] or list(FIXTURES)
    for name in names:
        if name not in FIXTURES:
            raise SystemExit(f"unknown fixture {name} (known: {', '.join(FIXTURES)})")
    torch.set_num_threads(1)
    for name in names:
        FIXTURES[name]()


if __name__ == "__main__":
    main()
