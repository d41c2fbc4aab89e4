package node_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/traceledger/traceledger/consensus"
	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/testnet"
	"github.com/traceledger/traceledger/testnet/harness"
)

// A cluster with peer TLS works as before: writes through a follower are
// forwarded, checkpoints are cosigned, /v1/cluster reaches every member;
// all of it over the authenticated members' channel.
func TestPeerTLSClusterWorks(t *testing.T) {
	c := testnet.StartLocal(t, 3, testnet.LocalOptions{PeerTLS: true})
	producer := newKey(t)
	f := c.Nodes[c.Follower()]
	if st, body := post(t, f.HTTPURL(), registration(t, c.Admin, producer, "p1")); st != http.StatusCreated {
		t.Fatalf("registration through a follower: %d %s", st, body)
	}
	c.WaitFor("replication", 10*time.Second, c.SameHead)
	c.WaitFor("a checkpoint cosigned by all three", 20*time.Second, func() bool {
		_, signed, total, ok := f.Raft().CheckpointSummary()
		return ok && signed == 3 && total == 3
	})
	_, body := get(t, f.HTTPURL()+"/v1/cluster")
	var v struct {
		Nodes []struct {
			ID        string `json:"id"`
			Reachable bool   `json:"reachable"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(body, &v); err != nil || len(v.Nodes) != 3 {
		t.Fatalf("cluster view %s: %v", body, err)
	}
	for _, m := range v.Nodes {
		if !m.Reachable {
			t.Errorf("member %s unreachable over peer TLS: %s", m.ID, body)
		}
	}
}

// Nodes whose public API is HTTPS with certificates from the cluster's CA
// join through an https:// URL.
func TestPeerTLSClusterJoinsOverHTTPS(t *testing.T) {
	c := testnet.StartLocal(t, 3, testnet.LocalOptions{PeerTLS: true, HTTPS: true})
	if u := c.Nodes[0].HTTPURL(); !strings.HasPrefix(u, "https://") {
		t.Fatalf("n1 serves at %s", u)
	}
	if got := len(c.Nodes[c.Leader()].Raft().Status().Members); got != 3 {
		t.Fatalf("%d members", got)
	}
}

// outsider is a stream layer for node "n9", with a certificate from the
// cluster's CA but not a member: what a stolen certificate gives.
func outsider(t *testing.T, c *testnet.Local) *consensus.StreamLayer {
	t.Helper()
	if err := consensus.WriteNodeCert(filepath.Join(c.CertDir, "ca"), "n9", []string{"127.0.0.1"}, filepath.Join(c.CertDir, "n9")); err != nil {
		t.Fatal(err)
	}
	p9, err := testnet.LoadPeerTLS(c.CertDir, "n9")
	if err != nil {
		t.Fatal(err)
	}
	stream, err := consensus.NewStreamLayer("127.0.0.1:0", "", "n9", p9)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stream.Close() })
	return stream
}

// quiesce waits until every node holds the same log and has applied it.
func quiesce(t *testing.T, c *testnet.Local) (last, term uint64) {
	t.Helper()
	c.WaitFor("a quiet, agreeing cluster", 20*time.Second, func() bool {
		last, term = 0, 0
		for i, n := range c.Nodes {
			st := n.Raft().Status()
			tm := st.Term
			if i == 0 {
				last, term = st.LastLog, tm
			}
			if st.LastLog != last || tm != term || st.Applied != st.LastLog || st.Commit != st.LastLog {
				return false
			}
		}
		return c.SameHead()
	})
	return last, term
}

// inject plays a member that sends AppendEntries to every node directly,
// carrying data as the next log entry: what a stolen member certificate
// (or, without peer TLS, anyone reaching the Raft port) allows.
func inject(t *testing.T, c *testnet.Local, trans *raft.NetworkTransport, data []byte) {
	t.Helper()
	last, term := quiesce(t, c)
	for i, n := range c.Nodes {
		req := &raft.AppendEntriesRequest{
			RPCHeader:         raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("n9"), Addr: []byte(trans.LocalAddr())},
			Term:              term,
			PrevLogEntry:      last,
			PrevLogTerm:       term,
			Entries:           []*raft.Log{{Index: last + 1, Term: term, Type: raft.LogCommand, Data: data}},
			LeaderCommitIndex: last + 1,
		}
		var resp raft.AppendEntriesResponse
		if err := trans.AppendEntries(raft.ServerID(c.Config(i).ID), raft.ServerAddress(n.RaftAddr()), req, &resp); err != nil {
			t.Fatalf("append entries to %s: %v", c.Config(i).ID, err)
		}
		if !resp.Success {
			t.Fatalf("%s did not take the injected entry (term %d, last %d): %+v", c.Config(i).ID, term, last, resp)
		}
	}
}

// injectUntil injects data (inject) until every node's counter name
// reaches want, at most three times. The leader may append an entry of its
// own in the same term between quiesce and the injection (a checkpoint);
// a node that holds it takes the injected entry for that one, since Raft
// matches entries by index and term, and never applies it. Another
// injection at the next index then reaches every node.
func injectUntil(t *testing.T, c *testnet.Local, trans *raft.NetworkTransport, data []byte, name string, want float64) {
	t.Helper()
	counted := func() bool {
		for _, n := range c.Nodes {
			if metric(t, n.HTTPURL(), name) < want {
				return false
			}
		}
		return true
	}
	for attempt := 1; ; attempt++ {
		inject(t, c, trans, data)
		err := harness.Poll(context.Background(), 10*time.Second, counted)
		if err == nil {
			return
		}
		if attempt == 3 {
			t.Fatalf("every node to count %s %v times: %v", name, want, err)
		}
	}
}

func metric(t *testing.T, url, name string) float64 {
	t.Helper()
	_, body := get(t, url+"/metrics")
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in /metrics", name)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// The attacks of the zero-trust review, on a cluster with peer TLS:
// without a certificate nothing gets through; with a member's certificate
// a forged record and a garbage entry are refused alike on every node.
func TestPeerTLSClusterRefusesStrangersAndForgeries(t *testing.T) {
	c := testnet.StartLocal(t, 3, testnet.LocalOptions{PeerTLS: true})
	quiesce(t, c)
	head := func() []string {
		var out []string
		for i := range c.Nodes {
			_, body := get(t, c.Nodes[i].HTTPURL()+"/v1/cluster?local=true")
			var v struct {
				Size uint64 `json:"ledger_size"`
				Head string `json:"ledger_head"`
			}
			json.Unmarshal(body, &v)
			out = append(out, fmt.Sprintf("%d/%s", v.Size, v.Head))
		}
		return out
	}
	before := head()

	// 1. No certificate: no handshake on any Raft port, for Raft or HTTP.
	for i, n := range c.Nodes {
		plain, err := net.Dial("tcp", n.RaftAddr())
		if err != nil {
			t.Fatal(err)
		}
		plain.Write([]byte("TLR2R\x02n9\x0e127.0.0.1:9999"))
		plain.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := plain.Read(make([]byte, 1)); err == nil {
			t.Errorf("node %d answered a plaintext peer", i)
		}
		plain.Close()
		if resp, err := http.Get(consensus.PeerURL(n.RaftAddr()) + "/v1/cluster"); err == nil {
			resp.Body.Close()
			t.Errorf("node %d served node-to-node HTTP in plaintext: %s", i, resp.Status)
		}
		noCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		if resp, err := noCert.Get("https://" + n.RaftAddr() + "/v1/cluster"); err == nil {
			resp.Body.Close()
			t.Errorf("node %d served node-to-node HTTPS without a client certificate: %s", i, resp.Status)
		}
	}
	if got := head(); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("heads moved from %v to %v", before, got)
	}

	// 2. A valid certificate from the cluster's CA, for a node "n9".
	stream := outsider(t, c)
	trans := raft.NewNetworkTransport(stream, 2, 10*time.Second, io.Discard)
	defer trans.Close()

	// A participant record that makes n9's operator an admin, "signed"
	// by the genesis admin with a zero signature.
	thief := newKey(t)
	rec := fmt.Sprintf(`{"address":%q,"id":"forged-1","name":"Forged admin","roles":["admin"],"signer":%q,"time":"2026-06-01T08:00:00+07:00","type":"participant"}`,
		ledger.AddressOf(thief).Hex(), ledger.AddressOf(c.Admin).Hex())
	forged := ledger.EncodeCommand(&ledger.Command{Kind: ledger.CmdRecords, Time: time.Now().UTC(),
		Envelopes: []*ledger.Admitted{{Canonical: []byte(rec), Signature: make([]byte, ledger.SignatureLen), Signer: ledger.AddressOf(c.Admin)}}})
	injectUntil(t, c, trans, forged, "traceledger_apply_unverified_records_total", 1)
	for i, n := range c.Nodes {
		if st, _ := get(t, n.HTTPURL()+"/v1/participants/"+ledger.AddressOf(thief).Hex()); st != http.StatusNotFound {
			t.Errorf("node %d knows the forged participant: %d", i, st)
		}
	}

	// 3. A garbage entry: every node skips it, counts it and stays up.
	injectUntil(t, c, trans, append([]byte{ledger.CmdNodeMeta}, "not json at all"...), "traceledger_apply_refused_log_entries_total", 1)
	injectUntil(t, c, trans, []byte{ledger.CmdRecords, 0xde, 0xad}, "traceledger_apply_refused_log_entries_total", 2)
	c.WaitFor("agreement after the attacks", 20*time.Second, c.SameHead)
	if got := head(); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("heads moved from %v to %v", before, got)
	}
	// Every node restarts with those entries in its log, and serves.
	for i := range c.Nodes {
		c.Stop(i)
		c.Restart(i)
	}
	c.Leader()
	producer := newKey(t)
	c.WaitFor("a write after the restarts", 30*time.Second, func() bool {
		st, _ := post(t, c.Nodes[c.Follower()].HTTPURL(), registration(t, c.Admin, producer, "after-attack"))
		return st == http.StatusCreated || st == http.StatusOK
	})
	c.WaitFor("agreement after the restarts", 20*time.Second, c.SameHead)
}

// On the members' channel a certificate stands in for the cluster secret,
// but only for a join as the node it names, sent to the leader itself.
func TestPeerTLSCertificateJoin(t *testing.T) {
	c := testnet.StartLocal(t, 3, testnet.LocalOptions{PeerTLS: true})
	stream := outsider(t, c)
	join := func(to int, id string) (int, string) {
		t.Helper()
		body := fmt.Sprintf(`{"id":%q,"raft":%q}`, id, stream.Addr().String())
		resp, err := stream.Client().Post(consensus.PeerURL(c.Nodes[to].RaftAddr())+"/v1/cluster/nodes", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("join as %s: %v", id, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	members := func() int { return len(c.Nodes[c.Leader()].Raft().Status().Members) }
	if st, body := join(c.Leader(), "n8"); st != http.StatusForbidden || !strings.Contains(body, "wrong_node") {
		t.Errorf("join as another node: %d %s, want 403 wrong_node", st, body)
	}
	if st, body := join(c.Follower(), "n9"); st != http.StatusServiceUnavailable {
		t.Errorf("certificate join through a follower: %d %s, want 503", st, body)
	}
	if n := members(); n != 3 {
		t.Fatalf("%d members after refused joins", n)
	}
	// Without a certificate, the public port wants the secret.
	st, body := send(t, http.MethodPost, c.Nodes[c.Leader()].HTTPURL()+"/v1/cluster/nodes", "",
		map[string]string{"id": "n9", "raft": stream.Addr().String()})
	if st != http.StatusUnauthorized {
		t.Errorf("join on the public port without the secret: %d %s, want 401", st, body)
	}
	if st, body := join(c.Leader(), "n9"); st != http.StatusOK {
		t.Fatalf("join as the certificate's node: %d %s", st, body)
	}
	if n := members(); n != 4 {
		t.Fatalf("%d members after the join, want 4", n)
	}
}
