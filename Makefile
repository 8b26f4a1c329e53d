# Sluice: two commands on a fresh machine.
#   make run    build and start `sluice serve` with data under ./data
#   make test   install what the tests need, then run every test
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/sluicehq/sluice/internal/buildinfo.Version=$(VERSION)
BIN     := bin/sluice
# Tests of one package run serially inside the package; packages run 2 at a time
# (the reference machine has 2 cores).
TESTFLAGS ?= -race -timeout 20m -p 2

.PHONY: build run test testdeps lint bench soak fuzz clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/sluice

run: build
	./$(BIN) serve --data-dir ./data

testdeps:
	./scripts/testdeps.sh

test: testdeps
	$(GO) vet ./...
	$(GO) test $(TESTFLAGS) ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Benchmarks print MB/s, records/s and latency percentiles; see docs/benchmarks.md.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s -count 3 ./broker/storage/
	$(GO) test -run '^$$' -bench . -benchtime 2s -count 3 ./broker/benchmark/
	$(GO) test -run '^$$' -bench Cluster -benchtime 3s -count 1 ./broker/clustertest/
	$(GO) test -run '^$$' -bench . -count 3 ./schemaregistry/
	$(GO) test -run '^$$' -bench Nexmark -benchtime 200000x -count 3 ./streams/runtime/
	$(GO) test -run '^$$' -bench Pipeline -benchtime 100000x -count 3 ./connect/
	$(GO) test -run '^$$' -bench 'CommitToTopic$$' -benchtime 100000x -count 3 ./connectors/postgrescdc/
	$(GO) test -run '^$$' -bench 'Live|Latency5k' -benchtime 20000x -count 3 ./connectors/postgrescdc/
	$(GO) test -run '^$$' -bench Throughput -benchtime 40000x -count 3 ./connectors/webhook/
	$(GO) test -run '^$$' -bench Latency -benchtime 300x -count 3 ./connectors/webhook/
	$(GO) test -run '^$$' -bench '^BenchmarkPut$$' -benchtime 240000x -count 3 ./connectors/s3sink/

# Long fuzzing sessions, not part of `make test` (which replays the seed corpora).
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzValidate -fuzztime 60s ./broker/record/
	$(GO) test -run '^$$' -fuzz FuzzRequest -fuzztime 60s ./broker/kafka/
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 30s ./broker/metadata/
	$(GO) test -run '^$$' -fuzz FuzzLoad -fuzztime 30s ./broker/group/
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./schemaregistry/compat/avro/

# Long variants of the fault tests (more kills, more data), not part of `make test`.
soak:
	SLUICE_SOAK=1 $(GO) test -run TestSoak -timeout 60m -v ./broker/clienttest/
	SLUICE_SOAK=1 $(GO) test -run TestFailoverKeepsAcknowledgedRecords -timeout 60m -v ./broker/clustertest/
	SLUICE_SOAK=1 $(GO) test -run TestKillMidMultipart -timeout 60m -v ./connectors/s3sink/

clean:
	rm -rf bin
