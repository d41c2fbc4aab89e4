package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/mux"
)

// GET /capture lists the jobs newest first, page by page, following the
// Link header to the end, and refuses what it does not understand.
func TestCaptureJobList(t *testing.T) {
	o, err := openOutbox(t.TempDir(), nil, "", 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		j := &captureJob{CaptureID: fmt.Sprintf("job%d", i), CreatedAt: fmt.Sprintf("2026-11-30T08:00:0%dZ", i), Behaviour: behaviourRollback}
		o.finish(j, nil)
		if err := o.add(j); err != nil {
			t.Fatal(err)
		}
	}
	r := mux.NewRouter()
	(&captureServer{outbox: o, maxEvents: 10, maxBytes: 1 << 20}).mount(r)
	srv := httptest.NewServer(r)
	defer srv.Close()

	var ids []string
	next := "/capture?perPage=3"
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("the pages never end")
		}
		resp, err := http.Get(srv.URL + next)
		if err != nil {
			t.Fatal(err)
		}
		var jobs []captureJob
		err = json.NewDecoder(resp.Body).Decode(&jobs)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("GS1-EPCIS-Version") == "" {
			t.Fatalf("GET %s: %d %v", next, resp.StatusCode, err)
		}
		for _, j := range jobs {
			if len(j.Events) != 0 || j.Running {
				t.Errorf("job %s listed with its envelopes or still running: %+v", j.CaptureID, j)
			}
			ids = append(ids, j.CaptureID)
		}
		next = ""
		if l := resp.Header.Get("Link"); l != "" {
			next = strings.TrimSuffix(strings.TrimPrefix(l, "<"), `>; rel="next"`)
		}
	}
	if got := strings.Join(ids, " "); got != "job6 job5 job4 job3 job2 job1 job0" {
		t.Errorf("listed %s, want newest first, each once", got)
	}
	for _, q := range []string{"perPage=0", "perPage=x", "perPage=1001", "nextPageToken=nosuchjob", "eventType=ObjectEvent"} {
		resp, err := http.Get(srv.URL + "/capture?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET /capture?%s: %d %s, want 400 problem+json", q, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}
