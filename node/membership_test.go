package node_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/traceledger/traceledger/testnet"
)

func send(t *testing.T, method, url, secret string, body any) (int, string) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, r)
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Without a cluster secret, membership and fault injection are closed,
// and the answer says how to open them.
func TestMembershipClosedWithoutSecret(t *testing.T) {
	cfg := testConfig(t.TempDir(), genKey(t))
	cfg.FaultInjection = true
	n := startTestNode(t, cfg)
	waitGenesis(t, n)
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{http.MethodPost, "/v1/cluster/nodes", map[string]string{"id": "intruder", "raft": "127.0.0.1:1", "http": "http://127.0.0.1:2"}},
		{http.MethodPost, "/v1/cluster/nodes", map[string]string{"id": cfg.ID, "raft": n.RaftAddr(), "http": "http://impostor.example"}},
		{http.MethodDelete, "/v1/cluster/nodes/" + cfg.ID, nil},
		{http.MethodPost, "/v1/debug/faults", map[string]any{"block": []string{"127.0.0.1:1"}}},
	} {
		for _, secret := range []string{"", "guess"} {
			st, body := send(t, tc.method, n.HTTPURL()+tc.path, secret, tc.body)
			if st != http.StatusForbidden || !strings.Contains(body, "--cluster-secret-file") || !strings.Contains(body, "cluster_secret_required") {
				t.Errorf("%s %s (secret %q): %d %s, want 403 naming --cluster-secret-file", tc.method, tc.path, secret, st, body)
			}
		}
	}
	st := n.Raft().Status()
	if len(st.Members) != 1 || st.Members[0].HTTP != n.HTTPURL() {
		t.Fatalf("membership changed: %+v", st.Members)
	}
	if got := n.Raft().Faults().Blocked(); len(got) != 0 {
		t.Fatalf("links cut: %v", got)
	}
}

// A join that names a member with other addresses or another key is
// refused (409) until that member is removed, through any node.
func TestRejoinWithOtherAddressesRefused(t *testing.T) {
	c := testnet.StartLocal(t, 3, testnet.LocalOptions{})
	victim := c.Leader()
	id := c.Config(victim).ID
	before := c.Nodes[victim].Raft().Status().Members
	for _, via := range []int{victim, c.Follower()} {
		for _, body := range []map[string]string{
			{"id": id, "raft": c.Nodes[victim].RaftAddr(), "http": "http://impostor.example:8080"},
			{"id": id, "raft": "127.0.0.1:1", "http": c.Nodes[victim].HTTPURL()},
			{"id": "n9", "raft": c.Nodes[victim].RaftAddr(), "http": "http://impostor.example:8080"},
		} {
			st, ans := send(t, http.MethodPost, c.Nodes[via].HTTPURL()+"/v1/cluster/nodes", c.Secret, body)
			if st != http.StatusConflict || !strings.Contains(ans, "member_conflict") {
				t.Errorf("join %v via node %d: %d %s, want 409", body, via, st, ans)
			}
		}
	}
	after := c.Nodes[c.Leader()].Raft().Status().Members
	if len(after) != len(before) {
		t.Fatalf("members %+v, were %+v", after, before)
	}
	for i := range after {
		if after[i].HTTP != before[i].HTTP || after[i].CheckpointKey != before[i].CheckpointKey || after[i].Raft != before[i].Raft {
			t.Errorf("member %s changed: %+v, was %+v", after[i].ID, after[i], before[i])
		}
	}
}
