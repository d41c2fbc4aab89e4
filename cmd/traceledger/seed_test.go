package main

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/traceledger/traceledger/ledger/demo"
)

// seed submits the demo history once; seeding again changes nothing.
func TestSeedCommand(t *testing.T) {
	admin := genKey(t)
	n := startNode(t, "127.0.0.1:0", admin)
	keyFile := filepath.Join(t.TempDir(), "admin.key")
	writeFile(t, keyFile, []byte(hex.EncodeToString(crypto.FromECDSA(admin))+"\n"))

	if r := run(t, nil, "seed", "--url", n.HTTPURL()); r.code == 0 || !strings.Contains(r.stderr, "--admin-key") {
		t.Errorf("seed without a key: exit %d: %s", r.code, r.stderr)
	}
	r := run(t, nil, "seed", "--url", n.HTTPURL(), "--admin-key", keyFile)
	if r.code != 0 {
		t.Fatalf("seed: exit %d: %s", r.code, r.stderr)
	}
	first, _ := cluster(n.HTTPURL())
	if first.Size < 10 {
		t.Fatalf("after seeding the ledger has %d entries", first.Size)
	}
	lot := demo.Lots()[0]
	if st, body := get(t, n.HTTPURL(), fmt.Sprintf("/v1/lots/%s/%s", lot.GTIN, lot.Lot)); st != http.StatusOK {
		t.Errorf("demo lot: %d %s", st, body)
	}
	if r := run(t, nil, "seed", "--url", n.HTTPURL(), "--admin-key", keyFile); r.code != 0 {
		t.Fatalf("seed again: exit %d: %s", r.code, r.stderr)
	}
	if again, _ := cluster(n.HTTPURL()); again.Size != first.Size || again.Head != first.Head {
		t.Errorf("seeding twice changed the ledger: %d %s, then %d %s", first.Size, first.Head, again.Size, again.Head)
	}
	// Another admin's key: the registrations are refused, and seed says so.
	other := filepath.Join(t.TempDir(), "other.key")
	writeFile(t, other, []byte(hex.EncodeToString(crypto.FromECDSA(genKey(t)))+"\n"))
	if r := run(t, nil, "seed", "--url", n.HTTPURL(), "--admin-key", other, "--wait", "1s"); r.code == 0 || !strings.Contains(r.stderr, "refused") {
		t.Errorf("seed with a key that is not the admin's: exit %d: %s", r.code, r.stderr)
	}
}
