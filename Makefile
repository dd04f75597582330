# One entry point for building, running and testing otelcol-chrony.
# Everything the targets need is pinned here and installed by the targets.

SHELL := /bin/bash
comma := ,
.DEFAULT_GOAL := help

GO          ?= go
TOOLS_DIR   := $(CURDIR)/.tools
MDATAGEN    := $(TOOLS_DIR)/mdatagen
STATICCHECK := $(TOOLS_DIR)/staticcheck
BUILDER     := $(TOOLS_DIR)/builder
BUILDER_VERSION := v0.165.0
OTELCOL     := _build/otelcol-chrony
NODE        := _build/node/otelcol-chrony-node
NODE_MODULE := node
EVIDENCE    := _build/chrony-evidence
RECEIVER    := receiver/chronyreceiver
TESTKIT     := internal/testkit
# Every Go module of this repository: the product modules (chrony-evidence at
# the root, the receiver, the node components) and those that only tests and
# development tools need, kept apart so their dependencies stay out of the
# products' module graphs.
MODULES     := . $(RECEIVER) $(NODE_MODULE) $(TESTKIT) tools e2e deploy test/cluster
# Every directory mdatagen generates code for: the receiver and each node
# component with a metadata.yaml.
MDATAGEN_DIRS := $(RECEIVER) $(patsubst %/metadata.yaml,%,$(wildcard $(NODE_MODULE)/*/metadata.yaml))
DEV_TOOLS   := _build/tools
FUZZTIME    ?= 2m
TEST_FUZZTIME ?= 10s

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(MDATAGEN): internal/tools/go.mod internal/tools/go.sum
	cd internal/tools && $(GO) build -o $(MDATAGEN) go.opentelemetry.io/collector/cmd/mdatagen

$(STATICCHECK): internal/tools/go.mod internal/tools/go.sum
	cd internal/tools && $(GO) build -o $(STATICCHECK) honnef.co/go/tools/cmd/staticcheck

$(BUILDER):
	GOBIN=$(TOOLS_DIR) $(GO) install go.opentelemetry.io/collector/cmd/builder@$(BUILDER_VERSION)

# Rebuilt only when the manifest, the receiver or the node components changed; a cold build takes
# about 5 minutes and 2.6 GB of module cache.
$(OTELCOL): $(BUILDER) builder-config.yaml $(RECEIVER)/go.mod $(RECEIVER)/go.sum $(NODE_MODULE)/go.mod $(NODE_MODULE)/go.sum $(shell find receiver $(NODE_MODULE) -name '*.go' -not -name '*_test.go')
	$(BUILDER) --config builder-config.yaml
	@touch $@

# The DaemonSet's lean build: the receiver and this repository's node
# components only (builder-node.yaml, docs/benchmarks.md).
$(NODE): $(BUILDER) builder-node.yaml $(RECEIVER)/go.mod $(RECEIVER)/go.sum $(NODE_MODULE)/go.mod $(NODE_MODULE)/go.sum $(shell find receiver $(NODE_MODULE) -name '*.go' -not -name '*_test.go')
	$(BUILDER) --config builder-node.yaml
	@touch $@

# chrony-evidence names the revision it was built from in every report's
# manifest, so it is stamped with it even where GOFLAGS says -buildvcs=false
# (auto: a build from a tree without git still works, unstamped).
STAMP := -buildvcs=auto

# Static, like the collector: it ships in the same image.
$(EVIDENCE): go.mod go.sum $(shell find cmd/chrony-evidence internal/evidence -name '*.go' -not -name '*_test.go')
	CGO_ENABLED=0 $(GO) build $(STAMP) -trimpath -o $@ ./cmd/chrony-evidence

.PHONY: build
build: $(OTELCOL) $(NODE) $(EVIDENCE) ## build the otelcol-chrony and otelcol-chrony-node distributions (ocb) and chrony-evidence into _build/

# The image's binaries, static, per platform: the collector from the sources
# ocb generated in _build/, chrony-evidence from this module.
IMAGE_ARCHS := amd64 arm64
IMAGE_BINS  := $(foreach a,$(IMAGE_ARCHS),_build/image/$(a)/otelcol-chrony _build/image/$(a)/otelcol-chrony-node _build/image/$(a)/chrony-evidence)

_build/image/%/otelcol-chrony: $(OTELCOL)
	cd _build && CGO_ENABLED=0 GOOS=linux GOARCH=$* $(GO) build -trimpath -ldflags='-s -w' -o image/$*/otelcol-chrony .

_build/image/%/otelcol-chrony-node: $(NODE)
	cd _build/node && CGO_ENABLED=0 GOOS=linux GOARCH=$* $(GO) build -trimpath -ldflags='-s -w' -o ../image/$*/otelcol-chrony-node .

_build/image/%/chrony-evidence: $(EVIDENCE)
	CGO_ENABLED=0 GOOS=linux GOARCH=$* $(GO) build $(STAMP) -trimpath -ldflags='-s -w' -o $@ ./cmd/chrony-evidence

.PHONY: image
image: $(IMAGE_BINS) $(DEV_TOOLS)/mkimage ## build the linux/amd64 + linux/arm64 image index without a daemon into _build/otelcol-chrony-oci (and SBOMs into _build/sbom)
	$(DEV_TOOLS)/mkimage -bin-dir _build/image -platforms $(subst $(eval) ,$(comma),$(IMAGE_ARCHS)) -out _build/otelcol-chrony-oci

# Development tools (tools/, a module of their own), built on demand.
$(DEV_TOOLS)/%: FORCE
	$(GO) build -C tools -o $(CURDIR)/$@ ./$*

.PHONY: FORCE
FORCE:

.PHONY: run
run: $(OTELCOL) $(DEV_TOOLS)/devrun ## run otelcol-chrony against this machine's chronyd, or a lab chronyd when none answers
	$(DEV_TOOLS)/devrun

.PHONY: deps
deps: ## install what the tests need (Debian's chrony and prometheus, npm's azurite into .tools/azurite, Go modules)
	@./scripts/install-deps.sh
	for m in $(MODULES); do (cd $$m && $(GO) mod download) || exit 1; done

.PHONY: generate
generate: $(MDATAGEN) ## regenerate internal/metadata, generated tests and documentation.md from each metadata.yaml (receiver, node components)
	for d in $(MDATAGEN_DIRS); do (cd $$d && $(MDATAGEN) metadata.yaml) || exit 1; done
	gofmt -w $(MDATAGEN_DIRS)

.PHONY: check-generated
check-generated: $(MDATAGEN) ## fail when generated code or docs differ from metadata.yaml
	./scripts/check-generated.sh $(MDATAGEN) $(MDATAGEN_DIRS)

.PHONY: lint
lint: $(STATICCHECK) ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	for m in $(MODULES); do (cd $$m && $(GO) vet ./... && $(STATICCHECK) ./...) || exit 1; done

.PHONY: test
test: deps lint check-generated build image $(DEV_TOOLS)/devrun ## run every test: unit, real chronyd, and the built collector end to end into Prometheus
	cd $(RECEIVER) && $(GO) test -race -count=1 ./internal/...
	cd $(RECEIVER) && $(GO) test -count=1 ./...
	cd $(NODE_MODULE) && $(GO) test -race -count=1 ./...
	$(GO) test -count=1 ./...
	cd $(TESTKIT) && $(GO) test -count=1 ./...
	cd tools && $(GO) test -count=1 ./...
	cd deploy && $(GO) test -count=1 ./...
	# -parallel: the series count runs 16 collectors at once, mostly waiting.
	cd e2e && $(GO) test -count=1 -parallel 16 ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(TEST_FUZZTIME)

.PHONY: fuzz
fuzz: ## fuzz the chrony and NTP reply decoding for FUZZTIME each (default 2m; make test runs them for 10s)
	cd $(RECEIVER) && $(GO) test -run '^$$' -fuzz '^FuzzReply$$' -fuzztime $(FUZZTIME) ./internal/chronyclient/
	cd $(RECEIVER) && $(GO) test -run '^$$' -fuzz '^FuzzCheck$$' -fuzztime $(FUZZTIME) ./internal/crosscheck/

.PHONY: bench
bench: build ## measure round trips, scrapes, chronyc and the collector process; writes docs/benchmarks
	./scripts/bench.sh

.PHONY: bench-rollup
bench-rollup: $(EVIDENCE) $(DEV_TOOLS)/evidencebench ## chrony-evidence rollup of a year of daily reports of 1,000 nodes: time and peak RSS (about 2 minutes, 2 GB of disk)
	$(DEV_TOOLS)/evidencebench -rollup-nodes 1000 -rollup-days 365 -evidence $(EVIDENCE) -doc docs/evidence.md

.PHONY: bench-evidence
bench-evidence: $(EVIDENCE) $(DEV_TOOLS)/evidencebench ## chrony-evidence over a month of 25, 50 and 100 nodes backfilled into Prometheus: time and peak RSS (about 10 minutes)
	@./scripts/install-deps.sh prometheus
	$(DEV_TOOLS)/evidencebench -nodes 25,50,100 -days 30 -evidence $(EVIDENCE) -doc docs/evidence.md

# Not part of make test: building kube-apiserver takes about 7 minutes on 2
# cores, which would put make test past its 15-minute budget on a fresh CI
# machine.
APISERVER_BIN := $(TOOLS_DIR)/apiserver

.PHONY: test-apiserver
test-apiserver: ## build kube-apiserver (k8s.io/kubernetes v1.37.2) and etcd from Go modules and dry-run every rendered object against them, Pod Security enforced
	cd internal/tools/kube-apiserver && $(GO) build -o $(APISERVER_BIN)/kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
	cd internal/tools/etcd && $(GO) build -o $(APISERVER_BIN)/etcd .
	cd deploy && CHRONYOTEL_APISERVER_BIN=$(APISERVER_BIN) $(GO) test -count=1 -run '^TestServerSideDryRun$$$$' -v .

# Not part of make test either: a single-node cluster (test/cluster) with
# the components built from Go modules, cached in .tools/cluster (about 8.5
# minutes cold on 2 cores, 3.3 GB of build cache), containerd, runc and the
# CNI plugins from Debian. Needs root and make image's OCI layout.
CLUSTER_BIN  := $(TOOLS_DIR)/cluster
KUBE_VERSION := v1.34.4
KUBE_LDFLAGS := -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34
KUBE_BINS    := $(addprefix $(CLUSTER_BIN)/,kubelet kube-apiserver kube-controller-manager kube-scheduler)
CLUSTER_TIMEOUT ?= 40m

$(KUBE_BINS): internal/tools/kube/go.mod internal/tools/kube/go.sum
	cd internal/tools/kube && CGO_ENABLED=0 $(GO) build -trimpath -ldflags='$(KUBE_LDFLAGS)' -o $@ k8s.io/kubernetes/cmd/$(notdir $@)

$(CLUSTER_BIN)/etcd: internal/tools/etcd/go.mod internal/tools/etcd/go.sum internal/tools/etcd/main.go
	cd internal/tools/etcd && CGO_ENABLED=0 $(GO) build -trimpath -o $@ .

$(CLUSTER_BIN)/pause: test/cluster/pause/main.go
	cd test/cluster && CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $@ ./pause

.PHONY: test-cluster
test-cluster: $(KUBE_BINS) $(CLUSTER_BIN)/etcd $(CLUSTER_BIN)/pause image ## on a single-node Kubernetes v1.34 (built from Go modules, containerd from Debian): helm install of the chart, Ready and read, faults, upgrade (root; not part of make test)
	@./scripts/install-deps.sh containerd runc containernetworking-plugins chrony prometheus azurite
	cd test/cluster && CHRONYOTEL_CLUSTER_BIN=$(CLUSTER_BIN) $(GO) test -count=1 -timeout $(CLUSTER_TIMEOUT) -v -run '^TestCluster$$' .

.PHONY: soak
soak: ## 100,000 scrapes against a lab chronyd restarted along the way (not part of make test)
	cd $(RECEIVER) && SOAK_SCRAPES=100000 SOAK_RESTARTS=3 $(GO) test -count=1 -timeout 60m -run '^TestIntegrationSoak$$' -v .

.PHONY: clean
clean: ## remove built binaries and tools
	rm -rf _build .tools
