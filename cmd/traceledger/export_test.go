package main

import (
	"context"
	"encoding/json"
	"github.com/traceledger/traceledger/ledger/demo"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/traceledger/traceledger/api/epcis/epcistest"
)

// traceledger export writes the EPCIS 2.0 document of a demo lot, to a
// file or to standard output, and fails cleanly on a bad or unknown lot.
func TestExportCommand(t *testing.T) {
	admin := genKey(t)
	n := startNode(t, "127.0.0.1:0", admin)
	envs, err := demo.Envelopes(admin)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := n.Submit(ctx, envs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("demo envelope %d: %v", i, r.Err)
		}
	}
	base := n.HTTPURL()
	c, err := epcistest.Load("../../testdata/epcis")
	if err != nil {
		t.Fatal(err)
	}

	// To a file, flags after the lot; the URL from the environment.
	out := filepath.Join(t.TempDir(), "lychee.jsonld")
	r := run(t, []string{"TRACELEDGER_URL=" + base}, "export", "08936000100025", "LNB2606A", "--out", out)
	if r.code != 0 || !strings.Contains(r.stderr, "9 EPCIS events") {
		t.Fatalf("export --out: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	doc, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(doc); err != nil {
		t.Fatal(err)
	}
	var d struct {
		Body struct {
			Events []struct {
				Type    string `json:"type"`
				BizStep string `json:"bizStep"`
			} `json:"eventList"`
		} `json:"epcisBody"`
	}
	if err := json.Unmarshal(doc, &d); err != nil || len(d.Body.Events) != 9 ||
		d.Body.Events[0].BizStep != "commissioning" || d.Body.Events[4].Type != "TransformationEvent" {
		t.Errorf("exported events %+v: %v", d.Body.Events, err)
	}

	// To standard output: the document the API serves.
	r = run(t, nil, "export", "--url", base, "08936000600020", "HG2607R")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("export to stdout: exit %d\n%s", r.code, r.stderr)
	}
	if err := c.Validate([]byte(r.stdout)); err != nil || !strings.Contains(r.stdout, `"disposition":"recalled"`) {
		t.Errorf("recalled honey: %v\n%s", err, r.stdout)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"08936000100025", "NOSUCH"}, "Not Found"},
		{[]string{"08936000100026", "LNB2606A"}, "check digit"},
		{[]string{"08936000100025"}, "usage"},
	} {
		r := run(t, nil, append([]string{"export", "--url", base}, tc.args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
			t.Errorf("export %v: exit %d, stderr %q, want 1 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}
