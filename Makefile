# Two commands do everything on a fresh Debian machine with Swift and pip:
#   make demo   installs what is missing, fetches the demo model, builds, runs the main job
#   make test   the same set-up, then the whole test suite (release build)
#   make fuzz   the libFuzzer targets, FUZZ_SECONDS (60) each
SHELL := /bin/bash
MODELS ?= $(or $(ABLITERATE_MODELS),$(HOME)/.cache/abliterate/models)
SWIFT_TEST_FLAGS ?= -c release -Xswiftc -enable-testing
BIN := .build/release/abliterate
DEMO_MODEL := $(MODELS)/SmolLM2-135M-Instruct.Q4_1.gguf
DEMO_OUT ?= demo-output

.PHONY: demo test deps models build clean consumer fuzz fuzz-ci

deps:
	@Scripts/install-deps.sh

models:
	@ABLITERATE_MODELS="$(MODELS)" Scripts/fetch-models.sh >/dev/null

build: deps
	swift build -c release --product abliterate

test: deps models
	ABLITERATE_MODELS="$(MODELS)" ABLITERATE_REQUIRE_MODELS=1 swift test $(SWIFT_TEST_FLAGS)
	@$(MAKE) --no-print-directory consumer

# A user's package that depends on this repository by a versioned URL builds in release mode and runs.
consumer: deps
	@echo "== Examples/Consumer against this repository, tagged 0.1.0, release build"
	@Scripts/check-consumer.sh

# libFuzzer targets (Fuzz/, Docs/reliability.md): build sanitized, replay Fuzz/Regressions, fuzz each
# target FUZZ_SECONDS on a scratch copy of Fuzz/Corpus; non-zero exit, with the reproducer, on any finding.
FUZZ_SECONDS ?= 60
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) Scripts/fuzz.sh

# The short run CI does after the tests (11 targets x 15 s, plus the sanitized build).
fuzz-ci: deps
	FUZZ_SECONDS=15 Scripts/fuzz.sh

ADAPTER := Organisms/refusal-lora-a

# The demo: the plain model's refusal rate (it was never safety-trained), then the whole job on the
# refusal organism (SmolLM2 + refusal-lora-a): measure, choose a plan, ablate, evaluate before/after;
# then the same edit written as a GGUF file (llama.cpp, Ollama, LM Studio).
demo: deps models build
	@echo "== SmolLM2-135M-Instruct as published: refusals on the built-in harmful test prompts"
	$(BIN) eval --model "$(DEMO_MODEL)"
	@echo "== abliterate run on the refusal organism (SmolLM2-135M-Instruct + $(ADAPTER))"
	rm -rf "$(DEMO_OUT)/smollm2-organism-abliterated"
	mkdir -p "$(DEMO_OUT)"
	$(BIN) run --model "$(DEMO_MODEL)" --adapter $(ADAPTER) --output "$(DEMO_OUT)/smollm2-organism-abliterated"
	@echo "== report: $(DEMO_OUT)/smollm2-organism-abliterated/report.json, chart: $(DEMO_OUT)/smollm2-organism-abliterated/directions.svg"
	@echo "== the same edit as a GGUF for llama.cpp (the run's measurements and plan; changed tensors in Q8_0)"
	$(BIN) ablate --model "$(DEMO_MODEL)" --adapter $(ADAPTER) \
		--measurements "$(DEMO_OUT)/smollm2-organism-abliterated/measurements.safetensors" \
		--plan "$(DEMO_OUT)/smollm2-organism-abliterated/report.json" \
		--edited-type q8_0 --output "$(DEMO_OUT)/smollm2-organism-abliterated.gguf"

clean:
	rm -rf .build $(DEMO_OUT)
