#!/usr/bin/env python3
"""Writes Tests/CoreMathTests/Fixtures/winsorizer.json: vectors and numpy's reference winsorization.

For each float32 vector x and q in {0.9, 0.995, 1.0}:
  threshold = numpy.quantile(|x|, q, method="linear")   (computed in float64 on the exact float32 values)
  clipped   = numpy.clip(x, -threshold, threshold)      (float64, then float32)
Run once:  pip install numpy && python3 Scripts/make-winsorizer-fixtures.py
"""
import json
import os

import numpy as np

rng = np.random.default_rng(20251025)
cases = []


def add(name, x):
    x = np.asarray(x, dtype=np.float32)
    a = np.abs(x).astype(np.float64)
    for q in (0.9, 0.995, 1.0):
        t = float(np.quantile(a, q, method="linear"))
        clipped = np.clip(x.astype(np.float64), -t, t).astype(np.float32)
        cases.append({
            "name": name,
            "q": q,
            "input": [float(v) for v in x],
            "threshold": t,
            "clipped": [float(v) for v in clipped],
        })


add("single", [-3.5])
add("pair", [1.0, -2.0])
add("normal-7", rng.standard_normal(7))
add("normal-64", rng.standard_normal(64))
add("student-t-257", rng.standard_t(2.0, 257) * 4)           # heavy tails, as GeGLU residuals
add("outliers-1000", np.concatenate([rng.standard_normal(990), rng.standard_normal(10) * 500]))
add("duplicates-300", rng.integers(-5, 6, 300).astype(np.float32))  # many ties
add("massive-576", np.where(rng.random(576) < 0.01, 3000.0, 1.0) * rng.standard_normal(576))

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "CoreMathTests", "Fixtures", "winsorizer.json")
with open(out, "w") as f:
    json.dump({"generator": "Scripts/make-winsorizer-fixtures.py", "numpy": np.__version__, "cases": cases}, f)
print(f"wrote {len(cases)} cases to {os.path.normpath(out)}")
