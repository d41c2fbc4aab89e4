# traceledger — two commands on a fresh machine:
#   make run    one dev node with the demo history on http://127.0.0.1:8080
#   make test   every test, with the race detector off and CPU parallelism kept sane
#   make install  bin/traceledger into $(go env GOPATH)/bin, or PREFIX=/usr/local

GO      ?= go
BIN     := bin/traceledger
PKGS    := ./...
# Two cores here: one package's tests at a time, each free to use both cores.
TESTFLAGS ?= -p 1 -count=1 -timeout 20m

.PHONY: all build install run test vet fmt fuzz bench testnet image compose compose-files testnet-docker testnet-docker-down clean

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
	@for p in ./ledger/ ./api/ ./api/digitallink/ ./api/fieldapp/ ./ledger/epcisevent/; do \
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
	cd testnet && docker build -t traceledger:latest . ; rm -f traceledger

# Three containers on a private network (see testnet/docker-compose.yml),
# with a CA, node certificates, a cluster secret and the genesis admin's
# key made on first use, and a one-shot container that seeds the demo.
# make testnet-docker runs them in the background, make compose in the
# foreground; make testnet-docker-down removes them with their volumes.
CERTS := testnet/certs
COMPOSE_ENV = TRACELEDGER_CLUSTER_SECRET=$${TRACELEDGER_CLUSTER_SECRET:-$$(cat $(CERTS)/cluster.secret)} \
	TRACELEDGER_ADMIN=$$(cat $(CERTS)/admin.address)
compose-files: build
	@test -f $(CERTS)/ca/ca.pem || ./$(BIN) certs init --out $(CERTS)/ca
	@for n in n1 n2 n3; do test -f $(CERTS)/$$n/node.pem || ./$(BIN) certs node --ca $(CERTS)/ca --id $$n --host $$n --out $(CERTS)/$$n || exit 1; done
	@test -s $(CERTS)/cluster.secret || (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > $(CERTS)/cluster.secret)
	@test -s $(CERTS)/admin.key || ./$(BIN) keygen --plain --out $(CERTS)/admin.key > $(CERTS)/admin.address

compose: compose-files image
	$(COMPOSE_ENV) docker-compose -f testnet/docker-compose.yml up

testnet-docker: compose-files image
	$(COMPOSE_ENV) docker-compose -f testnet/docker-compose.yml up -d
	@echo "waiting for the demo to be seeded …"
	@$(COMPOSE_ENV) sh -c 'docker wait $$(docker-compose -f testnet/docker-compose.yml ps -q seed) | grep -qx 0 || (docker-compose -f testnet/docker-compose.yml logs seed; exit 1)'
	@echo "traceledger testnet: n1 http://127.0.0.1:8081  n2 http://127.0.0.1:8082  n3 http://127.0.0.1:8083 (demo seeded; admin key $(CERTS)/admin.key)"
	@echo "stop it: make testnet-docker-down"

testnet-docker-down:
	$(COMPOSE_ENV) docker-compose -f testnet/docker-compose.yml down -v

clean:
	rm -rf bin data testnet/traceledger
	@echo "(testnet/certs kept: it holds the compose cluster's CA key; remove it by hand)"
