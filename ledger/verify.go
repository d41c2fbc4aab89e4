package ledger

import (
	"bytes"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/ethereum/go-ethereum/common"
)

// Every replica verifies. A Raft log entry is only as trustworthy as the
// node that appended it, and a node must never apply a record on a peer's
// word: Apply decodes every record strictly, checks that its bytes are in
// canonical form (RFC 8785) and recovers its signature, exactly as
// admission does, before any rule of DESIGN §3.3 runs. The verdict is a
// function of the log entry's bytes alone, so every node reaches the same
// one.
//
// The one shortcut: an envelope this process admitted itself (Admit) keeps
// its verdict, so the leader does not pay for each signature twice. A
// verdict is never carried by the log; it lives only in the Admitted value
// that Admit returned (see Adopt).

// Verified reports whether this process checked the envelope itself: its
// record decoded strictly and its signature recovered to Signer.
func (a *Admitted) Verified() bool { return a.verified }

// Adopt takes the decoded record and verdict of v, an envelope this process
// admitted, when a and v carry the same bytes (record, signature and
// signer). It reports whether it did.
func (a *Admitted) Adopt(v *Admitted) bool {
	if v == nil || !v.verified || v.Record == nil || a.Signer != v.Signer ||
		!bytes.Equal(a.Signature, v.Signature) || !bytes.Equal(a.Canonical, v.Canonical) {
		return false
	}
	a.Record, a.verified = v.Record, true
	return true
}

// verifyEnvelope runs admission's stateless checks on the bytes of a
// logged envelope: the record is valid and in canonical form, and its
// signature recovers to both the envelope's and the record's signer.
func verifyEnvelope(e *Admitted) error {
	rec, err := DecodeRecord(e.Canonical)
	if err != nil {
		return err
	}
	canon, err := Canonicalize(e.Canonical)
	if err != nil {
		return err
	}
	if !bytes.Equal(canon, e.Canonical) {
		return ErrMalformed.Detail("logged record is not in canonical form")
	}
	signer, err := Recover(e.Canonical, e.Signature)
	if err != nil {
		return err
	}
	if signer != e.Signer {
		return ErrSignerMismatch.Detail("logged signer %s, signature is by %s", e.Signer.Hex(), signer.Hex())
	}
	if common.HexToAddress(rec.Signer) != signer {
		return ErrSignerMismatch.Detail("record names %s, signature is by %s", rec.Signer, signer.Hex())
	}
	e.Record, e.verified = rec, true
	return nil
}

// verifyAll verifies every envelope this process has not verified, on all
// cores, and returns one error per envelope (nil when it verified). The
// workers are started and waited for here; they share nothing but the
// next-index counter and write disjoint slots of the result.
func verifyAll(envs []*Admitted) []error {
	errs := make([]error, len(envs))
	var todo []int
	for i, e := range envs {
		if !e.verified {
			todo = append(todo, i)
		}
	}
	workers := min(runtime.GOMAXPROCS(0), (len(todo)+3)/4)
	if workers <= 1 {
		for _, i := range todo {
			errs[i] = verifyEnvelope(envs[i])
		}
		return errs
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= len(todo) {
					return
				}
				i := todo[k]
				errs[i] = verifyEnvelope(envs[i])
			}
		}()
	}
	wg.Wait()
	return errs
}
