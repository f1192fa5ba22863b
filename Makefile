# shmdict: make test (what CI runs), make bench, make fuzz.
GO ?= go
PKGS := ./...
# Benchmarks run at 1M keys; -benchtime keeps `make bench` to a few minutes on 2 cores.
BENCHTIME ?= 1s
FUZZTIME ?= 60s

.PHONY: all test vet unit race crash chaos bench bench-full bench-micro bench-deps bench-readme fuzz clean

all: test

test: vet unit race crash

vet:
	$(GO) vet $(PKGS)
	cd bench/bboltpeer && $(GO) vet ./...
	GOARCH=arm64 $(GO) vet ./atomicx ./segment ./arena ./table ./array

unit:
	$(GO) test -count=1 -timeout 20m $(PKGS)
	cd bench/bboltpeer && $(GO) test -count=1 ./...

# The race detector cannot see mapped memory; these tests use the Go-heap
# segment backend (table.New / segment.NewHeap), where it sees every access.
race:
	$(GO) test -count=1 -race -short -timeout 20m -run 'Race|Model|Arena|Concurrent|Wait|Subscribe|TTL|Typed|GetOrLoad|Evict' ./table/ ./arena/
	$(GO) test -count=1 -race ./atomicx/
	$(GO) test -count=1 -race -short -run 'Concurrent|Model|MultiProcess|Snapshot' ./array/

# Crash tests with failpoints compiled in: writers SIGKILL themselves at
# every step of every write protocol (see segment/failpoints.go).
crash:
	$(GO) test -count=1 -tags failpoints -short -run 'Chaos' ./table/ ./array/

# A longer kill -9 campaign; prints the figures quoted in the README.
CHAOS_ROUNDS ?= 400
chaos:
	SHMDICT_CHAOS_ROUNDS=$(CHAOS_ROUNDS) SHMDICT_CHAOS_REPORT=/tmp/shmdict-chaos.txt \
		$(GO) test -count=1 -tags failpoints -run 'TestChaosKill' -timeout 30m ./table/
	@cat /tmp/shmdict-chaos.txt
	SHMDICT_CHAOS_ROUNDS=$(CHAOS_ROUNDS) $(GO) test -count=1 -tags failpoints -run 'TestChaosEvict' -v -timeout 30m ./table/ | grep -E 'rounds|PASS|FAIL|ok' 

# The harness: shmdict against map+RWMutex, sync.Map and Redis (if
# installed: make bench-deps), from 1 and 2 worker processes, every answer
# checked. The short profile takes a few minutes on 2 cores.
bench:
	$(GO) run ./cmd/shmdict bench --profile short --html bench-report.html

# The full profile, bbolt included (a nested module keeps its dependency
# out of the library's go.mod).
bench-full:
	cd bench/bboltpeer && $(GO) run ./cmd/shmdict-bench --profile full --html ../../bench-report.html

# Installs redis-server, the Redis peer of the harness (Debian/Ubuntu).
bench-deps:
	command -v redis-server >/dev/null || (sudo -n true 2>/dev/null && SUDO=sudo; $$SUDO apt-get install -y redis-server)

# Regenerates the README's benchmark section: two runs of the nested
# module's harness binary (bbolt, and LMDB through cgo, included), at 100k
# keys (the short profile) and at 1M keys (the full profile's keys with 1
# and 2 workers), README_DURATION a cell: under 15 minutes on 2 cores
# (the full profile's 3 s cells would take over twice as long). The
# README is only rewritten once both runs have succeeded.
README_DURATION ?= 1s
README_FILE ?= README.md
BENCH_TMP ?= /tmp/shmdict-bench-readme
bench-readme:
	mkdir -p $(BENCH_TMP)
	cd bench/bboltpeer && $(GO) build -o $(BENCH_TMP)/shmdict-bench ./cmd/shmdict-bench
	$(BENCH_TMP)/shmdict-bench --profile short --duration $(README_DURATION) --markdown > $(BENCH_TMP)/100k.md
	$(BENCH_TMP)/shmdict-bench --profile full --workers 1,2 --duration $(README_DURATION) --markdown > $(BENCH_TMP)/1m.md
	$(GO) run ./bench/readme $(BENCH_TMP)/100k.md $(BENCH_TMP)/1m.md $(README_FILE)

# Go micro-benchmarks of the table at 1M keys (Get/Set/Insert against a
# map, Add and Get from 2 processes, wake-up latency, hashing).
bench-micro:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout 60m ./table/

# Each target in turn (they open segment images in memory, no files). A
# short -fuzzminimizetime keeps the minimizer (whose runs show as 0/sec in
# the log) from spending a minute shrinking each new input.
FUZZ_TARGETS := FuzzAttach FuzzFlip FuzzFlipEvict FuzzFlipLayout
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "== $$t"; \
		$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./fuzz/; \
	done

clean:
	rm -f /dev/shm/shmdict-test-* /dev/shm/.shmdict-test-*
