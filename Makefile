# shmdict: make test (what CI runs), make bench, make fuzz.
GO ?= go
PKGS := ./...
# Benchmarks run at 1M keys; -benchtime keeps `make bench` to a few minutes on 2 cores.
BENCHTIME ?= 1s
FUZZTIME ?= 15s

.PHONY: all test vet unit race crash chaos bench fuzz clean

all: test

test: vet unit race crash

vet:
	$(GO) vet $(PKGS)
	GOARCH=arm64 $(GO) vet ./atomicx ./segment ./arena ./table

unit:
	$(GO) test -count=1 -timeout 20m $(PKGS)

# The race detector cannot see mapped memory; these tests use the Go-heap
# segment backend (table.New / segment.NewHeap), where it sees every access.
race:
	$(GO) test -count=1 -race -short -timeout 20m -run 'Race|Model|Arena|Concurrent|Wait|Subscribe|TTL|Typed|GetOrLoad|Evict' ./table/ ./arena/

# Crash tests with failpoints compiled in: writers SIGKILL themselves at
# every step of every write protocol (see segment/failpoints.go).
crash:
	$(GO) test -count=1 -tags failpoints -short -run 'Chaos' ./table/

# A longer kill -9 campaign; prints the figures quoted in the README.
CHAOS_ROUNDS ?= 400
chaos:
	SHMDICT_CHAOS_ROUNDS=$(CHAOS_ROUNDS) SHMDICT_CHAOS_REPORT=/tmp/shmdict-chaos.txt \
		$(GO) test -count=1 -tags failpoints -run 'TestChaosKill' -timeout 30m ./table/
	@cat /tmp/shmdict-chaos.txt

bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout 60m ./table/

# Fuzzing writes segment files for every input: keep them in memory, and
# keep the minimizer from spending the whole budget on one input.
fuzz:
	TMPDIR=/dev/shm $(GO) test -run '^$$' -fuzz '^FuzzAttach$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./fuzz/
	TMPDIR=/dev/shm $(GO) test -run '^$$' -fuzz '^FuzzFlip$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./fuzz/

clean:
	rm -f /dev/shm/shmdict-test-* /dev/shm/.shmdict-test-*
