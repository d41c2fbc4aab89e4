package api_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/traceledger/traceledger/api"
	"github.com/traceledger/traceledger/api/apitest"
)

// links is a fake api.FaultInjector.
type links struct {
	mu      sync.Mutex
	blocked []string
}

func (l *links) Block(peers ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.blocked = append(l.blocked, peers...)
}

func (l *links) Heal() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.blocked = nil
}

func (l *links) Blocked() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.blocked)
}

// Fault injection answers only with the cluster secret, refuses a bad body
// as any other request (400, nothing changed), and reports what it cut.
func TestFaultInjection(t *testing.T) {
	c, err := apitest.NewCluster([]common.Address{})
	if err != nil {
		t.Fatal(err)
	}
	l := &links{}
	const secret = "a-long-cluster-secret"
	s, err := api.New(api.Config{Cluster: c, ClusterSecret: secret, Faults: l})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	post := func(auth, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/debug/faults", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	if st, _ := post("", `{"block":["127.0.0.1:1"]}`); st != http.StatusUnauthorized {
		t.Errorf("without the secret: %d, want 401", st)
	}
	if st, _ := post("guess", `{"block":["127.0.0.1:1"]}`); st != http.StatusUnauthorized {
		t.Errorf("with a wrong secret: %d, want 401", st)
	}
	for _, bad := range []string{`{"block":"127.0.0.1:1"}`, `{"blocks":[]}`, `{"block":[]} {}`, `not json`} {
		if st, body := post(secret, bad); st != http.StatusBadRequest || !strings.Contains(body, `"code"`) {
			t.Errorf("body %s: %d %s, want 400 with an error code", bad, st, body)
		}
	}
	if len(l.Blocked()) != 0 {
		t.Fatalf("a refused request cut links: %v", l.Blocked())
	}
	if st, body := post(secret, `{"block":["127.0.0.1:1","127.0.0.1:2"]}`); st != http.StatusOK || !strings.Contains(body, `"127.0.0.1:2"`) {
		t.Errorf("block: %d %s", st, body)
	}
	if st, body := post(secret, `{"heal":true,"block":["127.0.0.1:3"]}`); st != http.StatusOK || strings.TrimSpace(body) != `{"blocked":["127.0.0.1:3"]}` {
		t.Errorf("heal then block: %d %s", st, body)
	}

	// Without an injector the route does not exist.
	s2, err := api.New(api.Config{Cluster: c, ClusterSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	srv2 := httptest.NewServer(s2.Handler())
	defer srv2.Close()
	resp, err := http.Get(srv2.URL + "/v1/debug/faults")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("faults without an injector: %d, want 404", resp.StatusCode)
	}
}
