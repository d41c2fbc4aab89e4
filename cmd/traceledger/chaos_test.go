package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// testnet chaos refuses what it cannot run, and a short run prints its
// report as JSON and exits 0 when the checker found nothing.
func TestTestnetChaos(t *testing.T) {
	for _, args := range [][]string{
		{"--nodes", "2"},
		{"--duration", "0s"},
		{"--interval", "-1s"},
	} {
		r := run(t, nil, append([]string{"testnet", "chaos"}, args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, "chaos:") {
			t.Errorf("testnet chaos %v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}

	dir := filepath.Join(t.TempDir(), "c")
	r := run(t, nil, "testnet", "chaos", "--duration", "4s", "--seed", "5", "--races", "3", "--json", "--dir", dir)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	defer func() {
		// The directory of a run is not reused.
		if again := run(t, nil, "testnet", "chaos", "--duration", "1s", "--dir", dir); again.code == 0 || !strings.Contains(again.stderr, "is not empty") {
			t.Errorf("a second run in %s: exit %d, %q", dir, again.code, again.stderr)
		}
	}()
	var rep struct {
		Seed       uint64 `json:"seed"`
		Nodes      int    `json:"nodes"`
		PeerTLS    bool   `json:"peer_tls"`
		Converged  bool   `json:"converged"`
		Operations map[string]struct {
			Operations int `json:"operations"`
		} `json:"operations"`
		Faults []struct {
			Kind  string `json:"kind"`
			Count int    `json:"count"`
		} `json:"faults"`
		Lost  []string `json:"lost"`
		Races int      `json:"races"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, r.stdout)
	}
	if rep.Lost == nil {
		t.Error(`"lost" is not an array`)
	}
	if rep.Seed != 5 || rep.Nodes != 3 || !rep.PeerTLS || !rep.Converged || len(rep.Faults) != 7 || rep.Operations["all"].Operations == 0 || rep.Races != 3 {
		t.Errorf("report: %+v", rep)
	}
}
