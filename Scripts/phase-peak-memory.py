#!/usr/bin/env python3
"""Runs an `abliterate run` (or any command logging `[  Ns] step …` lines on stderr) and reports the peak
anonymous memory (RssAnon, from /proc/PID/status every 10 ms) of each step, named by the first word of the
last such line: loading, evaluating, measuring, searching, writing. `Scripts/peak-memory.py` gives the
whole command's peak; this one tells which step it is in.

    Scripts/phase-peak-memory.py abliterate run --model M ... --output out
"""
import subprocess, sys, threading, time, re, collections
p = subprocess.Popen(sys.argv[1:], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, bufsize=1)
phase = ["start"]
def reader():
    for line in p.stderr:
        m = re.match(r"\[\s*\d+s\] (\w+)", line)
        if m: phase[0] = m.group(1)
threading.Thread(target=reader, daemon=True).start()
peaks = collections.OrderedDict()
while p.poll() is None:
    try:
        for l in open(f"/proc/{p.pid}/status"):
            if l.startswith("RssAnon:"):
                kb = int(l.split()[1]); peaks[phase[0]] = max(peaks.get(phase[0], 0), kb)
    except FileNotFoundError: break
    time.sleep(0.01)
for k, v in peaks.items(): print(f"{k}: peak RssAnon {v/1e6:.3f} GB")
