#!/usr/bin/env python3
"""Runs `bench kernels`, `bench orthogonalize` and `bench runtime` of two abliterate binaries side by side.

The two binaries alternate, round after round, so both see the same machine load; for every figure the
best round of each binary is kept, and the table gives after / before (higher is better for every unit
printed: GFLOP/s, GB/s, tokens/s).

    Scripts/bench-compare.py --before OLD/abliterate --after .build/release/abliterate \
        --model ~/.cache/abliterate/models/SmolLM2-135M-Instruct.Q4_1.gguf --rounds 3
"""
import argparse, re, subprocess, sys

FIGURE = re.compile(r"^(?P<label>.+): (?:.* )?(?P<value>[0-9.]+) (?P<unit>GFLOP/s|GB/s|tokens/s)$")


def figures(binary, args, model):
    commands = [[binary, "bench", "kernels", "--repetitions", str(args.kernel_repetitions)],
                [binary, "bench", "orthogonalize"]]
    if model:
        commands.append([binary, "bench", "runtime", "--model", model, "--repetitions", "1"])
    found = {}
    for command in commands:
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            m = FIGURE.match(line.strip())
            if m:
                label = re.sub(r"(,| in) [0-9.]+ (s|ms)$", "", m["label"]).strip()
                found[f"{command[2]}: {label}"] = (float(m["value"]), m["unit"])
    return found


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--before", required=True)
    p.add_argument("--after", required=True)
    p.add_argument("--model", action="append", default=[])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--kernel-repetitions", type=int, default=5)
    args = p.parse_args()
    best = {"before": {}, "after": {}}
    for r in range(args.rounds):
        for side in ("before", "after") if r % 2 == 0 else ("after", "before"):
            for model in args.model or [None]:
                for key, (value, unit) in figures(getattr(args, side), args, model).items():
                    key = f"{key} [{model.rsplit('/', 1)[-1]}]" if model and key.startswith("runtime") else key
                    old = best[side].get(key)
                    if old is None or value > old[0]:
                        best[side][key] = (value, unit)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    print("| figure | before | after | after / before |")
    print("|---|---|---|---|")
    for key, (b, unit) in best["before"].items():
        a = best["after"].get(key, (float("nan"), unit))[0]
        print(f"| {key} | {b:g} {unit} | {a:g} {unit} | {a / b:.2f} |")


if __name__ == "__main__":
    main()
