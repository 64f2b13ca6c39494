#!/usr/bin/env python3
"""Compare two GGUF files: metadata keys (type and value) and tensors (names, dims, types, data bytes).

    Scripts/compare-gguf.py A.gguf B.gguf

Prints the keys found in one file only, each key whose type or value differs (for arrays: how many
elements differ and the first few), how many keys are equal, whether the tensor names, their order, dims
and types agree, and in how many tensors the data bytes differ. For checks (e.g. our Hugging Face -> GGUF
conversion against llama.cpp's convert_hf_to_gguf.py on the same directory). Needs gguf-py.
"""
import sys

import gguf
import numpy as np


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: compare-gguf.py A.gguf B.gguf", file=sys.stderr)
        return 2
    names = [p.split("/")[-1] for p in sys.argv[1:]]
    a, b = (gguf.GGUFReader(p) for p in sys.argv[1:])
    ka = [k for k in a.fields if not k.startswith("GGUF.")]
    kb = [k for k in b.fields if not k.startswith("GGUF.")]
    print(f"keys only in {names[0]}: {[k for k in ka if k not in kb]}")
    print(f"keys only in {names[1]}: {[k for k in kb if k not in ka]}")
    equal = 0
    for k in ka:
        if k not in kb:
            continue
        fa, fb = a.fields[k], b.fields[k]
        va, vb = fa.contents(), fb.contents()
        if fa.types == fb.types and va == vb:
            equal += 1
        elif isinstance(va, list) and isinstance(vb, list):
            diff = [i for i in range(min(len(va), len(vb))) if va[i] != vb[i]]
            print(f"DIFF {k}: {len(va)} vs {len(vb)} elements, {len(diff)} differ, first: "
                  f"{[(i, va[i], vb[i]) for i in diff[:3]]}")
        else:
            print(f"DIFF {k}: {[t.name for t in fa.types]} {str(va)[:80]!r} vs {[t.name for t in fb.types]} {str(vb)[:80]!r}")
    print(f"keys with equal type and value: {equal}")
    ta = {t.name: t for t in a.tensors}
    tb = {t.name: t for t in b.tensors}
    print(f"tensors: {len(ta)} and {len(tb)}, same names: {set(ta) == set(tb)}, "
          f"same order: {[t.name for t in a.tensors] == [t.name for t in b.tensors]}")
    common = [n for n in ta if n in tb]
    shape = [n for n in common if list(ta[n].shape) != list(tb[n].shape) or ta[n].tensor_type != tb[n].tensor_type]
    print(f"dims or type differ: {len(shape)} {shape[:8]}")
    data = [n for n in common if n not in shape and not np.array_equal(
        np.asarray(ta[n].data).view(np.uint8), np.asarray(tb[n].data).view(np.uint8))]
    print(f"data bytes differ: {len(data)} of {len(common)} tensors {data[:8]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
