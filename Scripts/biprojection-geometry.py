#!/usr/bin/env python3
"""How far the biprojected direction is from the projected one, per target block.

Usage: Scripts/biprojection-geometry.py MEASUREMENTS.safetensors MEASURE_LAYER FIRST LAST [ORIGINAL EDITED]

For a direction measured at residual index m and applied to blocks FIRST..LAST, prints for each block l
the cosine between r' (projected: r = mu_H(m) - mu_A(m) without its component along mu_A(m)) and r''
(biprojected, grimjim's: r' then without its component along mu_A(l), the residual block l reads,
hidden_states[l], as `abliterate ablate --method biprojected` forms it), and the cosines of the
conventional r and of r' with mu_A(l) (r'' has none by construction).
Reads the f32 means of an `abliterate measure` file with numpy; independent of the Swift code.

With ORIGINAL and EDITED (the bf16 model.safetensors of `abliterate convert` and of `abliterate ablate
--method biprojected` with the plan MEASURE_LAYER:FIRST-LAST), it also checks what was written: for each
block's mlp.down_proj, the edit W' - W should be rank one with left singular vector +-r''.
"""
import json
import struct
import sys

import numpy as np


def load_tensors(path, names):
    """The named tensors of a safetensors file (F32 or BF16) as float64 arrays."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    out = {}
    for name in names:
        info = header[name]
        start, end = info["data_offsets"]
        raw = data[8 + n + start : 8 + n + end]
        if info["dtype"] == "F32":
            values = np.frombuffer(raw, dtype="<f4")
        elif info["dtype"] == "BF16":
            values = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            sys.exit(f"{path}: {name} is {info['dtype']}, expected F32 or BF16")
        out[name] = values.reshape(info["shape"]).astype(np.float64)
    return out


def without(v, basis):
    """v minus its components along the span of `basis` (Gram-Schmidt, twice)."""
    q = []
    for b in basis:
        for _ in range(2):
            for e in q:
                b = b - (b @ e) * e
        q.append(b / np.linalg.norm(b))
    for _ in range(2):
        for e in q:
            v = v - (v @ e) * e
    return v


def cosine(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def main():
    if len(sys.argv) not in (5, 7):
        sys.exit(__doc__)
    means = load_tensors(sys.argv[1], ["harmful.mean", "harmless.mean"])
    harmful, harmless = means["harmful.mean"], means["harmless.mean"]
    m, first, last = (int(x) for x in sys.argv[2:5])
    r = harmful[m] - harmless[m]
    projected = without(r, [harmless[m]])
    print("| block | cos(r', r'') | cos(r, mu_A(l)) | cos(r', mu_A(l)) |")
    print("|---|---|---|---|")
    for layer in range(first, last + 1):
        target = harmless[layer]
        biprojected = without(projected, [target])
        print(f"| {layer} | {cosine(projected, biprojected):.3f} | {cosine(r, target):.3f} | {cosine(projected, target):.3f} |")
    if len(sys.argv) == 7:
        names = [f"model.layers.{layer}.mlp.down_proj.weight" for layer in range(first, last + 1)]
        original, edited = load_tensors(sys.argv[5], names), load_tensors(sys.argv[6], names)
        print()
        print("| block | sigma1/sigma2 of W' - W | abs cos(left singular vector, r'') |")
        print("|---|---|---|")
        for layer, name in zip(range(first, last + 1), names):
            biprojected = without(projected, [harmless[layer]])
            u, sigma, _ = np.linalg.svd(edited[name] - original[name], full_matrices=False)
            print(f"| {layer} | {sigma[0] / sigma[1]:.0f} | {abs(cosine(u[:, 0], biprojected)):.4f} |")


if __name__ == "__main__":
    main()
