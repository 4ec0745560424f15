# lb: the two commands of the README's quick start are `make run` and
# `make test`; everything they need is installed or built here.

GO        ?= go
BIN       := bin
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: run test build image deps lint unit norace bench bench-go fuzz clean

## run: build, start three demo backends and lb -config config.yaml on :8080
run: build
	./scripts/run.sh

# lb -version prints these (git describe, short commit).
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

## build: compile lb and backend into bin/
build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/lb ./lb
	$(GO) build -o $(BIN)/backend ./backend

## image: the container image lb:$(VERSION) with both programs (Dockerfile; needs a Docker daemon)
image:
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t lb:$(VERSION) .

## deps: install what builds and tests need (Go modules; system packages later issues add)
deps:
	./scripts/deps.sh

## test: install what tests need, check formatting and lints, run every test
## with -race, then the tests the race detector distorts (allocations) without
test: deps lint unit norace

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

unit:
	$(GO) test -race -count=1 -timeout 20m ./...

norace:
	$(GO) test -count=1 -timeout 10m -run 'Alloc|GiB|Import200MB' ./...

## bench: lb next to Nginx and HAProxy on this machine, side by side in one
## run (installs them and wrk); writes bench/RESULTS.md and bench/results.svg
bench: deps
	./scripts/benchdeps.sh
	PATH="$$PATH:/usr/sbin" $(GO) run ./bench

## bench-go: hot-path micro benchmarks (policies, one proxied request)
bench-go:
	$(GO) test -run='^$$' -bench=. -benchmem ./balancer/ ./proxy/ ./route/ ./compress/ ./deadline/ ./edge/ ./snapshot/

## fuzz: run each fuzzer for a while (FUZZTIME=30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=$(FUZZTIME) ./config/
	$(GO) test -run='^$$' -fuzz=FuzzMatch -fuzztime=$(FUZZTIME) ./route/
	$(GO) test -run='^$$' -fuzz=FuzzSplitTarget -fuzztime=$(FUZZTIME) ./proxy/
	$(GO) test -run='^$$' -fuzz=FuzzParseLSN -fuzztime=$(FUZZTIME) ./backend/data/
	$(GO) test -run='^$$' -fuzz=FuzzLaterPos -fuzztime=$(FUZZTIME) ./backend/session/
	$(GO) test -run='^$$' -fuzz=FuzzDecoder -fuzztime=$(FUZZTIME) ./backend/jsonstream/
	$(GO) test -run='^$$' -fuzz=FuzzAnswer -fuzztime=$(FUZZTIME) ./discovery/
	$(GO) test -run='^$$' -fuzz=FuzzScanner -fuzztime=$(FUZZTIME) ./edge/
	$(GO) test -run='^$$' -fuzz=FuzzBodyLength -fuzztime=$(FUZZTIME) ./bench/floor/
	$(GO) test -run='^$$' -fuzz=FuzzListener -fuzztime=$(FUZZTIME) ./edge/
	$(GO) test -run='^$$' -fuzz=FuzzHasDotSegment -fuzztime=$(FUZZTIME) ./proxy/
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=$(FUZZTIME) ./logging/accesslog/
	$(GO) test -run='^$$' -fuzz=FuzzScanHead -fuzztime=$(FUZZTIME) ./snapshot/

clean:
	rm -rf $(BIN)
