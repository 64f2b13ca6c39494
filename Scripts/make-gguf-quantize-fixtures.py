#!/usr/bin/env python3
"""Generates Tests/TensorKitTests/Fixtures/quant_encode.json, the reference bytes the GGUF encoders
(GGMLQuantizer, KQuantizer) are pinned to. Run once; the tests never need Python or a C compiler.

    /path/to/python -m pip install gguf numpy
    python3 Scripts/make-gguf-quantize-fixtures.py [--ggml DIR] [--models ~/.cache/abliterate/models]

Each case is a list of f32 inputs (base64 of little-endian bytes, 512 values = 2 K-quant super-blocks =
16 legacy blocks) and, per type, the bytes the reference writes:

  Q4_0 Q4_1 Q5_0 Q5_1 Q8_0  gguf-py's `gguf.quants.quantize` (itself equal to ggml's quantize_row_*_ref)
  Q4_K Q5_K Q6_K            ggml's quantize_row_q{4,5,6}_K_ref: with --ggml DIR (a ggml or llama.cpp
                            checkout: DIR/src/ggml-quants.c or DIR/ggml/src/ggml-quants.c), its
                            ggml-quants.c is compiled with `gcc -O2 -ffp-contract=off` and linked with
                            Scripts/ggml-quantize-ref.c; without it the K types are left out (gguf-py
                            cannot quantize them).

Inputs: Gaussian values at several scales, hard blocks (all zero, constant, one outlier, all negative,
exact ties), and, when the models are present, rows of real weights (SmolLM2's Q4_1 o_proj, Gemma 3's
Q4_K/Q6_K tensors) dequantized by gguf-py and nudged by 1e-3 of their RMS, as an ablation nudges them.
"""
import argparse
import base64
import json
import os
import subprocess
import tempfile

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader
from gguf.quants import dequantize, quantize

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "Tests", "TensorKitTests", "Fixtures", "quant_encode.json")
N = 512
rng = np.random.default_rng(20250114)


def b64(a) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()


def synthetic_cases():
    cases = []
    for name, scale in [("gauss_1", 1.0), ("gauss_0.02", 0.02), ("gauss_3e-5", 3e-5)]:
        cases.append((name, (rng.standard_normal(N) * scale).astype(np.float32)))
    hard = (rng.standard_normal(N) * 0.05).astype(np.float32)
    hard[0:32] = 0                      # an all-zero legacy block
    hard[32:64] = np.float32(0.25)      # a constant block
    hard[64:96] *= 0.01
    hard[70] = np.float32(3.0)          # one outlier
    hard[96:128] = -np.abs(hard[96:128])  # all negative
    hard[128:160] = np.arange(32, dtype=np.float32) - 16  # integers: exact ties after scaling
    hard[256:512] = 0                   # an all-zero K super-block
    cases.append(("hard", hard))
    heavy = (rng.standard_t(2, N) * 0.01).astype(np.float32)  # heavy tails
    cases.append(("heavy_tails", heavy))
    return cases


def real_cases(models):
    picks = [("SmolLM2-135M-Instruct.Q4_1.gguf", "blk.10.attn_output.weight"),
             ("gemma-3-270m-q4_k_m.gguf", "blk.5.ffn_down.weight"),
             ("gemma-3-270m-q4_k_m.gguf", "blk.5.attn_output.weight")]
    cases = []
    for file, tensor in picks:
        path = os.path.join(models, file)
        if not os.path.exists(path):
            print(f"skipping {file}: not in {models}")
            continue
        t = next(t for t in GGUFReader(path).tensors if t.name == tensor)
        values = dequantize(t.data, t.tensor_type).reshape(-1)[:N].astype(np.float32)
        rms = float(np.sqrt(np.mean(values.astype(np.float64) ** 2)))
        nudged = (values + rng.standard_normal(N).astype(np.float32) * np.float32(1e-3 * rms)).astype(np.float32)
        cases.append((f"{file.split('-')[0].lower()}_{tensor}_{t.tensor_type.name}", nudged))
    return cases


def ggml_reference(ggml_dir):
    src = None
    for cand in ["src/ggml-quants.c", "ggml/src/ggml-quants.c"]:
        if os.path.exists(os.path.join(ggml_dir, cand)):
            src = os.path.join(ggml_dir, cand)
    if src is None:
        raise SystemExit(f"no ggml-quants.c under {ggml_dir}")
    root = os.path.dirname(os.path.dirname(src))
    work = tempfile.mkdtemp()
    obj = os.path.join(work, "quants.o")
    exe = os.path.join(work, "qref")
    flags = ["-O2", "-std=gnu11", "-ffp-contract=off"]
    subprocess.run(["gcc", *flags, "-I" + os.path.join(root, "include"), "-I" + os.path.dirname(src),
                    "-c", src, "-o", obj], check=True)
    subprocess.run(["gcc", *flags, os.path.join(HERE, "ggml-quantize-ref.c"), obj, "-lm", "-o", exe], check=True)

    def run(values, type_name):
        return subprocess.run([exe, type_name], input=values.tobytes(), capture_output=True, check=True).stdout
    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ggml", help="a ggml or llama.cpp checkout, for the K-quant reference bytes")
    ap.add_argument("--models", default=os.path.expanduser("~/.cache/abliterate/models"))
    args = ap.parse_args()
    ref = ggml_reference(args.ggml) if args.ggml else None
    out = {"generator": "Scripts/make-gguf-quantize-fixtures.py", "count": N,
           "kReference": "ggml quantize_row_*_ref, gcc -O2 -ffp-contract=off" if ref else None, "cases": []}
    for name, x in synthetic_cases() + real_cases(args.models):
        assert x.dtype == np.float32 and x.size == N and np.all(np.isfinite(x))
        entry = {"name": name, "input": b64(x), "bytes": {}}
        for qt in [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0]:
            entry["bytes"][qt.name] = b64(quantize(x, qt))
            if ref:  # gguf-py and ggml's reference agree on the legacy types; check it here once.
                assert ref(x, qt.name.lower()) == quantize(x, qt).tobytes(), (name, qt.name)
        if ref:
            for qt in [T.Q4_K, T.Q5_K, T.Q6_K]:
                entry["bytes"][qt.name] = b64(np.frombuffer(ref(x, qt.name[:2].lower() + "_K"), dtype=np.uint8))
        out["cases"].append(entry)
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {OUT}: {len(out['cases'])} cases, {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
