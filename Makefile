# ratify: see docs/development.md for what each target is for.
SHELL   := /bin/bash
GO      ?= go
BIN     ?= bin
PKGS    ?= ./...

.PHONY: all build run test e2e tools lint fmt fuzz clean demo generate library bench bench-compare policy-fixtures image

all: build

## run: the provider on 127.0.0.1:6001 with a sample registry, printing curl requests to try
run: build
	$(BIN)/ratify demo

## build: the ratify binary in bin/
build:
	$(GO) build -o $(BIN)/ratify ./cmd/ratify

## tools: build the pinned test tools into the cache (.tools/ unless RATIFY_TOOLS_DIR)
tools:
	test/tools/install.sh

## test: every test, with the real registry, notation and cosign (built first if missing);
## fuzz targets run their seed corpus
test: tools
	$(GO) test -count=1 -timeout 30m $(PKGS)

## e2e: only the end-to-end suite (the guide on a real control plane with real
## Gatekeeper and helm; Ratify's own scenarios), printing each step with its outcome
e2e: tools
	@# The components' own JSON logs (printed when a step fails) are left out.
	set -o pipefail; $(GO) test -count=1 -timeout 20m -v ./test/e2e/ 2>&1 | grep -v -E --line-buffered '^[[:space:]]*[{]'

## policy-fixtures: the images the shipped policies' tests expect, signed with fresh keys into an
## OCI layout in DIR (default .fixtures/policies), with DIR/resources.yaml; then
## bin/ratify policy test policies/ -c .fixtures/policies/resources.yaml
DIR ?= .fixtures/policies
policy-fixtures: build
	$(BIN)/ratify policy fixtures $(DIR)

## generate: deepcopy code and CRD manifests from crds/v1beta1 (controller-gen)
CONTROLLER_GEN ?= $(or $(RATIFY_TOOLS_DIR),.tools)/bin/controller-gen
generate:
	test/tools/install.sh controller-gen
	$(CONTROLLER_GEN) object paths=./crds/... crd paths=./crds/... output:crd:artifacts:config=crds/manifests

## library: library/default/customazurepolicy.json from the default constraint template (a test fails when it is stale)
library:
	$(GO) run ./cmd/ratify library azure-policy -o library/default/customazurepolicy.json

## lint: go vet and a gofmt check
lint:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

fmt:
	gofmt -w $$(git ls-files '*.go')

## fuzz: run each fuzz target for FUZZTIME (default 30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseReference -fuzztime $(FUZZTIME) ./builtins/oras
	$(GO) test -run '^$$' -fuzz FuzzReferenceGrammar -fuzztime $(FUZZTIME) ./builtins/oras
	$(GO) test -run '^$$' -fuzz FuzzLoad -fuzztime $(FUZZTIME) ./engine/config
	$(GO) test -run '^$$' -fuzz FuzzParseOptions -fuzztime $(FUZZTIME) ./builtins/notation
	$(GO) test -run '^$$' -fuzz FuzzParseOptions -fuzztime $(FUZZTIME) ./builtins/cosign
	$(GO) test -run '^$$' -fuzz FuzzRequest -fuzztime $(FUZZTIME) ./engine/server
	$(GO) test -run '^$$' -fuzz FuzzAppendString -fuzztime $(FUZZTIME) ./engine/server
	$(GO) test -run '^$$' -fuzz FuzzDecodeFast -fuzztime $(FUZZTIME) ./engine/server

clean:
	rm -rf $(BIN)

## demo: sign an image in a local registry with notation and cosign, then discover it
demo:
	@test/demo.sh

## bench: the load generator against ratify serve over mTLS (warm and cold
## figures, registry requests per verification on an OCI 1.1 and a
## distribution registry, peak RSS), then the Go benchmarks. BASELINE=path
## measures another ratify binary the same way in the same run, with ratios.
BASELINE ?=
bench: build
	test/tools/install.sh registry
	$(GO) run ./test/loadgen -ratify $(BIN)/ratify $(if $(BASELINE),-compare $(BASELINE))
	$(GO) test -run '^$$' -bench . -benchtime 2s ./engine/... ./test/azuresim/
	test/tools/install.sh etcd kube-apiserver kubectl gatekeeper helm notation cosign registry
	$(GO) test -run '^$$' -bench Admission -benchtime 1x ./test/e2e/

## bench-compare: ratify beside Ratify v1.4.4 (built from its module by test/tools, a peer,
## never a dependency) in one run: the same distribution registry, images signed by the real
## notation and cosign CLIs, mTLS and load; one table with the ratios, also in
## bin/bench-compare.md. COMPARE_FLAGS scales it (e.g. -rounds 1 -warm 2000; see
## go run ./test/loadgen peer -h).
COMPARE_FLAGS ?=
bench-compare: build
	test/tools/install.sh registry notation cosign ratify-v1.4.4
	$(GO) run ./test/loadgen peer -ratify $(BIN)/ratify -out $(BIN)/bench-compare.md $(COMPARE_FLAGS)

## image: the container image (the Dockerfile's, built without Docker) for PLATFORMS as an
## OCI index: pushed to IMAGE=<ref> (IMAGE_INSECURE=1 for a plain-HTTP registry; loopback
## ones need nothing), else an OCI layout in bin/image/. Timestamps are the commit time
## (or SOURCE_DATE_EPOCH), so a commit builds to the same digest.
IMAGE          ?=
IMAGE_INSECURE ?=
PLATFORMS      ?= linux/amd64,linux/arm64
image:
	$(GO) run ./cmd/imagebuild -go $(GO) -platforms $(PLATFORMS) -out $(BIN)/image $(if $(IMAGE),-push $(IMAGE)) $(if $(filter 1 true yes,$(IMAGE_INSECURE)),-insecure)
