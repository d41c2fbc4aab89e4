package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/traceledger/traceledger/ledger"
)

var (
	testnetAdmin    = regexp.MustCompile(`admin (0x[0-9a-fA-F]{40})$`)
	testnetAdminKey = regexp.MustCompile(`^admin key \(plain hex, mode 0600\): (\S+)$`)
)

// testnet keeps the genesis admin's key in its directory and says where;
// a temporary directory is said to be one, and is gone after the stop.
func TestTestnetKeepsTheAdminKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tn")
	p := execCommand(t, "testnet", "--nodes", "1", "--dir", dir)
	var addr, keyPath string
	p.waitLine("the admin key's path", func(l string) bool {
		if m := testnetAdmin.FindStringSubmatch(l); m != nil {
			addr = m[1]
		}
		if m := testnetAdminKey.FindStringSubmatch(l); m != nil {
			keyPath = m[1]
		}
		return keyPath != ""
	})
	p.waitLine("the field app's address", func(l string) bool { return strings.Contains(l, "/app/") && strings.Contains(l, keyPath) })
	if strings.Contains(p.stdout.String(), "temporary directory") {
		t.Errorf("a --dir testnet is called temporary:\n%s", p.stdout)
	}
	p.stop()
	if keyPath != filepath.Join(dir, "admin.key") {
		t.Errorf("admin key at %s, want %s", keyPath, filepath.Join(dir, "admin.key"))
	}
	st, err := os.Stat(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("admin key mode %v, want 0600", st.Mode().Perm())
	}
	data, _ := os.ReadFile(keyPath)
	k, err := crypto.HexToECDSA(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("admin key file: %v", err)
	}
	if got := ledger.AddressOf(k).Hex(); got != addr {
		t.Errorf("the key is %s's, the testnet printed admin %s", got, addr)
	}

	// The same directory again: refused, the key is not replaced.
	if r := run(t, nil, "testnet", "--nodes", "1", "--dir", dir); r.code == 0 || !strings.Contains(r.stderr, "already holds a testnet") {
		t.Errorf("a second testnet in %s: exit %d, %q", dir, r.code, r.stderr)
	}
	if again, _ := os.ReadFile(keyPath); string(again) != string(data) {
		t.Error("the admin key changed")
	}

	// Without --dir: a temporary directory, said so, removed at the stop.
	p = execCommandIn(t, t.TempDir(), []string{"TMPDIR=" + t.TempDir()}, "testnet", "--nodes", "1")
	keyPath = ""
	p.waitLine("the temporary note", func(l string) bool {
		if m := testnetAdminKey.FindStringSubmatch(l); m != nil {
			keyPath = m[1]
		}
		return strings.Contains(l, "is a temporary directory, removed when the testnet stops")
	})
	if _, err := os.Stat(keyPath); err != nil {
		t.Errorf("admin key %q while running: %v", keyPath, err)
	}
	p.stop()
	if _, err := os.Stat(filepath.Dir(keyPath)); !os.IsNotExist(err) {
		t.Errorf("the temporary testnet directory is still there (%v)", err)
	}
}
