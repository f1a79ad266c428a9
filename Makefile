# selfsup — two commands do everything on a fresh Debian 12 machine:
#   make run    the main job on the embedded Fashion-MNIST default
#   make test   all tests
# Both install what they need (Debian packages, Go modules) idempotently.

SHELL := /bin/bash
GO    ?= go
BIN   ?= bin
# Every Go command runs with the environment that bridges gotch v0.9.1 to the
# installed libtorch (see sdk/backend/README.md). TORCH=cuda with
# LIBTORCH=/path/to/libtorch-2.1 builds against a CUDA libtorch instead.
TORCH ?= cpu
ENV   := eval "$$(SELFSUP_TORCH=$(TORCH) sh sdk/backend/env.sh)" &&

# Debian packages: libtorch and OpenBLAS (libtorch's libblas.so.3 is netlib's
# reference BLAS otherwise, ~15x slower), the data set, protoc for `make
# proto`, and the X/GL libraries + Xvfb of the RL viewer and its test.
APT_PKGS := libtorch-dev libopenblas0-pthread dataset-fashion-mnist \
	libgl1-mesa-dev libx11-dev libxcursor-dev libxrandr-dev libxinerama-dev \
	libxi-dev libxxf86vm-dev xvfb xauth \
	python3-grpcio python3-torch python3-cryptography python3-protobuf
APT_PROTO := protobuf-compiler

PLUGINS := $(wildcard plugins/*/cmd/selfsup-*)
# Example plugins and the binary name each builds to.
EXAMPLE_PLUGINS := thirdparty-plugin:selfsup-vicreg plugin-with-head:selfsup-simmoco

.PHONY: all setup env build test test-short run eval bench bench-methods bench-rl proto lint doctor clean

all: build

setup:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "setup: installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "setup: Debian packages present"; fi
	@$(GO) mod download
	@$(GO) mod verify >/dev/null

# env prints the variables for building with plain `go`:  eval "$(make -s env)"
env:
	@SELFSUP_TORCH=$(TORCH) sh sdk/backend/env.sh

build: setup
	@mkdir -p $(BIN)
	$(ENV) $(GO) build -o $(BIN)/selfsup ./hosts/selfsup
	$(ENV) $(GO) build -o $(BIN)/selfsup-rl ./hosts/rl
	$(ENV) $(GO) build -o $(BIN)/selfsup-translate ./hosts/translate
	@for p in $(PLUGINS); do echo "$(GO) build -o $(BIN)/$$(basename $$p) ./$$p"; $(ENV) $(GO) build -o $(BIN)/$$(basename $$p) ./$$p || exit 1; done
	@for e in $(EXAMPLE_PLUGINS); do d=$${e%%:*}; b=$${e##*:}; echo "$(GO) build -o $(BIN)/$$b ./examples/$$d"; $(ENV) $(GO) build -o $(BIN)/$$b ./examples/$$d || exit 1; done

test: setup build
	$(ENV) $(GO) vet ./...
	$(ENV) $(GO) test -count=1 -timeout 45m ./...
	$(ENV) xvfb-run -a $(GO) test -count=1 -tags viewer ./envs/viewer/...

# test-short skips the long runs (2,000-step memory test and the like).
test-short: setup
	$(ENV) $(GO) test -short -count=1 ./...

doctor: build
	$(BIN)/selfsup doctor

# run: the main job. Pre-trains convnet-s with the SimCLR plugin on
# Fashion-MNIST (recipes/run.yaml), evaluates it next to the baselines, and
# leaves the run folder in runs/make-run.
run: build
	$(BIN)/selfsup doctor
	rm -rf runs/make-run
	$(BIN)/selfsup pretrain --config recipes/run.yaml

# eval: the full-data evaluation tests (raw pixels and random-init convnet-s
# on all of Fashion-MNIST against the PyTorch reference's numbers).
eval: setup
	$(ENV) $(GO) test -tags full -run Full -count=1 -v -timeout 60m ./sdk/eval/

# bench-methods: pre-trains every method with a recipes/<method>-fmnist.yaml
# for the same budget (EPOCHS, default 1) through its plugin, evaluates each,
# and writes the table to docs/benchmarks.md (about 1.5 h on 2 cores; not
# part of CI). Reruns keep the methods already measured in runs/bench-methods.
EPOCHS ?= 1
bench-methods: build
	$(ENV) $(GO) run ./bench/methods --epochs $(EPOCHS) --bin $(BIN) $(if $(METHODS),--methods $(METHODS))

# bench-rl: trains SAC agents on cartpole-swingup for 100k environment steps
# with 2 seeds (AGENTS, SEEDS, BUDGET=2h to stop after a while), resuming the
# runs an earlier invocation left in runs/bench-rl, and writes docs/rl.md
# (hours per run on 2 cores; not part of CI).
bench-rl: build
	$(ENV) $(GO) run ./bench/rl --bin $(BIN) $(if $(AGENTS),--agents $(AGENTS)) $(if $(SEEDS),--seeds $(SEEDS)) $(if $(BUDGET),--budget $(BUDGET))

# bench: benchmarks, written to docs/bench/ (not part of CI). CURL_REPO, a
# checkout of github.com/MishaLaskin/curl outside this repository, adds the
# official agent's update time beside ours; CUT_REPO, a checkout of
# github.com/taesungp/contrastive-unpaired-translation, the official CUT
# iteration's beside ours.
bench: build
	@mkdir -p docs/bench
	$(ENV) $(GO) test -run '^$$' -bench . -benchtime 20000x ./envs/ | tee docs/bench/envs.txt
	$(ENV) $(GO) test -run '^$$' -bench Step -benchtime 2000x ./sdk/plugin/ | tee docs/bench/plugin-step.txt
	$(ENV) $(GO) test -run '^$$' -bench . -benchtime 50x ./sdk/augment/ | tee docs/bench/augment.txt
	$(ENV) $(GO) test -run '^$$' -bench ConvNetSStep -benchtime 10x ./sdk/encoder/ | tee docs/bench/encoder.txt
	bash bench/step.sh
	CURL_REPO=$(CURL_REPO) bash bench/rl/update.sh
	CUT_REPO=$(CUT_REPO) bash bench/translate/step.sh

proto:
	@dpkg -s $(APT_PROTO) >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PROTO))
	sh proto/gen.sh

lint:
	@bad=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi
	$(ENV) $(GO) vet ./...

clean:
	rm -rf $(BIN) build
