package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/traceledger/traceledger/ledger"
)

// Proofs and checkpoints. Hashes in proofs are base64, as in C2SP
// checkpoints; an entry's own "hash" elsewhere in the API is 0x-hex.

// InclusionProof is the answer of GET /v1/proofs/inclusion/{seq}.
type InclusionProof struct {
	Seq      uint64   `json:"seq"`
	Size     uint64   `json:"size"`
	LeafHash string   `json:"leaf_hash"`
	Root     string   `json:"root"`
	Proof    []string `json:"proof"`
}

// ConsistencyProof is the answer of GET /v1/proofs/consistency.
type ConsistencyProof struct {
	Old     uint64   `json:"old"`
	New     uint64   `json:"new"`
	OldRoot string   `json:"old_root"`
	NewRoot string   `json:"new_root"`
	Proof   []string `json:"proof"`
}

func b64(h tlog.Hash) string { return base64.StdEncoding.EncodeToString(h[:]) }

func queryUint(r *http.Request, name string, def uint64) (uint64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, ledger.ErrInvalidField.Detail("%s must be a non-negative integer", name)
	}
	return n, nil
}

// defaultSize is the size proofs use when the client names none: the
// latest cosigned checkpoint's, so that the proof checks against a root the
// client can verify; the log's own size before the first checkpoint.
func (s *Server) defaultSize(rd ledger.Reader) (uint64, error) {
	cp, _, ok, err := ledger.LatestCheckpoint(rd)
	if err != nil || ok {
		return cp.Size, err
	}
	return ledger.Size(rd)
}

func (s *Server) getInclusion(w http.ResponseWriter, r *http.Request) {
	seq, err := strconv.ParseUint(mux.Vars(r)["seq"], 10, 64)
	if err != nil {
		s.writeError(w, r, ledger.ErrInvalidField.Detail("seq must be a non-negative integer"))
		return
	}
	var out InclusionProof
	err = s.cluster.Store().View(func(rd ledger.Reader) error {
		def, err := s.defaultSize(rd)
		if err != nil {
			return err
		}
		size, err := queryUint(r, "size", def)
		if err != nil {
			return err
		}
		_, data, err := ledger.GetEntry(rd, seq)
		if err != nil {
			return err
		}
		proof, err := ledger.ProveInclusion(rd, size, seq)
		if err != nil {
			return err
		}
		root, err := ledger.TreeHashAt(rd, size)
		if err != nil {
			return err
		}
		out = InclusionProof{Seq: seq, Size: size, LeafHash: b64(ledger.LeafHash(data)), Root: b64(root), Proof: ledger.EncodeProof(proof)}
		return nil
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getConsistency(w http.ResponseWriter, r *http.Request) {
	var out ConsistencyProof
	err := s.cluster.Store().View(func(rd ledger.Reader) error {
		def, err := s.defaultSize(rd)
		if err != nil {
			return err
		}
		old, err := queryUint(r, "old", 0)
		if err != nil {
			return err
		}
		nw, err := queryUint(r, "new", def)
		if err != nil {
			return err
		}
		proof, err := ledger.ProveConsistency(rd, old, nw)
		if err != nil {
			return err
		}
		oldRoot, err := ledger.TreeHashAt(rd, old)
		if err != nil {
			return err
		}
		newRoot, err := ledger.TreeHashAt(rd, nw)
		if err != nil {
			return err
		}
		out = ConsistencyProof{Old: old, New: nw, OldRoot: b64(oldRoot), NewRoot: b64(newRoot), Proof: ledger.EncodeProof(proof)}
		return nil
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// errNoCheckpoint: the cluster has not cosigned a checkpoint yet.
var errNoCheckpoint = &httpError{status: http.StatusServiceUnavailable, code: "no_checkpoint", msg: "no cosigned checkpoint yet; retry in a second"}

// getCheckpoint serves the latest cosigned checkpoint note (C2SP
// tlog-checkpoint, signed-note format) as text/plain.
func (s *Server) getCheckpoint(w http.ResponseWriter, r *http.Request) {
	_, msg, ok, err := s.cluster.LatestCheckpoint()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !ok {
		s.writeError(w, r, errNoCheckpoint)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(msg)
}

// cosignRequest is the body of POST /v1/checkpoint/cosign.
type cosignRequest struct {
	Origin string `json:"origin"`
	Size   uint64 `json:"size"`
	Root   string `json:"root"`
	// LotHeads is the lot-head map's root (base64); absent from an older
	// leader's request.
	LotHeads string `json:"lot_heads,omitempty"`
}

// postCosign signs a checkpoint if it matches this node's own log. Any
// node may ask: a node signs only what it verified, like a witness.
func (s *Server) postCosign(w http.ResponseWriter, r *http.Request) {
	body, err := s.readJSONBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req cosignRequest
	if err := decodeStrict(body, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	root, err := base64.StdEncoding.DecodeString(req.Root)
	if err != nil || len(root) != tlog.HashSize || req.Origin == "" {
		s.writeError(w, r, ledger.ErrInvalidField.Detail("origin and a base64 SHA-256 root are required"))
		return
	}
	cp := ledger.Checkpoint{Origin: req.Origin, Size: req.Size}
	copy(cp.Root[:], root)
	if req.LotHeads != "" {
		lh, err := base64.StdEncoding.DecodeString(req.LotHeads)
		if err != nil || len(lh) != tlog.HashSize {
			s.writeError(w, r, ledger.ErrInvalidField.Detail("lot_heads must be a base64 SHA-256 hash"))
			return
		}
		copy(cp.LotHeads[:], lh)
		cp.HasLotHeads = true
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	msg, err := s.cluster.Cosign(ctx, cp)
	if errors.Is(err, context.DeadlineExceeded) {
		err = errNoCheckpoint.with("this node has not yet applied that many entries")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(msg)
}

// getProvenance serves the self-contained provenance bundle of a lot. It
// waits briefly for a checkpoint that covers the lot's latest entry, so that
// a bundle fetched right after a write includes it; with outside witnesses,
// for one they cosigned too.
//
// The bundle is cached (readcache.go) while the lot's updated_seq and head
// and the cluster's checkpoint keys stay the same. A newer checkpoint does
// not make it wrong: its entries and proofs still verify against the
// checkpoint it embeds, which covers every entry of the lot itself. What a
// newer checkpoint can add is entries of other lots of the graph
// (descendants' hand-overs, a participant's re-registration), so a cached
// bundle is rebuilt once it is older than Config.BundleRefresh and a newer
// checkpoint exists. A bundle built against a checkpoint that did not yet
// cover the lot (the wait timed out) is served once and not kept.
func (s *Server) getProvenance(w http.ResponseWriter, r *http.Request) {
	ref, err := lotRef(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Set before a read for consistency is forwarded: the leader's answer
	// keeps it.
	w.Header().Set("Content-Disposition", fmt.Sprintf(`inline; filename="provenance-%s-%s.json"`, ref.GTIN, sanitizeFilename(ref.Lot)))
	if !s.readConsistent(w, r) {
		return
	}
	s.serveRead(w, r, readSpec{key: "bundle\x00" + ref.String(), contentType: contentTypeJSON, heavy: true, refresh: s.cfg.BundleRefresh,
		// The build is shared by every request that arrives while it runs
		// (serveRead), so the client that started it leaving must not cut
		// its wait for a checkpoint short; that wait has its own bound.
		build: func() ([]byte, func(ledger.Reader) (bool, error), error) {
			return s.buildBundle(context.WithoutCancel(r.Context()), ref)
		}})
}

// buildBundle builds the bundle of ref and the check that it may still be
// served (see getProvenance).
func (s *Server) buildBundle(ctx context.Context, ref ledger.LotRef) ([]byte, func(ledger.Reader) (bool, error), error) {
	var lot *ledger.Lot
	var head uint64
	err := s.cluster.Store().View(func(rd ledger.Reader) (err error) {
		if lot, err = ledger.GetLot(rd, ref); err != nil || lot == nil {
			return err
		}
		head, _, err = ledger.LotHead(rd, ref)
		return err
	})
	if err == nil && lot == nil {
		err = ledger.ErrUnknownLot.Detail("%s", ref)
	}
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	covered := true
	need := max(lot.UpdatedSeq, head) + 1
	cp, msg, err := s.cluster.WaitCheckpoint(ctx, need)
	if wc, wmsg, ok := s.witnessedCheckpoint(ctx, need); ok {
		// The witnesses' cosignatures come a round after the nodes'.
		cp, msg, err = wc, wmsg, nil
	}
	if err != nil {
		var ok bool
		covered = false
		if cp, msg, ok, err = s.cluster.LatestCheckpoint(); err == nil && !ok {
			err = errNoCheckpoint
		}
		if err != nil {
			return nil, nil, err
		}
	}
	keys := s.cluster.Status().CheckpointKeys()
	var b *ledger.Bundle
	var lotCurrent func(ledger.Reader) (bool, error)
	err = s.cluster.Store().View(func(rd ledger.Reader) (err error) {
		if b, err = ledger.BuildBundle(rd, ref, cp, msg, keys); err != nil {
			return err
		}
		lotCurrent, err = lotUnchanged(rd, ref)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	body, err := json.Marshal(b)
	if err != nil || !covered {
		return body, nil, err
	}
	built := s.cfg.Clock()
	current := func(rd ledger.Reader) (bool, error) {
		if ok, err := lotCurrent(rd); !ok || err != nil {
			return false, err
		}
		if !slices.Equal(s.cluster.Status().CheckpointKeys(), keys) {
			return false, nil
		}
		if s.cfg.Clock().Sub(built) < s.cfg.BundleRefresh {
			return true, nil
		}
		latest, _, ok, err := ledger.LatestCheckpoint(rd)
		return err == nil && ok && latest.Size == cp.Size, err
	}
	return body, current, nil
}

func sanitizeFilename(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}
