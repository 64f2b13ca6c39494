#!/usr/bin/env python3
"""Give a Hugging Face directory written from a GGUF file (`abliterate convert X.gguf --output DIR`) the
SentencePiece files of the model's own repository, so that llama.cpp's convert_hf_to_gguf.py takes its
SentencePiece path on DIR (for checks: comparing our Hugging Face -> GGUF conversion with llama.cpp's).

    Scripts/make-sentencepiece-model.py SOURCE.gguf DIR

From SOURCE.gguf's `tokenizer.ggml.*` (a `llama` SentencePiece vocabulary such as Gemma's) it writes
DIR/tokenizer.model (a BPE ModelProto: every token as a piece with its score and type; user-defined tokens
stored with spaces get their spaces back as U+2581; the unknown token typed UNKNOWN) and adds
`added_tokens_decoder` (control tokens special, user-defined ones not) to DIR/tokenizer_config.json, as a
published repository has them. Needs gguf-py and sentencepiece (for its protobuf module). Checks only: the
tool itself reads tokenizer.json.
"""
import json
import sys
from pathlib import Path

import gguf
from sentencepiece import SentencePieceProcessor
from sentencepiece import sentencepiece_model_pb2 as pb


def field(reader, key):
    f = reader.fields.get(key)
    return None if f is None else f.contents()


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: make-sentencepiece-model.py SOURCE.gguf DIR", file=sys.stderr)
        return 2
    reader = gguf.GGUFReader(sys.argv[1])
    directory = Path(sys.argv[2])
    if field(reader, "tokenizer.ggml.model") != "llama":
        print(f"{sys.argv[1]}: tokenizer.ggml.model is not llama (SentencePiece)", file=sys.stderr)
        return 1
    tokens = field(reader, "tokenizer.ggml.tokens")
    scores = field(reader, "tokenizer.ggml.scores")
    types = field(reader, "tokenizer.ggml.token_type")
    unknown = field(reader, "tokenizer.ggml.unknown_token_id")

    model = pb.ModelProto()
    model.trainer_spec.model_type = pb.TrainerSpec.BPE
    model.trainer_spec.vocab_size = len(tokens)
    model.trainer_spec.byte_fallback = True
    for key, spec in [("unk", "tokenizer.ggml.unknown_token_id"), ("bos", "tokenizer.ggml.bos_token_id"),
                      ("eos", "tokenizer.ggml.eos_token_id"), ("pad", "tokenizer.ggml.padding_token_id")]:
        value = field(reader, spec)
        setattr(model.trainer_spec, f"{key}_id", -1 if value is None else int(value))
    model.normalizer_spec.name = "identity"
    model.normalizer_spec.add_dummy_prefix = False
    model.normalizer_spec.remove_extra_whitespaces = False
    model.normalizer_spec.escape_whitespaces = True
    added = {}
    for i, (text, score, kind) in enumerate(zip(tokens, scores, types)):
        piece = model.pieces.add()
        if kind == gguf.TokenType.USER_DEFINED:
            text = text.replace(" ", "\u2581")
        piece.piece = text
        piece.score = float(score)
        piece.type = pb.ModelProto.SentencePiece.UNKNOWN if i == unknown else int(kind)
        if kind in (gguf.TokenType.CONTROL, gguf.TokenType.USER_DEFINED):
            added[str(i)] = {"content": text, "lstrip": False, "normalized": False, "rstrip": False,
                             "single_word": False, "special": kind == gguf.TokenType.CONTROL}
    (directory / "tokenizer.model").write_bytes(model.SerializeToString())
    SentencePieceProcessor(model_file=str(directory / "tokenizer.model"))  # loads: the model is valid

    config_path = directory / "tokenizer_config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    config["added_tokens_decoder"] = added
    config_path.write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n")
    print(f"wrote {directory / 'tokenizer.model'} ({len(tokens)} pieces) and added_tokens_decoder ({len(added)} tokens)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
