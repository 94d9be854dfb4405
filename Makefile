# Build, test and ship the oc plugins. `make help` lists the targets.

GO      ?= go
PREFIX  ?= /usr/local
MODULE  := github.com/airgap-ocp/oc-plugins
VERSION ?= $(shell git describe --tags --match 'v*' --dirty 2>/dev/null || echo v0.0.0-dev)

# containers/image without cgo: pure-Go OpenPGP and no storage graph drivers.
BUILDTAGS := containers_image_openpgp,exclude_graphdriver_btrfs,exclude_graphdriver_devicemapper,containers_image_storage_stub
export GOFLAGS := $(GOFLAGS) -tags=$(BUILDTAGS)
export CGO_ENABLED ?= 0

PLUGINS  := $(sort $(notdir $(wildcard cmd/oc-*)))
# Extra names a binary answers to (kubectl finds plugins by file name).
ALIASES  := $(if $(filter oc-mhc-pause,$(PLUGINS)),oc-mhc-resume=oc-mhc-pause)
LDFLAGS  := -s -w -X $(MODULE)/pkg/cli.Version=$(VERSION)
# Fuzz targets as package:Func; `make fuzz` runs each for FUZZTIME, `make test` for 5s.
FUZZ     := pkg/manifest:FuzzRead pkg/release:FuzzTarget pkg/mirrorset:FuzzValidateIDMS pkg/signature:FuzzParsePayload pkg/archive:FuzzArchiveIndex
FUZZTIME ?= 2m
# make bench: payload scale (small or full) and runs of each tool (the median is reported).
BENCH_SCALE ?= small
BENCH_RUNS  ?= 3
# BENCH_LINK=intercontinental|regional|site puts every registry behind an emulated link (toxiproxy).
BENCH_LINK  ?=
# BENCH_PAYLOAD=operators mirrors a 500-image selection of a synthetic operator catalog instead of a release.
BENCH_PAYLOAD ?=
# BENCH_AUTH=token makes the registries hand out Bearer tokens instead of checking Basic credentials.
BENCH_AUTH ?=
export BENCH_AUTH

.PHONY: help build test testbin install demo sandbox sandbox-stop lint bench bench-go dist clean fuzz

help: ## list the targets
	@awk -F':.*## ' '/^[a-z-]+:.*## /{printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build the plugins into bin/: one binary, ocplugins, and an oc-* link to it per plugin
	@./hack/check-go.sh
	@mkdir -p bin
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/ocplugins
	@rm -f $(addprefix bin/,$(PLUGINS))
	@for name in $$(bin/ocplugins --names); do ln -sfn ocplugins bin/oc-$$name; done

testbin: ## build kube-apiserver, etcd and kubectl for tests and the demo into bin/testbin (cached)
	@./hack/check-go.sh
	@./hack/testbin.sh >/dev/null

test: testbin build ## run every test, with the real API server and registries
	OC_PLUGINS_TESTBIN=$$(./hack/testbin.sh) OC_PLUGINS_BIN=$(CURDIR)/bin $(GO) test -count=1 -timeout 30m ./...
	@$(MAKE) --no-print-directory fuzz FUZZTIME=5s

fuzz: ## run each fuzz target for FUZZTIME (default 2m; make test runs them for 5s)
	@set -e; $(foreach f,$(FUZZ),echo "fuzz $(f) for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz '^$(word 2,$(subst :, ,$(f)))$$' -fuzztime $(FUZZTIME) ./$(word 1,$(subst :, ,$(f)));)

bench: build ## mirroring benchmark vs skopeo, crane, regctl (BENCH_SCALE=small|full, BENCH_RUNS=3, BENCH_LINK=intercontinental|regional|site, BENCH_PAYLOAD=operators, BENCH_AUTH=token); JSON in bench/results/
	@mkdir -p bin/bench
	cd hack/benchtools && $(GO) build -trimpath -o ../../bin/bench/ github.com/google/go-containerregistry/cmd/crane github.com/regclient/regclient/cmd/regctl ./limit ./measure
	cd hack/benchtools && $(GO) build -trimpath -o ../../bin/bench/toxiproxy-cli github.com/Shopify/toxiproxy/v2/cmd/cli
	cd hack/benchtools && $(GO) build -trimpath -o ../../bin/bench/toxiproxy-link ./link
	$(GO) build -o bin/bench/bench ./hack/bench
	./bin/bench/bench -scale $(BENCH_SCALE) -runs $(BENCH_RUNS) -link "$(BENCH_LINK)" -payload "$(BENCH_PAYLOAD)" -out bench/results

bench-go: ## run the Go benchmarks
	$(GO) test -run '^$$' -bench . -benchmem ./...

install: build ## install ocplugins, its oc-*/kubectl-* links and completion helpers into $(PREFIX)/bin
	OCPLUGINS=bin/ocplugins ./hack/install.sh $(DESTDIR)$(PREFIX)/bin

demo: testbin build ## run the disconnected-update walkthrough against a local sandbox
	OC_PLUGINS_TESTBIN=$$(./hack/testbin.sh) ./hack/demo.sh

SANDBOX_DIR ?= $(CURDIR)/bin/sandbox.d
sandbox: testbin build ## start the demo's sandbox in the background and print what to export (make sandbox-stop ends it)
	OC_PLUGINS_TESTBIN=$$(./hack/testbin.sh) ./hack/sandbox.sh start $(SANDBOX_DIR)

sandbox-stop: ## stop the sandbox make sandbox started
	./hack/sandbox.sh stop $(SANDBOX_DIR)

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

dist: ## cross-build release archives and krew manifests into dist/
	VERSION=$(VERSION) PLUGINS="$(PLUGINS)" ALIASES="$(ALIASES)" LDFLAGS='$(LDFLAGS)' ./hack/dist.sh

clean: ## remove build output (keeps the cached test binaries)
	rm -rf dist bin/ocplugins bin/oc-*
