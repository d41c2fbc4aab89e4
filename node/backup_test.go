package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/traceledger/traceledger/api"
	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/backup"
	"github.com/traceledger/traceledger/node"
)

const backupSecret = "api-backup-test-secret-0123456789"

// backupNode starts a single node with the cluster secret and admins.
func backupNode(t *testing.T, admins ...common.Address) *node.Node {
	t.Helper()
	n, err := node.Start(context.Background(), node.Config{
		ID: "k1", DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0", Bootstrap: true,
		Admins: admins, ClusterSecret: backupSecret, HeartbeatTimeout: raftTimeout, ElectionTimeout: raftTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	return n
}

func getBackup(t *testing.T, base, method, token string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, base+"/v1/backup", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp, buf.Bytes()
}

func TestBackupRefusals(t *testing.T) {
	n := backupNode(t) // no admins: no genesis entry, no ledger yet
	for _, tc := range []struct {
		name, method, token string
		status              int
	}{
		{"no secret", http.MethodGet, "", http.StatusUnauthorized},
		{"wrong secret", http.MethodGet, "api-backup-test-secret-012345678X", http.StatusUnauthorized},
		{"not a GET", http.MethodPost, backupSecret, http.StatusMethodNotAllowed},
		{"no ledger yet", http.MethodGet, backupSecret, http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := getBackup(t, n.HTTPURL(), tc.method, tc.token)
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, tc.status)
			}
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if json.Unmarshal(body, &e) != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Errorf("not a JSON error with a code and a message: %s", body)
			}
			if tc.status == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

// A backup taken right after a write waits for the checkpoint of that
// write: its size and head are those of a cosigned checkpoint.
func TestBackupCoversTheLatestWrite(t *testing.T) {
	admin := newKey(t)
	n := backupNode(t, ledger.AddressOf(admin))
	waitGenesis(t, n)
	res, err := n.Submit(context.Background(), []ledger.Envelope{registration(t, admin, newKey(t), "p1")})
	if err != nil || res[0].Err != nil {
		t.Fatalf("register: %v %+v", err, res)
	}
	h0 := headOf(t, n)
	size, head := h0.Size, ledger.HashHex(h0.Root)

	resp, body := getBackup(t, n.HTTPURL(), http.MethodGet, backupSecret)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != api.BackupContentType {
		t.Fatalf("backup: %d %s %.200s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	h, err := backup.Verify(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the backup does not verify: %v", err)
	}
	if h.Size != size || h.Root != head || h.CheckpointSize != size || h.Node != "k1" || len(h.Keys) != 1 {
		t.Errorf("header %+v; the node had size %d head %s", h, size, head)
	}
	if _, _, err := ledger.OpenCheckpoint([]byte(h.Checkpoint), []string{n.Raft().CheckpointKey()}); err != nil {
		t.Errorf("the backup's checkpoint under the node's key: %v", err)
	}
}
