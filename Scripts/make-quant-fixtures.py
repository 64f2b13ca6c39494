#!/usr/bin/env python3
"""Generates the quantization fixtures of TensorKitTests (run once; the tests never need Python).

    pip install gguf numpy
    python3 Scripts/make-quant-fixtures.py [--models ~/.cache/abliterate/models]

Writes into Tests/TensorKitTests/Fixtures/:

  quant_blocks.json      random GGML blocks per type (Q4_0 … Q6_K) with their f32 values as decoded by
                         gguf-py (`gguf.quants.dequantize`), and Q8_0 quantization cases (f32 input and the
                         block bytes `gguf.quants.quantize` produces).
  quant_bnb4.json        bitsandbytes NF4/FP4 cases (packed nibbles, absmax, optional nested absmax) with
                         expected values computed in numpy from bitsandbytes' formulas, and NF4 quantization
                         cases (input, packed codes, absmax) following bitsandbytes' nearest-code rule.
  quant_real_tensors.json for a few tensors of each quantized type in the two real GGUF models: the absolute
                         data offset in the file, type, element count, the first 128 values and the float64
                         sum and sum of squares of the whole tensor (read with gguf's GGUFReader).

Every f32 array is stored as base64 of little-endian bytes so values survive exactly.
"""
import argparse
import base64
import json
import os

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize, quantize

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "Tests", "TensorKitTests", "Fixtures")
rng = np.random.default_rng(20240611)


def b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()


def f16_bytes(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float16).view(np.uint8)


# Byte offsets of the f16 scales inside each block (d, and dmin/m where present); they are overwritten with
# sane finite values so that random bytes never make a NaN/inf scale.
SCALE_OFFSETS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}
BLOCK_COUNTS = {T.Q4_0: 2, T.Q4_1: 2, T.Q5_0: 2, T.Q5_1: 2, T.Q8_0: 2, T.Q4_K: 2, T.Q5_K: 2, T.Q6_K: 2}


def random_blocks(qtype) -> np.ndarray:
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    n = BLOCK_COUNTS[qtype]
    raw = rng.integers(0, 256, size=(n, type_size), dtype=np.uint8)
    for off in SCALE_OFFSETS[qtype]:
        # magnitudes from 1e-4 to 4, random sign; include one subnormal f16 scale
        mags = np.exp(rng.uniform(np.log(1e-4), np.log(4.0), size=n)) * rng.choice([-1, 1], size=n)
        mags[-1] = 3.0e-6  # subnormal in f16
        raw[:, off:off + 2] = f16_bytes(mags).reshape(n, 2)
    return raw


def ggml_blocks():
    cases = []
    for qtype in BLOCK_COUNTS:
        raw = random_blocks(qtype)
        values = dequantize(raw.reshape(-1), qtype).astype(np.float32).reshape(-1)
        assert np.all(np.isfinite(values))
        cases.append({"type": qtype.name, "typeId": int(qtype), "blocks": raw.shape[0],
                      "bytes": b64(raw), "values": b64(values)})
    # Q8_0 quantization: gguf-py's quantize is bit-exact with ggml's quantize_row_q8_0_ref.
    q8 = []
    for scale in [1.0, 1e-3, 37.0]:
        x = (rng.standard_normal(32 * 3) * scale).astype(np.float32)
        x[5] = 0.0
        x[32:64] = 0.0  # an all-zero block (d = 0)
        x[64] = np.float32(127 * 0.5)  # exact ties after scaling are rounded away from zero
        blocks = quantize(x.reshape(1, -1), T.Q8_0).reshape(-1)
        q8.append({"input": b64(x), "bytes": b64(blocks)})
    return {"blocks": cases, "q8_0_quantize": q8}


# ---- bitsandbytes 4-bit -----------------------------------------------------------------------------------
# bitsandbytes/backends/utils.py (_NF4_QUANT_TABLE) and functional.get_4bit_type("fp4") normalised by its max.
NF4 = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
                -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
                0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                0.7229568362236023, 1.0], dtype=np.float32)
FP4 = (np.array([0, 0.0625, 8.0, 12.0, 4.0, 6.0, 2.0, 3.0, -0.0, -0.0625, -8.0, -12.0, -4.0, -6.0, -2.0, -3.0],
                dtype=np.float32) / np.float32(12.0)).astype(np.float32)


def dynamic_map() -> np.ndarray:
    """bitsandbytes functional.create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)."""
    data = []
    for i in range(7):
        boundaries = np.linspace(0.1, 1, 2 ** i + 1, dtype=np.float32)
        means = (boundaries[:-1] + boundaries[1:]) / np.float32(2.0)
        data += list((np.float32(10.0 ** (-6 + i)) * means).astype(np.float32))
        data += list((-np.float32(10.0 ** (-6 + i)) * means).astype(np.float32))
    data += [0.0, 1.0]
    assert len(data) == 256
    return np.sort(np.array(data, dtype=np.float32))


def unpack(packed: np.ndarray) -> np.ndarray:
    """High nibble first: element 2i = byte i >> 4, element 2i+1 = byte i & 0xF."""
    out = np.empty(packed.size * 2, dtype=np.uint8)
    out[0::2] = packed >> 4
    out[1::2] = packed & 0x0F
    return out


def bnb_cases():
    cases = []
    for quant_type, table in [("nf4", NF4), ("fp4", FP4)]:
        for nested in [False, True]:
            shape = [4, 64]  # 256 values
            blocksize = 32
            n = shape[0] * shape[1]
            packed = rng.integers(0, 256, size=n // 2, dtype=np.uint8)
            nblocks = n // blocksize
            absmax = rng.uniform(0.01, 2.0, size=nblocks).astype(np.float32)
            state = {"quant_type": quant_type, "blocksize": blocksize, "dtype": "bfloat16", "shape": shape}
            case = {"quant_type": quant_type, "packed": b64(packed), "quant_map": b64(table)}
            if nested:
                nested_blocksize = 3  # 3 nested blocks over 8 absmax values, the last one partial (real checkpoints use 256)
                code = dynamic_map()
                absmax_u8 = rng.integers(0, 256, size=nblocks, dtype=np.uint8)
                nested_absmax = rng.uniform(0.05, 0.5, size=-(-nblocks // nested_blocksize)).astype(np.float32)
                offset = np.float32(0.0371)
                blockwise = code[absmax_u8] * np.repeat(nested_absmax, nested_blocksize)[:nblocks]
                absmax_f = (blockwise.astype(np.float32) + offset).astype(np.float32)
                state.update({"nested_blocksize": nested_blocksize, "nested_dtype": "float32",
                              "nested_offset": float(offset)})
                case.update({"absmax_u8": b64(absmax_u8), "nested_absmax": b64(nested_absmax),
                             "nested_quant_map": b64(code)})
            else:
                absmax_f = absmax
                case["absmax"] = b64(absmax)
            codes = unpack(packed)
            expected = (table[codes] * np.repeat(absmax_f, blocksize)).astype(np.float32)
            case["quant_state"] = json.dumps(state)
            case["values"] = b64(expected)
            cases.append(case)
    # NF4 quantization: absmax = max|x| per block; scaled = clamp(x * (1/absmax), -1, 1);
    # code = argmin_k |scaled - NF4[k]| (first index on ties); packed high nibble first.
    quant = []
    for blocksize in [64, 32]:
        x = (rng.standard_normal(192) * 0.02).astype(np.float32)
        if blocksize == 32:
            x[0:blocksize] = 0.0  # an all-zero block: absmax 0, every code is NF4's 0.0 (index 7)
        blocks = x.reshape(-1, blocksize)
        absmax = np.abs(blocks).max(axis=1).astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = np.where(absmax == 0, np.float32(0), np.float32(1) / absmax).astype(np.float32)
        scaled = np.clip(blocks * inv[:, None], -1, 1).astype(np.float32).reshape(-1)
        idx = np.argmin(np.abs(scaled[:, None] - NF4[None, :]), axis=1).astype(np.uint8)
        packed = (idx[0::2] << 4) | idx[1::2]
        quant.append({"blocksize": blocksize, "input": b64(x), "packed": b64(packed.astype(np.uint8)),
                      "absmax": b64(absmax)})
    return {"dequantize": cases, "nf4_quantize": quant}


# ---- real tensors ---------------------------------------------------------------------------------------------
def real_tensors(models_dir: str):
    out = []
    for file, types in [("SmolLM2-135M-Instruct.Q4_1.gguf", ["Q4_1", "Q8_0"]),
                        ("gemma-3-270m-q4_k_m.gguf", ["Q5_0", "Q4_K", "Q6_K", "Q8_0"])]:
        reader = GGUFReader(os.path.join(models_dir, file))
        for tname in types:
            tensors = [t for t in reader.tensors if t.tensor_type.name == tname]
            # the smallest tensor of the type, and one from a later layer when there are more
            picks = sorted(tensors, key=lambda t: int(t.n_elements))[:1]
            if len(tensors) > 2 and tname == "Q4_1":
                picks.append(tensors[len(tensors) // 2])
            for t in picks:
                values = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
                assert values.size == int(t.n_elements)
                v64 = values.astype(np.float64)
                out.append({"file": file, "name": t.name, "type": tname, "typeId": int(t.tensor_type),
                            "offset": int(t.data_offset), "elements": int(t.n_elements),
                            "dims": [int(d) for d in t.shape], "head": b64(values[:128]),
                            "sum": float(v64.sum()), "sumOfSquares": float((v64 * v64).sum())})
                print(f"{file} {t.name} {tname} offset {t.data_offset} n {t.n_elements}")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=os.path.expanduser(
        os.environ.get("ABLITERATE_MODELS", "~/.cache/abliterate/models")))
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    for name, payload in [("quant_blocks.json", ggml_blocks()), ("quant_bnb4.json", bnb_cases()),
                          ("quant_real_tensors.json", real_tensors(args.models))]:
        with open(os.path.join(OUT, name), "w") as f:
            json.dump(payload, f, separators=(",", ":"))
        print(name, os.path.getsize(os.path.join(OUT, name)), "bytes")


if __name__ == "__main__":
    main()
