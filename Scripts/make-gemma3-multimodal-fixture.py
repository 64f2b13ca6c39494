"""Writes Tests/Fixtures/gemma3-multimodal-tiny/ and Tests/Fixtures/gemma3-multimodal-tiny-sharded/: a tiny
random Gemma3ForConditionalGeneration checkpoint (4 text layers of width 64, a 2-layer SigLIP vision tower of
width 32 on 28×28 images, the multimodal projector), saved by transformers in bf16 with its tokenizer and
processor files, once as a single model.safetensors and once in shards with model.safetensors.index.json.

The tokenizer is a small BPE with byte fallback trained on the built-in prompt sets (Gemma's tokenizer.json is
33 MB): Gemma's special tokens and ids for <pad> <eos> <bos> <unk>, <start_of_turn>/<end_of_turn>, the image
tokens, the 256 byte tokens, Gemma's normalizer (' ' → '▁') and a Gemma 3 chat template.

Usage (from the repository root, with torch, transformers ≥ 5 and tokenizers):

    python Scripts/make-gemma3-multimodal-fixture.py              # writes both fixtures
    python Scripts/make-gemma3-multimodal-fixture.py --verify OUT [--input IN]

`--verify OUT` loads an abliterated output with transformers and checks it is a drop-in replacement for the
input (default: the single-file fixture, or the sharded one when OUT has an index): the same class, the same
tensor names, the vision tower and projector bit-identical, the text weights differing only where edited; it
also runs a forward pass and generates a few tokens through the processor with an image.

Run on the output of our CLI (transformers 5.24.0, torch 2.13.0 CPU, Pillow, no torchvision):

    abliterate measure --model Tests/Fixtures/gemma3-multimodal-tiny-sharded --output m.safetensors
    abliterate ablate --model Tests/Fixtures/gemma3-multimodal-tiny-sharded \
        --measurements m.safetensors --plan 2:1-3 --output /tmp/mmrun/out-sharded
    python Scripts/make-gemma3-multimodal-fixture.py --verify /tmp/mmrun/out-sharded

it printed (stdout; the same for the single-file fixture):

    class: Gemma3ForConditionalGeneration (input: Gemma3ForConditionalGeneration)
    vision and projector tensors identical: 39
    text tensors changed: 6: model.language_model.layers.1.mlp.down_proj.weight, model.language_model.layers.1.self_attn.o_proj.weight, model.language_model.layers.2.mlp.down_proj.weight, model.language_model.layers.2.self_attn.o_proj.weight …
    raw tensor names and order identical: 93 tensors; edited in the files: 6
    generated with an image: 4 new tokens, 1 image token(s) in the prompt
    OK: a drop-in replacement
"""
import argparse
import json
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SINGLE = os.path.join(ROOT, "Tests/Fixtures/gemma3-multimodal-tiny")
SHARDED = os.path.join(ROOT, "Tests/Fixtures/gemma3-multimodal-tiny-sharded")

CHAT_TEMPLATE = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\\n'}}
{%- endif -%}
"""

SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>",
            "<start_of_image>", "<end_of_image>", "<image_soft_token>"]
VOCAB_SIZE = 640


def build_tokenizer(directory):
    from tokenizers import Tokenizer, decoders, normalizers
    from tokenizers.models import BPE
    from tokenizers.trainers import BpeTrainer

    tok = Tokenizer(BPE(byte_fallback=True, unk_token="<unk>", fuse_unk=True))
    tok.normalizer = normalizers.Replace(" ", "\u2581")
    tok.pre_tokenizer = None
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()])
    bytes_tokens = [f"<0x{b:02X}>" for b in range(256)]
    resources = os.path.join(ROOT, "Sources/AbliterationPipeline/Prompts/Resources")
    corpus = []
    for name in sorted(os.listdir(resources)):
        if name.endswith(".txt"):
            with open(os.path.join(resources, name), encoding="utf-8") as f:
                corpus += [" " + line.strip() for line in f if line.strip()]
    corpus += ["user", "model", " user", " model"] * 50
    trainer = BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=SPECIALS + bytes_tokens, show_progress=False,
                         initial_alphabet=[], limit_alphabet=120)
    tok.train_from_iterator(corpus, trainer)
    for t in SPECIALS:
        assert tok.token_to_id(t) == SPECIALS.index(t), t
    # The special tokens are added tokens: matched whole in text, never split by the BPE.
    from tokenizers import AddedToken
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    os.makedirs(directory, exist_ok=True)
    tok.save(os.path.join(directory, "tokenizer.json"))
    config = {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": "<bos>",
        "eos_token": "<eos>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "boi_token": "<start_of_image>",
        "eoi_token": "<end_of_image>",
        "image_token": "<image_soft_token>",
        "extra_special_tokens": {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
                                 "image_token": "<image_soft_token>"},
        "chat_template": CHAT_TEMPLATE,
        "model_max_length": 1024,
        "padding_side": "left",
        "tokenizer_class": "GemmaTokenizer",
    }
    with open(os.path.join(directory, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return tok.get_vocab_size()


def build_model(vocab):
    import torch
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    torch.manual_seed(1234)
    config = Gemma3Config(
        text_config={
            "vocab_size": vocab, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4,
            "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32, "max_position_embeddings": 1024,
            "sliding_window": 16, "sliding_window_pattern": 2,
            "layer_types": ["sliding_attention", "full_attention"] * 2,
            "query_pre_attn_scalar": 32, "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0,
            "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0,
        },
        vision_config={
            "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
            "image_size": 28, "patch_size": 14, "vision_use_head": False,
        },
        mm_tokens_per_image=1,
        boi_token_index=SPECIALS.index("<start_of_image>"),
        eoi_token_index=SPECIALS.index("<end_of_image>"),
        image_token_index=SPECIALS.index("<image_soft_token>"),
        bos_token_id=2, eos_token_id=[1, SPECIALS.index("<end_of_turn>")], pad_token_id=0,
    )
    model = Gemma3ForConditionalGeneration(config).eval()
    with torch.no_grad():
        # Random init gives near-zero norms; spread every weight a little so the forward pass is not trivial.
        for name, p in model.named_parameters():
            if "norm" in name:
                p.normal_(0.0, 0.1)
            else:
                p.normal_(0.0, 0.08)
    return model.to(torch.bfloat16)


def write_processor(directory):
    from transformers import AutoTokenizer, Gemma3ImageProcessor, Gemma3Processor

    tokenizer = AutoTokenizer.from_pretrained(directory)
    image_processor = Gemma3ImageProcessor(size={"height": 28, "width": 28})
    processor = Gemma3Processor(image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE,
                                image_seq_length=1)
    scratch = directory + ".processor"
    shutil.rmtree(scratch, ignore_errors=True)
    processor.save_pretrained(scratch)
    # Keep our tokenizer files as written; take the processor's own files.
    for name in sorted(os.listdir(scratch)):
        if name.startswith("tokenizer") or name == "special_tokens_map.json":
            continue
        shutil.copyfile(os.path.join(scratch, name), os.path.join(directory, name))
    shutil.rmtree(scratch)
    if not os.path.exists(os.path.join(directory, "preprocessor_config.json")):
        with open(os.path.join(directory, "preprocessor_config.json"), "w") as f:
            json.dump(image_processor.to_dict(), f, indent=2, sort_keys=True)
            f.write("\n")
    if not os.path.exists(os.path.join(directory, "processor_config.json")):
        with open(os.path.join(directory, "processor_config.json"), "w") as f:
            json.dump({"image_seq_length": 1, "processor_class": "Gemma3Processor"}, f, indent=2, sort_keys=True)
            f.write("\n")


def make():
    for d in (SINGLE, SHARDED):
        shutil.rmtree(d, ignore_errors=True)
    vocab = build_tokenizer(SINGLE)
    model = build_model(vocab)
    model.save_pretrained(SINGLE, max_shard_size="100GB")
    write_processor(SINGLE)
    os.makedirs(SHARDED)
    model.save_pretrained(SHARDED, max_shard_size="200KB")
    for name in sorted(os.listdir(SINGLE)):
        if not name.endswith(".safetensors") and not name.endswith(".index.json") and name != "config.json":
            shutil.copyfile(os.path.join(SINGLE, name), os.path.join(SHARDED, name))
    for d in (SINGLE, SHARDED):
        files = sorted(os.listdir(d))
        size = sum(os.path.getsize(os.path.join(d, f)) for f in files)
        print(f"{os.path.relpath(d, ROOT)}: {size} bytes: {', '.join(files)}")


def tensors(directory):
    from safetensors import safe_open

    index = os.path.join(directory, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    out = {}
    for name in files:
        with safe_open(os.path.join(directory, name), "pt") as f:
            for key in f.keys():
                out[key] = f.get_tensor(key)
    return out


def verify(output, source):
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    a = AutoModelForImageTextToText.from_pretrained(source).eval()
    b = AutoModelForImageTextToText.from_pretrained(output).eval()
    print(f"class: {type(b).__name__} (input: {type(a).__name__})")
    assert type(a) is type(b)
    sa, sb = a.state_dict(), b.state_dict()
    assert sorted(sa) == sorted(sb), "different parameter names"
    vision = [k for k in sa if "vision_tower" in k or "multi_modal_projector" in k]
    for k in vision:
        assert sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k]), f"vision weight {k} differs"
    print(f"vision and projector tensors identical: {len(vision)}")
    changed = sorted(k for k in sa if not torch.equal(sa[k], sb[k]))
    print(f"text tensors changed: {len(changed)}: {', '.join(changed[:4])}{' …' if len(changed) > 4 else ''}")
    assert all("language_model" in k for k in changed)
    fa, fb = tensors(source), tensors(output)
    assert list(fa) == list(fb), "different raw tensor names or order"
    print(f"raw tensor names and order identical: {len(fa)} tensors; edited in the files: "
          f"{sum(not torch.equal(fa[k], fb[k]) for k in fa)}")
    processor = AutoProcessor.from_pretrained(output)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is this?"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    image = Image.new("RGB", (28, 28), (200, 30, 30))
    inputs = processor(text=text, images=image, return_tensors="pt")
    with torch.no_grad():
        out = b.generate(**inputs, max_new_tokens=4, do_sample=False)
    print(f"generated with an image: {out.shape[1] - inputs['input_ids'].shape[1]} new tokens, "
          f"{int((inputs['input_ids'] == b.config.image_token_id).sum())} image token(s) in the prompt")
    print("OK: a drop-in replacement")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verify", metavar="OUTPUT_DIR")
    parser.add_argument("--input", metavar="INPUT_DIR")
    args = parser.parse_args()
    if args.verify:
        source = args.input or (SHARDED if os.path.exists(os.path.join(args.verify, "model.safetensors.index.json")) else SINGLE)
        verify(args.verify, source)
    else:
        make()


if __name__ == "__main__":
    sys.exit(main())
