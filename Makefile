# The two commands of the README: `make demo` and `make test`.
GO ?= go
BIN := bin/trainyard

# Real inputs nobody on this project wrote (shared/corpus, beside the repository in CI).
TRAINYARD_CORPUS ?= $(firstword $(wildcard $(CURDIR)/../shared/corpus /work/shared/corpus))
export TRAINYARD_CORPUS

.PHONY: build demo images test test-go test-e2e test-python vet soak bench bench-slurm clean

# Static, so that docker-provider nodes can run the server's own binary in any image.
build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/trainyard

# The base image of docker-provider nodes and of the container tests, made from Debian's
# mirror (no registry); kept once made. Starts a Docker engine first if none answers.
images:
	scripts/dockerd.sh
	scripts/images.sh

demo: build
	scripts/demo.sh

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || { echo "gofmt would change the files above"; exit 1; }

# The container suites need a Docker engine: in make test, a missing one is a failure.
test: vet
	scripts/deps.sh
	$(MAKE) images
	TRAINYARD_REQUIRE_DOCKER=1 $(MAKE) test-go test-python test-e2e

test-go:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /e2e)

test-e2e:
	$(GO) test -count=1 -timeout 15m ./e2e/

# The chaos test of make test, longer: 1,000 jobs while the server and node agents are killed.
# It prints lost=0 duplicated=0 with the counts.
SOAK_JOBS ?= 1000
soak:
	@mkdir -p bin
	TRAINYARD_CHAOS_JOBS=$(SOAK_JOBS) $(GO) test -count=1 -timeout 3h -run 'TestChaos$$' -v ./e2e/ > bin/soak.log 2>&1; \
		status=$$?; grep -E '^lost=|chaos_test.go|^(--- |ok|FAIL)' bin/soak.log; exit $$status

# trainyard beside a one-host Slurm (scripts/slurm.sh: Debian's slurm-wlm, as root, loopback
# only), the same three workloads in the same run: one table of both figures and their ratio.
# About 7 minutes on 2 cores; not part of make test. Sizes: TRAINYARD_BENCH_SUBMITS (500),
# TRAINYARD_BENCH_LATENCY (50), TRAINYARD_BENCH_E2E (200).
bench-slurm:
	@mkdir -p bin
	{ scripts/slurm.sh $(GO) test -tags slurmbench -count=1 -timeout 30m -run 'TestBenchSlurm$$' -v ./e2e/; \
		echo $$? > bin/bench-slurm.rc; } 2>&1 | tee bin/bench-slurm.log; exit $$(cat bin/bench-slurm.rc)

test-python:
	cd python && python3 -m unittest -v test_trainyard_run 2>&1

# The figures of issue 7, one table: value, target on a 2-core machine, met or MISSED.
bench:
	GO=$(GO) scripts/bench.sh

clean:
	rm -rf bin
