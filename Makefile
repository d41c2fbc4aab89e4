# traceledger — two commands on a fresh machine:
#   make run    one dev node with the demo history on http://127.0.0.1:8080
#   make test   every test, with the race detector off and CPU parallelism kept sane
#   make install  bin/traceledger into $(go env GOPATH)/bin, or PREFIX=/usr/local

GO      ?= go
BIN     := bin/traceledger
PKGS    := ./...
# Two cores here: one package's tests at a time, each free to use both cores.
TESTFLAGS ?= -p 1 -count=1 -timeout 20m

.PHONY: all build install run test vet fmt fuzz bench testnet image compose clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/traceledger

# make install puts traceledger in $(PREFIX)/bin: by default Go's own bin
# directory ($(go env GOPATH)/bin); PREFIX=/usr/local for a system-wide copy.
PREFIX ?= $(shell $(GO) env GOPATH)
install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/traceledger
	@echo "installed $(DESTDIR)$(PREFIX)/bin/traceledger"

run: build
	./$(BIN) serve --dev

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet $(PKGS)

test: vet
	$(GO) test $(TESTFLAGS) $(PKGS)
	$(MAKE) fuzz

# Each fuzz target runs briefly; the corpus of past failures in
# testdata/fuzz is replayed by every plain `go test` too. The budget is a
# count of inputs, not a duration: a time budget can end while a worker is
# mid-input, which go test reports as a spurious "context deadline exceeded".
FUZZTIME ?= 100000x
fuzz:
	@for p in ./ledger/ ./api/ ./api/digitallink/ ./api/fieldapp/; do \
		for t in $$($(GO) test -list 'Fuzz.*' $$p | grep ^Fuzz); do \
			echo "fuzz $$p $$t"; \
			$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$p || exit 1; \
		done; \
	done

bench: build
	./$(BIN) bench ingest

testnet: build
	./$(BIN) testnet --nodes 3

# A FROM-scratch image needs a static binary (secp256k1 is linked through cgo).
image:
	CGO_ENABLED=1 $(GO) build -tags netgo,osusergo -ldflags '-s -w -linkmode external -extldflags "-static"' -o testnet/traceledger ./cmd/traceledger
	cd testnet && docker build -t traceledger:latest . ; rm -f testnet/traceledger

# Three containers on a private network (see testnet/docker-compose.yml),
# with a CA, node certificates and a cluster secret made on first use.
CERTS := testnet/certs
compose: build image
	@test -f $(CERTS)/ca/ca.pem || ./$(BIN) certs init --out $(CERTS)/ca
	@for n in n1 n2 n3; do test -f $(CERTS)/$$n/node.pem || ./$(BIN) certs node --ca $(CERTS)/ca --id $$n --host $$n --out $(CERTS)/$$n || exit 1; done
	@test -s $(CERTS)/cluster.secret || (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > $(CERTS)/cluster.secret)
	TRACELEDGER_CLUSTER_SECRET=$${TRACELEDGER_CLUSTER_SECRET:-$$(cat $(CERTS)/cluster.secret)} docker-compose -f testnet/docker-compose.yml up

clean:
	rm -rf bin data testnet/traceledger
	@echo "(testnet/certs kept: it holds the compose cluster's CA key; remove it by hand)"
