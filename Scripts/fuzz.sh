#!/usr/bin/env bash
# Builds the libFuzzer targets (Fuzz/Targets, sanitized: fuzzer + address, optimized, with the
# library code instrumented too), replays the saved reproducers in Fuzz/Regressions/<target>/, then
# runs each fuzzer for FUZZ_SECONDS on a scratch copy of its seed corpus Fuzz/Corpus/<target>/ (the
# committed corpus is never written). Exits non-zero, naming the reproducer, if any target crashes,
# leaks, times out or runs out of memory.
#
#   FUZZ_SECONDS=60   seconds per target          FUZZ_TARGETS="plan gguf"   a subset
#   FUZZ_WORK=dir     scratch (default: a new temporary directory, kept when something failed)
#   FUZZ_ARGS="..."   more libFuzzer flags, e.g. "-jobs=1 -workers=1" or "-runs=1000000"
set -uo pipefail
# Swift's own crash backtracer would run inside the sanitizer and confuse it; libFuzzer reports instead.
export SWIFT_BACKTRACE=enable=no
cd "$(dirname "$0")/.." || exit 2

ALL="gguf safetensors safetensors_index tokenizer_json tokenizer_config chat_template prompt_file plan adapter_config adapter_tensors measurements"
TARGETS=${FUZZ_TARGETS:-$ALL}
SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}
BUILD=(swift build --package-path Fuzz/Targets -c debug -Xswiftc -O --sanitize=fuzzer --sanitize=address)
# LeakSanitizer stays on (Swift's runtime keeps its caches reachable from globals, so it is quiet),
# with one suppression for a leak inside swift-foundation (Fuzz/lsan.supp).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/Fuzz/lsan.supp:print_suppressions=0}

dict_for() {
    case "$1" in
        chat_template) echo Fuzz/Dictionaries/jinja.dict ;;
        plan) echo Fuzz/Dictionaries/plan.dict ;;
        tokenizer_json|tokenizer_config|safetensors_index|adapter_config|prompt_file|measurements|safetensors|adapter_tensors)
            echo Fuzz/Dictionaries/json.dict ;;
    esac
}

echo "== building fuzz targets: ${BUILD[*]}"
# gold warns once per ASan symbol it cannot export; those lines are noise.
"${BUILD[@]}" 2>&1 | grep -v "Cannot export local symbol"
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fuzz: build failed"; exit 2; }
BIN=$("${BUILD[@]}" --show-bin-path)

WORK=${FUZZ_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/abliterate-fuzz.XXXXXX")}
mkdir -p "$WORK"
failed=()
for t in $TARGETS; do
    exe="$BIN/fuzz-$t"
    [ -x "$exe" ] || { echo "fuzz: no target '$t' (have: $ALL)"; exit 2; }
    dir="$WORK/$t"
    rm -rf "$dir"; mkdir -p "$dir/corpus" "$dir/tmp"
    cp Fuzz/Corpus/"$t"/* "$dir/corpus/" 2>/dev/null || true
    dict=$(dict_for "$t")
    flags=(-rss_limit_mb=2048 -timeout=10 -artifact_prefix="$dir/" -print_final_stats=1)
    [ -n "$dict" ] && flags+=(-dict="$dict")

    if compgen -G "Fuzz/Regressions/$t/*" >/dev/null; then
        echo "== $t: replaying Fuzz/Regressions/$t"
        if ! TMPDIR="$dir/tmp" "$exe" "${flags[@]}" Fuzz/Regressions/"$t"/* >"$dir/replay.log" 2>&1; then
            tail -40 "$dir/replay.log"
            echo "fuzz: $t: a saved reproducer in Fuzz/Regressions/$t fails again (log: $dir/replay.log)"
            failed+=("$t (regression)")
        fi
    fi

    echo "== $t: fuzzing for ${SECONDS_PER_TARGET}s"
    # shellcheck disable=SC2086
    TMPDIR="$dir/tmp" "$exe" "${flags[@]}" -max_total_time="$SECONDS_PER_TARGET" ${FUZZ_ARGS:-} "$dir/corpus" >"$dir/fuzz.log" 2>&1
    rc=$?
    echo "$t: $(grep -E "^stat::number_of_executed_units" "$dir/fuzz.log" | tail -1 | awk '{print $2}') executions, $(grep -E "^stat::average_exec_per_sec" "$dir/fuzz.log" | tail -1 | awk '{print $2}') exec/s"
    artifacts=$(ls "$dir" | grep -E "^(crash|leak|timeout|oom|slow-unit)-" || true)
    if [ $rc -ne 0 ] || [ -n "$(echo "$artifacts" | grep -v '^slow-unit' || true)" ]; then
        grep -E "^(==[0-9]+==ERROR|SUMMARY|.*Fatal error|.*precondition|    #[0-9]+ )" "$dir/fuzz.log" | head -30
        for a in $artifacts; do echo "fuzz: $t: reproducer $dir/$a (replay: $exe $dir/$a)"; done
        echo "fuzz: $t failed (exit $rc, log: $dir/fuzz.log)"
        failed+=("$t")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]} (scratch kept: $WORK)"
    exit 1
fi
[ -z "${FUZZ_WORK:-}" ] && rm -rf "$WORK"
echo "fuzz: all targets clean ($TARGETS) for ${SECONDS_PER_TARGET}s each"
