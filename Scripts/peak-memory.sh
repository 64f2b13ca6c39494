#!/usr/bin/env bash
# Peak anonymous memory of a command (Linux):
#
#   Scripts/peak-memory.sh COMMAND [ARGS...]
#
# Runs COMMAND, reads RssAnon (anonymous resident memory: what the process allocated, not the pages of
# files it maps, such as a memory-mapped model) from /proc/PID/status every 10 ms, and prints, after the
# command's own output, `peak RssAnon: N MB, wall: S s` on stderr. Exits with the command's status.
set -uo pipefail
[[ $# -ge 1 ]] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
start=$(date +%s.%N)
"$@" &
pid=$!
peak=0
while kill -0 "$pid" 2>/dev/null; do
  kb=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  [[ -n ${kb:-} && $kb -gt $peak ]] && peak=$kb
  sleep 0.01
done
wait "$pid"
status=$?
end=$(date +%s.%N)
awk -v kb="$peak" -v s="$start" -v e="$end" 'BEGIN { printf "peak RssAnon: %.1f MB, wall: %.1f s\n", kb / 1000, e - s }' >&2
exit $status
