package testnet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/traceledger/traceledger/testnet"
	"github.com/traceledger/traceledger/testnet/harness"
)

// TestNonVoterReplica: three voters and a read replica (serve --join
// --non-voter), all with peer TLS. The cluster lists the replica as a
// non-voter; writes sent to it are forwarded to the leader; it serves the
// lot, its consumer page and the log's tiles once the write is applied;
// and with the replica and one voter dead, the two remaining voters still
// commit writes: the replica never counts for the quorum.
func TestNonVoterReplica(t *testing.T) {
	c := startProcs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := c.AddNonVoter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.View(0)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]string{}
	for _, m := range v.Members {
		roles[m.ID] = m.Role
	}
	want := map[string]string{"n1": "voter", "n2": "voter", "n3": "voter", c.Nodes[r].ID: "nonvoter"}
	if fmt.Sprint(roles) != fmt.Sprint(want) {
		t.Fatalf("roles %v, want %v", roles, want)
	}

	replica := c.Nodes[r].URL()
	load, err := testnet.NewLoad(ctx, func() []string { return []string{replica} }, c.Admin, 1, "rep")
	if err != nil {
		t.Fatalf("register through the replica: %v", err)
	}
	if err := load.Write(ctx); err != nil {
		t.Fatalf("write through the replica: %v", err)
	}
	for lot, seq := range load.Acked() {
		path := "/v1/lots/08936000000127/" + lot
		err := harness.Poll(ctx, 30*time.Second, func() bool {
			var view struct {
				Entries []struct {
					Seq uint64 `json:"seq"`
				} `json:"entries"`
			}
			return getJSON(replica+path, &view) == http.StatusOK && len(view.Entries) == 1 && view.Entries[0].Seq == seq
		})
		if err != nil {
			t.Fatalf("GET %s on the replica: %v", path, err)
		}
		noRedirect := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for page, status := range map[string]int{"/01/08936000000127/10/" + lot: http.StatusTemporaryRedirect, "/lot/01/08936000000127/10/" + lot: http.StatusOK} {
			resp, err := noRedirect.Get(replica + page)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != status {
				t.Errorf("GET %s on the replica: %d, want %d", page, resp.StatusCode, status)
			}
		}
	}
	err = harness.Poll(ctx, 30*time.Second, func() bool {
		return getJSON(replica+"/log/checkpoint", nil) == http.StatusOK && getJSON(replica+"/log/tile/0/000.p/1", nil) == http.StatusOK
	})
	if err != nil {
		t.Errorf("the replica's checkpoint and first tile: %v", err)
	}

	leader := leader(t, c)
	other := (leader + 1) % 3
	if err := c.Kill(r); err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(other); err != nil {
		t.Fatal(err)
	}
	voters, err := testnet.NewLoad(ctx, running(c), c.Admin, 1, "quorum")
	if err != nil {
		t.Fatalf("write with the replica and %s dead: %v", c.Nodes[other].ID, err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := voters.Write(wctx); err != nil {
		t.Fatalf("write with two of three voters up and the replica dead: %v", err)
	}
}

// getJSON GETs url and decodes a JSON body into v (nil: discard); it
// returns the status, 0 on a network or decoding error.
func getJSON(url string, v any) int {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(v) != nil {
		return 0
	}
	return resp.StatusCode
}
