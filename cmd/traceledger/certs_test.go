package main

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serve refuses to start on a secret or peer configuration that cannot be
// what the operator meant.
func TestServeRefusesBadSecurityConfig(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.secret")
	writeFile(t, empty, []byte("  \n"))
	short := filepath.Join(dir, "short.secret")
	writeFile(t, short, []byte("abc\n"))
	certs := filepath.Join(dir, "certs")
	if r := run(t, nil, "certs", "init", "--out", filepath.Join(certs, "ca")); r.code != 0 {
		t.Fatalf("certs init: %d %s", r.code, r.stderr)
	}
	if r := run(t, nil, "certs", "node", "--ca", filepath.Join(certs, "ca"), "--id", "n1", "--host", "127.0.0.1", "--out", filepath.Join(certs, "n1")); r.code != 0 {
		t.Fatalf("certs node: %d %s", r.code, r.stderr)
	}
	if st, err := os.Stat(filepath.Join(certs, "n1", "node.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("node key: %v %v", st, err)
	}
	if r := run(t, nil, "certs", "init", "--out", filepath.Join(certs, "ca")); r.code == 0 {
		t.Error("certs init overwrote an existing CA")
	}
	base := []string{"serve", "--data", filepath.Join(dir, "d"), "--node-id", "n1", "--http", "127.0.0.1:0", "--raft", "127.0.0.1:0", "--bootstrap"}
	peer := func(id string) []string {
		return []string{"--peer-ca", filepath.Join(certs, "ca", "ca.pem"), "--peer-cert", filepath.Join(certs, id, "node.pem"), "--peer-key", filepath.Join(certs, id, "node.key")}
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"empty secret file", []string{"--cluster-secret-file", empty}, "is empty"},
		{"short secret", []string{"--cluster-secret-file", short}, "at least 16"},
		{"missing secret file", []string{"--cluster-secret-file", filepath.Join(dir, "nope")}, "--cluster-secret-file"},
		{"peer cert without key", []string{"--peer-ca", filepath.Join(certs, "ca", "ca.pem"), "--peer-cert", filepath.Join(certs, "n1", "node.pem")}, "go together"},
		{"certificate of another node", append([]string{"--node-id", "n2"}, peer("n1")...), `names node "n1"`},
		{"CA key as certificate", []string{"--peer-ca", filepath.Join(certs, "ca", "ca.key"), "--peer-cert", filepath.Join(certs, "n1", "node.pem"), "--peer-key", filepath.Join(certs, "n1", "node.key")}, "peer CA"},
		{"HTTPS cert without key", []string{"--tls-cert", filepath.Join(certs, "n1", "node.pem")}, "go together"},
	} {
		r := run(t, nil, append(append([]string{}, base...), tc.args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want a failure mentioning %q", tc.name, r.code, r.stderr, tc.want)
		}
	}
}

// A node with peer TLS and HTTPS serves its public API over TLS.
func TestServeWithPeerTLSAndHTTPS(t *testing.T) {
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	run(t, nil, "certs", "init", "--out", filepath.Join(certs, "ca"))
	run(t, nil, "certs", "node", "--ca", filepath.Join(certs, "ca"), "--id", "n1", "--host", "127.0.0.1", "--host", "localhost", "--out", filepath.Join(certs, "n1"))
	p := startServe(t, dir, "serve", "--data", filepath.Join(dir, "d"), "--node-id", "n1", "--http", "127.0.0.1:0", "--raft", "127.0.0.1:0", "--bootstrap",
		"--peer-ca", filepath.Join(certs, "ca", "ca.pem"), "--peer-cert", filepath.Join(certs, "n1", "node.pem"), "--peer-key", filepath.Join(certs, "n1", "node.key"),
		"--tls-cert", filepath.Join(certs, "n1", "node.pem"), "--tls-key", filepath.Join(certs, "n1", "node.key"))
	if !strings.HasPrefix(p.url, "https://127.0.0.1:") {
		t.Fatalf("serving at %q", p.url)
	}
	caPEM, err := os.ReadFile(filepath.Join(certs, "ca", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(p.url + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz over HTTPS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz over HTTPS: %s", resp.Status)
	}
	p.stop()
}
