#!/usr/bin/env python3
"""Runs a command and reports its peak anonymous memory (RssAnon) and peak RSS (VmHWM), read from
/proc/PID/status every 5 ms; the mapped model file's pages are file-backed and show in RSS, not RssAnon.

    Scripts/peak-memory.py [--kill-above-gb N] [--min-available-gb M] -- COMMAND ARGS...

With --kill-above-gb the command is killed (SIGKILL, this one process) once its RssAnon passes N GB, and
with --min-available-gb once the machine's MemAvailable falls below M GB, so that a command known not to
fit cannot take a shared machine down; the report then says so and gives the peak reached until then.
Prints one line: exit status, wall time, peak RssAnon, peak VmHWM (GB = 10^9 bytes).
"""
import os
import signal
import subprocess
import sys
import time


def status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return 0


def available_kb():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return None


def main():
    argv = sys.argv[1:]
    kill_above = min_available = None
    while argv and argv[0] != "--":
        flag, value = argv[0], float(argv[1])
        if flag == "--kill-above-gb":
            kill_above = value
        elif flag == "--min-available-gb":
            min_available = value
        else:
            sys.exit(f"unknown option {flag}")
        argv = argv[2:]
    command = argv[1:]
    if not command:
        sys.exit(__doc__)
    start = time.time()
    child = subprocess.Popen(command)
    peak_anon = peak_hwm = 0
    killed = None
    while child.poll() is None:
        anon, hwm = status_kb(child.pid, "RssAnon"), status_kb(child.pid, "VmHWM")
        if anon is not None:
            peak_anon, peak_hwm = max(peak_anon, anon), max(peak_hwm, hwm or 0)
        if killed is None and kill_above is not None and peak_anon * 1e3 > kill_above * 1e9:
            killed = f"RssAnon passed {kill_above} GB"
        avail = available_kb()
        if killed is None and min_available is not None and avail is not None and avail * 1e3 < min_available * 1e9:
            killed = f"MemAvailable fell below {min_available} GB"
        if killed and child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        time.sleep(0.005)
    wall = time.time() - start
    note = f", killed: {killed}" if killed else ""
    print(f"exit {child.returncode}, {wall:.1f} s, peak RssAnon {peak_anon * 1e3 / 1e9:.3f} GB, "
          f"peak VmHWM {peak_hwm * 1e3 / 1e9:.3f} GB{note}", file=sys.stderr)
    sys.exit(child.returncode if child.returncode >= 0 else 1)


if __name__ == "__main__":
    main()
