package main

// The gateway's outbox: capture jobs on disk, and the one goroutine that
// submits their signed envelopes to the ledger.
//
// Each job is one file, <dir>/<captureID>.json, replaced atomically
// (written to a temporary file, synced, renamed, and the directory
// synced) whenever its state changes: when it is accepted, with every
// event already signed, then after each batch the ledger answers. A
// gateway that stops — cleanly or not — finds on restart every running
// job with the envelopes the ledger has not answered yet, and sends only
// those. An envelope whose answer was lost in the crash is sent again and
// answered 200 with its original entry (the ledger recognises an
// identical record by its signer and id), so nothing is recorded twice.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/traceledger/traceledger/api"
)

// captureJob is a capture job as the binding reports it (EPCIS 2.0 REST
// binding, CaptureJob), with the outbox's own state.
type captureJob struct {
	CaptureID  string        `json:"captureID"`
	CreatedAt  string        `json:"createdAt"`
	FinishedAt string        `json:"finishedAt,omitempty"`
	Running    bool          `json:"running"`
	Success    bool          `json:"success"`
	Behaviour  string        `json:"captureErrorBehaviour"`
	Errors     []api.Problem `json:"errors"`
	// Events are the signed envelopes to submit, in document order.
	Events []jobEvent `json:"events,omitempty"`
}

// jobEvent is one event of a job: its place in the document, its id on
// the ledger, its envelope, and what the ledger answered.
type jobEvent struct {
	Index    int             `json:"index"`
	ID       string          `json:"id"`
	Envelope json.RawMessage `json:"envelope"`
	Done     bool            `json:"done"`
	Seq      *uint64         `json:"seq,omitempty"`
}

// report is the job as GET /capture/{id} answers it: without the outbox's
// envelopes.
func (j *captureJob) report() captureJob {
	r := *j
	r.Events = nil
	if r.Errors == nil {
		r.Errors = []api.Problem{}
	}
	return r
}

// outbox keeps the jobs, in memory and on disk. Its submit loop (run) is
// the only writer of a job once accepted; the HTTP handlers add jobs and
// read copies.
type outbox struct {
	dir    string
	client *client
	signer string // the key's address, checked against the ledger's participants
	batch  int
	logger *slog.Logger

	mu   sync.Mutex             // guards jobs
	jobs map[string]*captureJob // by captureID
	wake chan struct{}          // a new job to submit (buffered, 1)
}

func openOutbox(dir string, c *client, signer string, batch int, logger *slog.Logger) (*outbox, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	o := &outbox{dir: dir, client: c, signer: signer, batch: batch, logger: logger,
		jobs: map[string]*captureJob{}, wake: make(chan struct{}, 1)}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
		var j captureJob
		if err := json.Unmarshal(b, &j); err != nil || j.CaptureID+".json" != filepath.Base(f) {
			return nil, fmt.Errorf("outbox: %s is not a capture job (%v)", f, err)
		}
		o.jobs[j.CaptureID] = &j
	}
	return o, nil
}

// add stores a new job and wakes the submit loop.
func (o *outbox) add(j *captureJob) error {
	if err := o.persist(j); err != nil {
		return err
	}
	o.mu.Lock()
	o.jobs[j.CaptureID] = j
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return nil
}

// get returns a copy of a job's report.
func (o *outbox) get(id string) (captureJob, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	j, ok := o.jobs[id]
	if !ok {
		return captureJob{}, false
	}
	return j.report(), true
}

// list returns the reports of up to n jobs, newest first, that come after
// the job named by after ("" for the newest), and the id to continue
// from ("" when there are no more). Jobs are ordered by creation time,
// then id, so a page boundary stays put while jobs are added.
func (o *outbox) list(after string, n int) ([]captureJob, string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	all := make([]*captureJob, 0, len(o.jobs))
	for _, j := range o.jobs {
		all = append(all, j)
	}
	newer := func(a, b *captureJob) bool { // a before b in the list
		if a.CreatedAt != b.CreatedAt {
			return a.CreatedAt > b.CreatedAt
		}
		return a.CaptureID > b.CaptureID
	}
	slices.SortFunc(all, func(a, b *captureJob) int {
		switch {
		case newer(a, b):
			return -1
		case newer(b, a):
			return 1
		}
		return 0
	})
	start := 0
	if after != "" {
		if j, ok := o.jobs[after]; ok {
			for start < len(all) && !newer(j, all[start]) {
				start++
			}
		} else {
			start = len(all)
		}
	}
	out := make([]captureJob, 0, min(n, len(all)-start))
	for _, j := range all[start:min(start+n, len(all))] {
		out = append(out, j.report())
	}
	if start+n < len(all) {
		return out, out[len(out)-1].CaptureID
	}
	return out, ""
}

// persist writes a job's file atomically.
func (o *outbox) persist(j *captureJob) error {
	o.mu.Lock()
	b, err := json.Marshal(j)
	o.mu.Unlock()
	if err != nil {
		return err
	}
	path := filepath.Join(o.dir, j.CaptureID+".json")
	tmp, err := os.CreateTemp(o.dir, ".job-*")
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		err = syncDir(o.dir)
	}
	if err != nil {
		return fmt.Errorf("outbox: write %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// next returns the oldest running job, or nil.
func (o *outbox) next() *captureJob {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out *captureJob
	for _, j := range o.jobs {
		if j.Running && (out == nil || j.CreatedAt < out.CreatedAt || j.CreatedAt == out.CreatedAt && j.CaptureID < out.CaptureID) {
			out = j
		}
	}
	return out
}

// run submits running jobs, oldest first, until ctx ends. A failure to
// reach the ledger leaves the job running and is retried after a pause.
func (o *outbox) run(ctx context.Context) {
	pause := time.Second
	for {
		j := o.next()
		if j == nil {
			select {
			case <-ctx.Done():
				return
			case <-o.wake:
				continue
			}
		}
		if err := o.submit(ctx, j); err != nil {
			if ctx.Err() != nil {
				return
			}
			o.logger.Warn("capture job: the ledger did not answer; retrying", "capture", j.CaptureID, "err", err, "in", pause)
			select {
			case <-ctx.Done():
				return
			case <-time.After(pause):
			}
			pause = min(2*pause, time.Minute)
			continue
		}
		pause = time.Second
	}
}

// submit sends a job's unanswered envelopes in batches, recording each
// answer, and finishes the job when all are answered.
func (o *outbox) submit(ctx context.Context, j *captureJob) error {
	if j.Behaviour == behaviourRollback && slices.ContainsFunc(j.Events, func(e jobEvent) bool { return !e.Done }) {
		// All or nothing: the one refusal that would hit every event —
		// a signer the ledger does not know — is found before any is sent.
		status, body, _, err := o.client.do(ctx, http.MethodGet, "/v1/participants/"+o.signer, nil)
		switch {
		case err != nil:
			return err
		case status == http.StatusNotFound:
			o.finish(j, []api.Problem{{Type: api.ProblemTypePrefix + "SecurityException", Title: "the ledger does not know this gateway's key",
				Status: http.StatusForbidden, Detail: fmt.Sprintf("%s is not a registered participant of the ledger at %s; no event was submitted", o.signer, o.client.base)}})
			return o.persist(j)
		case status != http.StatusOK:
			return fmt.Errorf("GET /v1/participants/%s: %d %s", o.signer, status, serverMessage(body))
		}
	}
	for {
		var part []int
		var raws []pending
		for i, e := range j.Events {
			if !e.Done {
				part = append(part, i)
				raws = append(raws, pending{env: e.Envelope})
				if len(part) == o.batch {
					break
				}
			}
		}
		if len(part) == 0 {
			o.finish(j, nil)
			return o.persist(j)
		}
		items, err := o.client.sendBatch(ctx, raws, time.Minute)
		if err != nil {
			return err
		}
		var refused []api.Problem
		o.mu.Lock()
		for k, it := range items {
			e := &j.Events[part[k]]
			e.Done = true
			switch {
			case it.Accepted != nil && (it.Status == http.StatusCreated || it.Status == http.StatusOK):
				seq := it.Seq
				e.Seq = &seq
			default:
				detail := http.StatusText(it.Status)
				if it.Error != nil {
					detail = it.Error.Message
				}
				refused = append(refused, api.Problem{Type: api.ProblemTypePrefix + "ValidationException", Title: "the ledger refused the event",
					Status: it.Status, Detail: detail, Instance: eventPointer(e.Index)})
			}
		}
		j.Errors = append(j.Errors, refused...)
		o.mu.Unlock()
		if err := o.persist(j); err != nil {
			return err
		}
	}
}

// finish ends a job: not running, successful when it has no error.
func (o *outbox) finish(j *captureJob, errs []api.Problem) {
	o.mu.Lock()
	defer o.mu.Unlock()
	j.Errors = append(j.Errors, errs...)
	j.Running, j.Success = false, len(j.Errors) == 0
	j.FinishedAt = time.Now().UTC().Format(time.RFC3339Nano)
}

// eventPointer is the JSON pointer of a document's event, for problems.
func eventPointer(i int) string { return fmt.Sprintf("/epcisBody/eventList/%d", i) }
