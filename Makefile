# Two commands do everything on a fresh Debian machine with Swift and pip:
#   make demo   installs what is missing, fetches the demo model, builds, runs the main job
#   make test   the same set-up, then the whole test suite (release build)
SHELL := /bin/bash
MODELS ?= $(or $(ABLITERATE_MODELS),$(HOME)/.cache/abliterate/models)
SWIFT_TEST_FLAGS ?= -c release -Xswiftc -enable-testing
BIN := .build/release/abliterate
DEMO_MODEL := $(MODELS)/SmolLM2-135M-Instruct.Q4_1.gguf
DEMO_OUT ?= demo-output

.PHONY: demo test deps models build clean

deps:
	@Scripts/install-deps.sh

models:
	@ABLITERATE_MODELS="$(MODELS)" Scripts/fetch-models.sh >/dev/null

build: deps
	swift build -c release --product abliterate

test: deps models
	ABLITERATE_MODELS="$(MODELS)" ABLITERATE_REQUIRE_MODELS=1 swift test $(SWIFT_TEST_FLAGS)

demo: deps models build
	$(BIN) inspect "$(DEMO_MODEL)"

clean:
	rm -rf .build $(DEMO_OUT)
