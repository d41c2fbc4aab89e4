package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/traceledger/traceledger/api/ratelimit"
	"github.com/traceledger/traceledger/consensus"
	"github.com/traceledger/traceledger/ledger"
)

// Accepted is the answer for an accepted envelope (201, or 200 for a
// resubmitted identical envelope).
type Accepted struct {
	Seq    uint64 `json:"seq"`
	Hash   string `json:"hash"`
	Signer string `json:"signer"`
	// With ?wait=checkpoint: the entry's inclusion proof (base64 hashes)
	// in the tree of the checkpoint that covers it.
	InclusionProof []string `json:"inclusion_proof,omitempty"`
	// With ?wait=checkpoint on a single envelope: that checkpoint's note.
	Checkpoint string `json:"checkpoint,omitempty"`
	// CheckpointPending: with ?wait=checkpoint, the entry is committed but
	// no checkpoint covered it within 5 s; fetch the proof later.
	CheckpointPending bool `json:"checkpoint_pending,omitempty"`
}

// BatchItem is one envelope's answer within a batch.
type BatchItem struct {
	Status int `json:"status"`
	*Accepted
	Error *errorDetail `json:"error,omitempty"`
}

// BatchAnswer is the answer to a batch: 200 with one item per envelope, in
// order, and counts.
type BatchAnswer struct {
	Results  []BatchItem `json:"results"`
	Accepted int         `json:"accepted"`
	Rejected int         `json:"rejected"`
	// With ?wait=checkpoint: the checkpoint covering every accepted entry.
	Checkpoint string `json:"checkpoint,omitempty"`
}

func (s *Server) postRecords(w http.ResponseWriter, r *http.Request) {
	body, err := s.readJSONBody(w, r)
	if err != nil {
		s.refuseRecords(w, r, err)
		return
	}
	if s.limit != nil && !s.fromMember(r) {
		if ok, wait := s.limit.Allow(ratelimit.Client(r), max(1, float64(len(body))/1024), s.cfg.Clock()); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			s.refuseRecords(w, r, errRateLimited.with("too many records from this client; retry later"))
			return
		}
	}
	if !s.cluster.IsLeader() {
		// The leader counts the answer it gives; this node counts only
		// what it answers itself (no leader to forward to).
		s.forwardToLeader(w, r, body, s.refuseRecords)
		return
	}
	switch r.URL.Query().Get("wait") {
	case "", "checkpoint":
	default:
		s.refuseRecords(w, r, errBadRequest.with("wait must be checkpoint"))
		return
	}
	env, records, isBatch, err := decodeSubmission(body)
	switch {
	case err != nil:
		s.refuseRecords(w, r, err)
	case isBatch:
		s.submitBatch(w, r, records)
	default:
		s.submitOne(w, r, env)
	}
}

// decodeSubmission decodes the body of POST /v1/records: exactly "record"
// and "signature" (one envelope), or exactly "records" (a batch), each
// once, in exact case (DESIGN §3.2).
func decodeSubmission(body []byte) (env ledger.Envelope, records []json.RawMessage, isBatch bool, err error) {
	var names []string
	err = decodeMembers(body, "the request body", submissionMembers, func(name string, dec *json.Decoder) error {
		names = append(names, name)
		if name != "records" {
			return envelopeMember(&env, name, dec)
		}
		isBatch = true
		if err := decodeValue(dec, &records, name); err != nil {
			return err
		}
		if records == nil {
			return ledger.ErrInvalidField.Detail(`"records" must be an array of envelopes`)
		}
		return nil
	})
	if err == nil && isBatch && len(names) > 1 {
		err = ledger.ErrMalformed.Detail(`send either "record" and "signature", or "records", not both`)
	}
	return env, records, isBatch, err
}

// submissionMembers are the members of a POST /v1/records body.
var submissionMembers = []string{"record", "signature", "records"}

func (s *Server) submitOne(w http.ResponseWriter, r *http.Request, env ledger.Envelope) {
	adm, err := ledger.Admit(env, s.cfg.Clock())
	if err != nil {
		s.refuseRecords(w, r, err)
		return
	}
	res, err := s.cluster.Submit(r.Context(), []*ledger.Admitted{adm})
	if err != nil {
		s.refuseRecords(w, r, err)
		return
	}
	status, item := answer(res[0])
	if item.Error != nil {
		s.refuseRecords(w, r, res[0].Err)
		return
	}
	s.metrics.records.WithLabelValues(outcome(item)).Inc()
	if r.URL.Query().Get("wait") == "checkpoint" {
		items := []BatchItem{item}
		msg, err := s.attachProofs(r.Context(), items)
		switch {
		case errors.Is(err, consensus.ErrUnknownOutcome):
			item.CheckpointPending = true // committed all the same
		case err != nil:
			s.writeError(w, r, err)
			return
		default:
			item = items[0]
			item.Checkpoint = string(msg)
		}
	}
	writeJSON(w, status, item.Accepted)
}

func (s *Server) submitBatch(w http.ResponseWriter, r *http.Request, raws []json.RawMessage) {
	if len(raws) == 0 {
		s.refuseRecords(w, r, ledger.ErrMalformed.Detail(`"records" is empty`))
		return
	}
	if len(raws) > s.cfg.MaxBatch {
		s.refuseRecords(w, r, errTooLarge.with(fmt.Sprintf("a batch holds at most %d envelopes; this one holds %d", s.cfg.MaxBatch, len(raws))))
		return
	}
	items := make([]BatchItem, len(raws))
	admitted := make([]*ledger.Admitted, len(raws))
	s.admitAll(raws, admitted, items)

	var toSubmit []*ledger.Admitted
	var where []int
	for i, a := range admitted {
		if a != nil {
			toSubmit = append(toSubmit, a)
			where = append(where, i)
		}
	}
	if len(toSubmit) > 0 {
		res, err := s.cluster.Submit(r.Context(), toSubmit)
		if err != nil {
			// Nothing is known of any envelope: answer the whole batch with
			// the error, the client retries it as a whole.
			s.refuseRecords(w, r, err)
			return
		}
		for k, i := range where {
			_, items[i] = answer(res[k])
		}
	}
	out := BatchAnswer{Results: items}
	if r.URL.Query().Get("wait") == "checkpoint" {
		msg, err := s.attachProofs(r.Context(), items)
		switch {
		case errors.Is(err, consensus.ErrUnknownOutcome):
			for _, it := range items {
				if it.Accepted != nil {
					it.CheckpointPending = true // committed all the same
				}
			}
		case err != nil:
			s.refuseRecords(w, r, err)
			return
		default:
			out.Checkpoint = string(msg)
		}
	}
	for _, it := range items {
		s.metrics.records.WithLabelValues(outcome(it)).Inc()
		if it.Error == nil {
			out.Accepted++
		} else {
			out.Rejected++
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// admitAll decodes and admits envelopes on AdmitWorkers goroutines: signature
// recovery is the most expensive step of a write and parallelises
// perfectly. The goroutines end before admitAll returns.
func (s *Server) admitAll(raws []json.RawMessage, admitted []*ledger.Admitted, items []BatchItem) {
	now := s.cfg.Clock()
	work := func(i int) {
		env, err := decodeEnvelope(raws[i])
		if err == nil {
			admitted[i], err = ledger.Admit(env, now)
		}
		if err != nil {
			status, d := classify(err)
			items[i] = BatchItem{Status: status, Error: &d}
		}
	}
	workers := min(s.cfg.AdmitWorkers, len(raws))
	if workers <= 1 {
		for i := range raws {
			work(i)
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				work(i)
			}
		}()
	}
	for i := range raws {
		next <- i
	}
	close(next)
	wg.Wait()
}

// attachProofs waits (up to 5 s) for a cosigned checkpoint that covers
// every accepted item, then adds each one's inclusion proof in that
// checkpoint's tree. It returns the checkpoint note.
func (s *Server) attachProofs(ctx context.Context, items []BatchItem) ([]byte, error) {
	var need uint64
	for _, it := range items {
		if it.Accepted != nil {
			need = max(need, it.Seq+1)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cp, msg, err := s.cluster.WaitCheckpoint(ctx, need)
	if err != nil {
		return nil, err
	}
	err = s.cluster.Store().View(func(rd ledger.Reader) error {
		for i := range items {
			if items[i].Accepted == nil {
				continue
			}
			proof, err := ledger.ProveInclusion(rd, cp.Size, items[i].Seq)
			if err != nil {
				return err
			}
			items[i].InclusionProof = ledger.EncodeProof(proof)
		}
		return nil
	})
	return msg, err
}

func answer(res ledger.Result) (int, BatchItem) {
	if res.Err != nil {
		status, d := classify(res.Err)
		return status, BatchItem{Status: status, Error: &d}
	}
	status := http.StatusCreated
	if res.Existing {
		status = http.StatusOK
	}
	return status, BatchItem{Status: status, Accepted: &Accepted{Seq: res.Seq, Hash: ledger.HashHex(res.Hash), Signer: res.Signer.Hex()}}
}

// outcome is an answer's label on traceledger_records_total: "created"
// for a new entry, "existing" for an envelope the ledger already held, or
// the error code (unknown_lot, not_holder, bad_signature …).
func outcome(it BatchItem) string {
	switch {
	case it.Error != nil:
		return it.Error.Code
	case it.Status == http.StatusOK:
		return "existing"
	}
	return "created"
}

// refuseRecords answers a POST /v1/records with err and counts the answer
// under err's code: a request refused as a whole counts once, whatever it
// held.
func (s *Server) refuseRecords(w http.ResponseWriter, r *http.Request, err error) {
	_, d := classify(err)
	s.metrics.records.WithLabelValues(d.Code).Inc()
	s.writeError(w, r, err)
}

// isRecordsPost reports whether r is a write of records, whose answers
// traceledger_records_total counts.
func isRecordsPost(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Path == "/v1/records"
}
