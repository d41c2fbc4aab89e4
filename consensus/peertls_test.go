package consensus

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testCA writes a CA and certificates for ids into a temp dir and returns
// a loader of each node's credentials.
func testCA(t *testing.T, ids ...string) (dir string, load func(id string) *PeerTLS) {
	t.Helper()
	dir = t.TempDir()
	if err := WriteCA(filepath.Join(dir, "ca"), "test CA"); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := WriteNodeCert(filepath.Join(dir, "ca"), id, []string{"127.0.0.1", "localhost"}, filepath.Join(dir, id)); err != nil {
			t.Fatal(err)
		}
	}
	return dir, func(id string) *PeerTLS {
		t.Helper()
		p, err := LoadPeerTLS(filepath.Join(dir, "ca", "ca.pem"), filepath.Join(dir, id, "node.pem"), filepath.Join(dir, id, "node.key"))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
}

func tlsLayer(t *testing.T, id string, p *PeerTLS) *StreamLayer {
	t.Helper()
	s, err := NewStreamLayer("127.0.0.1:0", "", id, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPeerTLSMutualAuthentication(t *testing.T) {
	_, load := testCA(t, "n1", "n2", "n3")
	a, b := tlsLayer(t, "n1", load("n1")), tlsLayer(t, "n2", load("n2"))
	ch := acceptAsync(b)
	ca := dial(t, a, b)
	go ca.Write([]byte("over tls"))
	sb := accepted(t, ch)
	readFull(t, sb, []byte("over tls"))
	if id, ok := PeerOf(sb); id != "n1" || !ok {
		t.Fatalf("accepted connection from %q (authenticated %v), want n1", id, ok)
	}
	if id, ok := PeerOf(ca); id != "n2" || !ok {
		t.Fatalf("dialed connection to %q (authenticated %v), want n2", id, ok)
	}

	// A node may only present its own certificate.
	if _, err := NewStreamLayer("127.0.0.1:0", "", "n3", load("n1")); !errors.Is(err, ErrPeerIdentity) {
		t.Fatalf("layer n3 with n1's certificate: %v", err)
	}
	// A dialer expecting n3 at b's address refuses b, which is n2.
	a.resolve = func(string) (string, bool) { return "n3", true }
	if _, err := a.Dial(addrOf(b), time.Second); err == nil {
		t.Fatal("dial accepted a peer whose certificate names another node")
	}
	a.resolve = nil
}

// Nothing reaches Accept or the HTTP channel without a certificate from
// the cluster's CA naming the node the dialer claims to be.
func TestPeerTLSRefusesStrangers(t *testing.T) {
	_, load := testCA(t, "n1", "n2", "n3")
	_, loadOther := testCA(t, "n1")
	b := tlsLayer(t, "n2", load("n2"))
	raftCh := acceptAsync(b)
	httpCh := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := b.PeerListener().Accept()
			if err != nil {
				return
			}
			httpCh <- c
		}
	}()

	// 1. Plaintext, with a well-formed greeting.
	plain, err := net.Dial("tcp", b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	plain.Write(appendGreeting(nil, chanRaft, "n1", "127.0.0.1:1"))
	expectClosed(t, plain)

	// 2. TLS without a client certificate.
	noCert, err := tls.Dial("tcp", b.Addr().String(), &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	if err == nil {
		noCert.Write(appendGreeting(nil, chanHTTP, "n1", "127.0.0.1:1"))
		expectClosed(t, noCert)
	}

	// 3. A certificate for "n1" from another CA.
	other := tlsLayer(t, "n1", loadOther("n1"))
	if c, err := other.Dial(addrOf(b), time.Second); err == nil {
		c.Write([]byte("x"))
		expectClosed(t, c)
	}
	if _, err := other.DialHTTP(context.Background(), "tcp", b.Addr().String()); err == nil {
		t.Error("a peer from another CA opened the HTTP channel")
	}

	// 4. A genuine certificate for n3 claiming to be n1.
	p3 := load("n3")
	c3, err := tls.Dial("tcp", b.Addr().String(), p3.clientConfig("127.0.0.1", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	c3.Write(appendGreeting(nil, chanRaft, "n1", "127.0.0.1:1"))
	expectClosed(t, c3)

	select {
	case c := <-raftCh:
		t.Fatalf("Accept returned a connection from %v", c.RemoteAddr())
	case c := <-httpCh:
		t.Fatalf("the HTTP channel accepted a connection from %v", c.RemoteAddr())
	default:
	}

	// The plaintext client of a TLS node gets nothing either way: a TLS
	// dialer of a plaintext node fails its handshake.
	plainLayer := newLayer(t)
	a := tlsLayer(t, "n1", load("n1"))
	if _, err := a.Dial(addrOf(plainLayer), time.Second); err == nil {
		t.Error("a TLS node completed a dial to a plaintext node")
	}
}

// Node-to-node HTTP rides on the Raft port: the server learns which member
// is calling.
func TestPeerHTTPChannel(t *testing.T) {
	_, load := testCA(t, "n1", "n2")
	a, b := tlsLayer(t, "n1", load("n1")), tlsLayer(t, "n2", load("n2"))
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, _ := r.Context().Value(testPeerKey{}).(string)
			io.WriteString(w, "hello "+id)
		}),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			id, ok := PeerOf(c)
			if !ok {
				id = "?"
			}
			return context.WithValue(ctx, testPeerKey{}, id)
		},
	}
	go srv.Serve(b.PeerListener())
	t.Cleanup(func() { srv.Close() })
	resp, err := a.Client().Get(PeerURL(b.Addr().String()) + "/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello n1" {
		t.Fatalf("answer %q", body)
	}
	// A plain HTTP client cannot use the port.
	if resp, err := http.Get(PeerURL(b.Addr().String()) + "/x"); err == nil {
		resp.Body.Close()
		t.Fatalf("plain HTTP answered %s", resp.Status)
	}
}

type testPeerKey struct{}

func TestLoadPeerTLSRefusesBadFiles(t *testing.T) {
	dir, _ := testCA(t, "n1")
	ca, cert, key := filepath.Join(dir, "ca", "ca.pem"), filepath.Join(dir, "n1", "node.pem"), filepath.Join(dir, "n1", "node.key")
	otherDir, _ := testCA(t, "n1")
	for name, files := range map[string][3]string{
		"missing CA":        {filepath.Join(dir, "nope.pem"), cert, key},
		"CA is not PEM":     {key + ".txt", cert, key},
		"wrong CA":          {filepath.Join(otherDir, "ca", "ca.pem"), cert, key},
		"key of other cert": {ca, cert, filepath.Join(otherDir, "n1", "node.key")},
		"CA as node cert":   {ca, ca, filepath.Join(dir, "ca", "ca.key")},
	} {
		os.WriteFile(key+".txt", []byte("not pem"), 0o600)
		if _, err := LoadPeerTLS(files[0], files[1], files[2]); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	if _, _, err := IssueNodeCert(nil, nil, "n 1", []string{"h"}); err == nil {
		t.Error("issued a certificate for an id with a space")
	}
	caPEM, _ := os.ReadFile(ca)
	caKey, _ := os.ReadFile(filepath.Join(dir, "ca", "ca.key"))
	if _, _, err := IssueNodeCert(caPEM, caKey, "n2", nil); err == nil {
		t.Error("issued a certificate without hosts")
	}
	if err := WriteCA(filepath.Join(dir, "ca"), "again"); err == nil {
		t.Error("WriteCA overwrote an existing CA key")
	}
}
