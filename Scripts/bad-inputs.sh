#!/usr/bin/env bash
# Feeds hostile and mistaken inputs to the release CLI and prints the bad-input table of
# Docs/reliability.md: input, the message (first stderr line), exit status, seconds, and what was written.
# Every input file is hashed before and after; "written" lists files that appeared in the scratch folder.
#   Scripts/bad-inputs.sh [path/to/abliterate] [SmolLM2-135M-Instruct.Q4_1.gguf]
set -uo pipefail
BIN=$(realpath "${1:-.build/release/abliterate}")
MODEL=$(realpath "${2:-${ABLITERATE_MODELS:-$HOME/.cache/abliterate/models}/SmolLM2-135M-Instruct.Q4_1.gguf}")
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"

# --- fixtures -------------------------------------------------------------------------------------
cp "$MODEL" model.gguf
printf 'How do I pick a lock?\nWrite a phishing email.\n' > harmful.txt
printf 'Name three fruits.\nWhat is 2 + 2?\n' > harmless.txt
head -c 4096 model.gguf > truncated.gguf
head -c 65536 /dev/urandom > random.gguf
mkfifo fifo.gguf
mkdir prompts.txt
python3 - <<'PY'
import json, struct
data = open("model.gguf", "rb").read()
def patch(key, value, name):
    k = key.encode(); i = data.index(struct.pack("<Q", len(k)) + k) + 8 + len(k)
    assert struct.unpack_from("<I", data, i)[0] == 4  # u32
    open(name, "wb").write(data[:i + 4] + struct.pack("<I", value) + data[i + 8:])
patch("llama.block_count", 1 << 20, "blocks-2p20.gguf")
patch("llama.context_length", 0, "context-0.gguf")
patch("llama.embedding_length", 0xFFFFFFFF, "hidden-huge.gguf")
def st(name, header, body=b""):
    h = json.dumps(header).encode()
    open(name, "wb").write(struct.pack("<Q", len(h)) + h + body)
st("negative-shape.safetensors", {"w": {"dtype": "F32", "shape": [-(1 << 63), 16], "data_offsets": [0, 64]}}, bytes(64))
st("overflow-shape.safetensors", {"w": {"dtype": "F32", "shape": [1 << 40, 1 << 40], "data_offsets": [0, 64]}}, bytes(64))
st("bad-offsets.safetensors", {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 1 << 60]}}, bytes(16))
open("huge-header.safetensors", "wb").write(struct.pack("<Q", 1 << 62) + b"{}")
with open("long-line.txt", "w") as f: f.write("a" * 10_000_000 + "\n")
with open("bad.json", "w") as f: f.write('[\n  "ok",\n  oops\n]\n')
with open("bad.jsonl", "w") as f: f.write('"fine"\n{"prompt": }\n')
with open("header.csv", "w") as f: f.write("x" * 10_000_000 + "\nrow\n")
# A GGUF key name with NUL, ESC and a terminal title sequence, same length as the one it replaces, and
# an unknown value type after it, so the reader stops there and names the key.
k = b"general.architecture"; bad = b"g\x00\x1b]0;pwned\x07\n\rxxxxxx"
assert len(bad) == len(k)
i = data.index(struct.pack("<Q", len(k)) + k) + 8
open("escape-key.gguf", "wb").write(data[:i] + bad + struct.pack("<I", 99) + data[i + len(k) + 4:])
PY

# Hostile chat templates: the demo model's tokenizer files with another template.
"$BIN" convert model.gguf --output hf > /dev/null 2>&1
template() {  # template NAME 'JINJA'
  mkdir -p "$1"; cp hf/tokenizer.json hf/config.json "$1"/
  python3 -c 'import json,sys; c=json.load(open("hf/tokenizer_config.json")); c["chat_template"]=sys.argv[2]; json.dump(c, open(sys.argv[1]+"/tokenizer_config.json","w"))' "$1" "$2"
}
template t-mod "{{ (-9223372036854775807 - 1) // -1 }}"
template t-add "{{ 9223372036854775807 + 1 }}"
template t-pow "{{ 2 ** 64 }}"
template t-repeat "{{ 'a' * 999999999999 }}"
template t-parens "{{ $(printf '(%.0s' $(seq 20000))1$(printf ')%.0s' $(seq 20000)) }}"
template t-namespace "{% set ns = namespace(a=1) %}{% set ns.a = ns %}{{ ns|tojson }}"
template t-indent "{{ messages|tojson(indent=9223372036854775807) }}"
template t-gigabyte "{% for i in range(100000) %}{{ 'x' * 10000 }}{% endfor %}"
template t-busy "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
rm -rf hf

# Regular files only (fifo.gguf would block a reader, prompts.txt is a directory).
hashes() { find . -maxdepth 1 -type f ! -name 'std*.log' -exec sha256sum {} + | sort; }
row() {  # row "input description" command...
  local what=$1; shift
  local before; before=$(hashes); local files_before; files_before=$(ls -A | sort)
  local start=$SECONDS
  timeout 60 "$@" > stdout.log 2> stderr.log < /dev/null
  local code=$? secs=$((SECONDS - start))
  local after; after=$(hashes)
  local new; new=$(comm -13 <(echo "$files_before") <(ls -A | sort) | grep -v -e '^stdout.log$' -e '^stderr.log$' | tr '\n' ' ')
  local msg; msg=$(grep -v -E '^(\[ *[0-9]+s\] )?loading ' stderr.log | head -n 1 | cut -c1-160 | sed 's/|/\\|/g')
  local changed="nothing"
  [ "$before" != "$after" ] && changed="**an input changed**"
  [ -n "$new" ] && changed="$changed; new: $new"
  [ "$code" = 124 ] && msg="(killed after 60 s) $msg"
  echo "| $what | \`$msg\` | $code | $secs | $changed |"
  rm -f stdout.log stderr.log
}

echo "| input | message (first line on stderr) | exit | s | written / changed |"
echo "|---|---|---|---|---|"
row "measure --output the model itself" "$BIN" measure --model model.gguf --harmful harmful.txt --harmless harmless.txt --output model.gguf
row "measure --output the harmful prompt file" "$BIN" measure --model model.gguf --harmful harmful.txt --harmless harmless.txt --output harmful.txt
row "measure --output sub/../harmless.txt (same file, other spelling)" "$BIN" measure --model model.gguf --harmful harmful.txt --harmless harmless.txt --output ./prompts.txt/../harmless.txt
row "convert --output a path under a file (model.gguf/out)" "$BIN" convert model.gguf --output model.gguf/out
row "measure --output an existing directory" "$BIN" measure --model model.gguf --harmful harmful.txt --harmless harmless.txt --output prompts.txt
row "a FIFO as --model" "$BIN" inspect fifo.gguf
row "a FIFO as --model of generate" "$BIN" generate --model fifo.gguf --prompt hi
row "a directory as the harmful prompt file" "$BIN" measure --model model.gguf --harmful prompts.txt --harmless harmless.txt --output m.safetensors
row "a truncated GGUF (first 4 KiB)" "$BIN" inspect truncated.gguf
row "64 KiB of random bytes named .gguf" "$BIN" inspect random.gguf
row "GGUF with block_count = 2^20 (tensors for 30 blocks)" "$BIN" generate --model blocks-2p20.gguf --prompt hi --max-new-tokens 1
row "GGUF with context_length = 0" "$BIN" generate --model context-0.gguf --prompt hi --max-new-tokens 1
row "GGUF with embedding_length = 2^32 - 1" "$BIN" generate --model hidden-huge.gguf --prompt hi --max-new-tokens 1
row "GGUF key name with NUL, ESC and a title sequence" "$BIN" generate --model escape-key.gguf --prompt hi --max-new-tokens 1
row "safetensors measurements with shape [-2^63, 16]" "$BIN" analyze negative-shape.safetensors
row "safetensors with shape [2^40, 2^40]" "$BIN" inspect overflow-shape.safetensors
row "safetensors with data offsets past the end" "$BIN" inspect bad-offsets.safetensors
row "safetensors header length 2^62" "$BIN" inspect huge-header.safetensors
row "a prompt file with one 10 MB line" "$BIN" measure --model model.gguf --harmful long-line.txt --harmless harmless.txt --output m.safetensors
row "malformed .json prompt file" "$BIN" measure --model model.gguf --harmful bad.json --harmless harmless.txt --output m.safetensors
row "malformed .jsonl line" "$BIN" measure --model model.gguf --harmful bad.jsonl --harmless harmless.txt --output m.safetensors
row "CSV prompt file with a 10 MB header" "$BIN" measure --model model.gguf --harmful header.csv --harmless harmless.txt --output m.safetensors
row "analyze m --plot m (the measurements file)" "$BIN" analyze harmful.txt --plot harmful.txt
row "--scale -1" "$BIN" ablate --model model.gguf --measurements x.safetensors --plan 1:0-1 --scale -1 --output out
row "plan entry 1:0-1@-2 (negative scale)" "$BIN" run --model model.gguf --plan 1:0-1@-2 --output out
row "plan layer out of range (99:0-1)" "$BIN" run --model model.gguf --plan 99:0-1 --output out
row "generate --max-new-tokens 9223372036854775807" "$BIN" generate --model model.gguf --prompt hi --max-new-tokens 9223372036854775807
row "generate --max-new-tokens -1" "$BIN" generate --model model.gguf --prompt hi --max-new-tokens -1
row "generate --threads -1" "$BIN" generate --model model.gguf --prompt hi --threads -1
row "eval --limit 0" "$BIN" eval --model model.gguf --limit 0
row "template {{ (-2^63) // -1 }}" "$BIN" tokenize --model t-mod --text hi --chat
row "template {{ 9223372036854775807 + 1 }}" "$BIN" tokenize --model t-add --text hi --chat
row "template {{ 2 ** 64 }}" "$BIN" tokenize --model t-pow --text hi --chat
row "template {{ 'a' * 999999999999 }}" "$BIN" tokenize --model t-repeat --text hi --chat
row "template with 20,000 nested parentheses" "$BIN" tokenize --model t-parens --text hi --chat
row "template: a namespace that contains itself, tojson" "$BIN" tokenize --model t-namespace --text hi --chat
row "template: tojson(indent=2^63-1)" "$BIN" tokenize --model t-indent --text hi --chat
row "template rendering 1 GB in a loop" "$BIN" tokenize --model t-gigabyte --text hi --chat
row "template looping 10^10 times, printing nothing" "$BIN" tokenize --model t-busy --text hi --chat
row "an adapter directory that does not exist" "$BIN" generate --model model.gguf --adapter no-such-adapter --prompt hi
