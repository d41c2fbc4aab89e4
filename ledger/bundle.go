package ledger

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"golang.org/x/mod/sumdb/tlog"
)

// A provenance bundle is one self-contained JSON document that lets anyone
// check a lot's history offline, without trusting the server that produced
// it:
//
//	{"format": "traceledger-provenance/1",
//	 "lot": {"gtin": "…", "lot": "…"},
//	 "checkpoint": "<cosigned checkpoint note>",
//	 "node_keys": ["<note verifier key>", …],
//	 "lots": {"<gtin>/<lot>": [seq, …], …},
//	 "lot_heads": {"<gtin>/<lot>": {"seq": N, "proof": ["<base64 hash>", …]}, …},
//	 "entries": [{"entry": {…canonical entry…}, "inclusion_proof": ["<base64 hash>", …]}, …]}
//
// entries holds, in log order: the genesis entry; every entry naming the
// lot, its ancestors back to each harvest and its descendants (and, for
// every transform among them, the ancestors of its other inputs); and every
// registration of every participant who signed one of them or received a
// lot, up to the genesis admins. lots lists the entries the ledger holds for
// each of those lots. Each entry carries its RFC 6962 inclusion proof in the
// tree of the checkpoint's size. lot_heads proves, for every lot with an
// entry below the checkpoint's size, which entry is its latest, against
// the lot-head map root the checkpoint carries (lotheads.go): a bundle that
// stops short of a lot's newest entry — a left-out recall — fails.
//
// node_keys are the cluster's keys when the bundle was made; a careful
// verifier trusts its own copy of them instead (traceledger verify --trust).

// BundleFormat names the bundle format version.
const BundleFormat = "traceledger-provenance/1"

// Bundle is a provenance bundle.
type Bundle struct {
	Format     string                   `json:"format"`
	Lot        LotRef                   `json:"lot"`
	Checkpoint string                   `json:"checkpoint"`
	NodeKeys   []string                 `json:"node_keys"`
	Lots       map[string][]uint64      `json:"lots"`
	LotHeads   map[string]BundleLotHead `json:"lot_heads,omitempty"`
	Entries    []BundleEntry            `json:"entries"`
}

// BundleLotHead is a lot's latest entry at the checkpoint and its proof in
// the lot-head map.
type BundleLotHead struct {
	Seq   uint64   `json:"seq"`
	Proof []string `json:"proof"`
}

// BundleEntry is an entry and its inclusion proof.
type BundleEntry struct {
	Entry json.RawMessage `json:"entry"`
	Proof []string        `json:"inclusion_proof"`
}

// MaxBundleEntries bounds a bundle: a product graph beyond it is refused
// rather than served slowly.
const MaxBundleEntries = 20_000

// ErrBundleTooLarge: the lot's provenance graph exceeds MaxBundleEntries.
var ErrBundleTooLarge = sentinel(KindInvalid, "provenance_too_large", "the provenance graph is too large for one bundle")

// BuildBundle assembles the provenance bundle of ref against a checkpoint
// (cp, with its note msg). Only entries below the checkpoint's size are
// included: a fresh entry appears in the next bundle, within a second.
func BuildBundle(r Reader, ref LotRef, cp Checkpoint, msg []byte, nodeKeys []string) (*Bundle, error) {
	if l, err := GetLot(r, ref); err != nil {
		return nil, err
	} else if l == nil {
		return nil, ErrUnknownLot.Detail("%s", ref)
	}
	lots, err := provenanceLots(r, ref, storedTransformInputs(r))
	if err != nil {
		return nil, err
	}
	b := &Bundle{Format: BundleFormat, Lot: ref, Checkpoint: string(msg), NodeKeys: nodeKeys, Lots: map[string][]uint64{}}
	seqs := map[uint64]bool{0: true}
	signers := map[common.Address]bool{}
	heads, err := LotHeadsAt(r, cp.Size)
	if err != nil {
		return nil, err
	}
	for ref := range lots {
		list, err := LotSeqs(r, ref)
		if err != nil {
			return nil, err
		}
		var covered []uint64
		for _, s := range list {
			if s < cp.Size {
				covered = append(covered, s)
				seqs[s] = true
			}
		}
		b.Lots[ref.String()] = covered
		if len(covered) == 0 {
			continue
		}
		p, err := heads.Prove(ref)
		if errors.Is(err, ErrNoLotHead) {
			// A ledger written before the lot-head map: the bundle
			// carries no proof, and VerifyBundle says completeness is
			// not proven.
			continue
		}
		if err != nil {
			return nil, err
		}
		if b.LotHeads == nil {
			b.LotHeads = map[string]BundleLotHead{}
		}
		b.LotHeads[ref.String()] = BundleLotHead{Seq: p.Seq, Proof: EncodeProof(p.Siblings)}
	}
	// Participants: every signer and recipient, then who registered them.
	var queue []common.Address
	addParticipant := func(s string) {
		if a, err := ParseAddress(s); err == nil && !signers[a] {
			signers[a] = true
			queue = append(queue, a)
		}
	}
	pending := make([]uint64, 0, len(seqs))
	for s := range seqs {
		pending = append(pending, s)
	}
	for len(pending) > 0 || len(queue) > 0 {
		for _, s := range pending {
			e, _, err := GetEntry(r, s)
			if err != nil {
				return nil, err
			}
			addParticipant(e.Signer)
			var to struct {
				To string `json:"to"`
			}
			if json.Unmarshal(e.Record, &to) == nil && to.To != "" {
				addParticipant(to.To)
			}
		}
		pending = pending[:0]
		for _, a := range queue {
			regs, err := RegistrationSeqs(r, a)
			if err != nil {
				return nil, err
			}
			for _, s := range regs {
				if s < cp.Size && !seqs[s] {
					seqs[s] = true
					pending = append(pending, s)
				}
			}
		}
		queue = queue[:0]
		if len(seqs) > MaxBundleEntries {
			return nil, ErrBundleTooLarge.Detail("more than %d entries", MaxBundleEntries)
		}
	}
	ordered := make([]uint64, 0, len(seqs))
	for s := range seqs {
		ordered = append(ordered, s)
	}
	sort.Slice(ordered, func(i, j int) bool { return ordered[i] < ordered[j] })
	for _, s := range ordered {
		_, data, err := GetEntry(r, s)
		if err != nil {
			return nil, err
		}
		proof, err := ProveInclusion(r, cp.Size, s)
		if err != nil {
			return nil, err
		}
		b.Entries = append(b.Entries, BundleEntry{Entry: data, Proof: EncodeProof(proof)})
	}
	return b, nil
}

// storedTransformInputs returns, for a lot, the inputs of every transform
// in the ledger that names it, read through its index.
func storedTransformInputs(r Reader) func(LotRef) ([]LotRef, error) {
	return func(x LotRef) ([]LotRef, error) {
		seqs, err := LotSeqs(r, x)
		if err != nil {
			return nil, err
		}
		var inputs []LotRef
		for _, s := range seqs {
			e, _, err := GetEntry(r, s)
			if err != nil {
				return nil, err
			}
			if e.Type != TypeTransform {
				continue
			}
			rec, err := DecodeRecord(e.Record)
			if err != nil {
				return nil, errCorrupt("entry %d: %v", s, err)
			}
			for _, in := range rec.Transform.Inputs {
				inputs = append(inputs, in.Lot)
			}
		}
		return inputs, nil
	}
}

// provenanceLots returns ref, its ancestors and descendants, and the
// ancestors of every descendant and of every input of a transform that
// names one of them (transformInputs gives those inputs for a lot): every
// lot whose history the replay in VerifyBundle needs. It reads lots by
// key only.
func provenanceLots(r Reader, ref LotRef, transformInputs func(LotRef) ([]LotRef, error)) (map[LotRef]bool, error) {
	start, err := GetLot(r, ref)
	if err != nil || start == nil {
		return nil, err
	}
	tooLarge := func(err error) error {
		if errors.Is(err, ErrLotGraphTooLarge) {
			return ErrBundleTooLarge.Detail("more than %d lots", MaxBundleEntries)
		}
		return err
	}
	// Descendants first, then the ancestors of everything found.
	var frontier []*Lot
	err = WalkLots(r, []*Lot{start}, Downstream, MaxBundleEntries, func(l *Lot) (bool, error) {
		frontier = append(frontier, l)
		return true, nil
	})
	if err != nil {
		return nil, tooLarge(err)
	}
	lots := map[LotRef]bool{}
	for len(frontier) > 0 {
		var fresh []*Lot
		err := WalkLots(r, frontier, Upstream, MaxBundleEntries, func(l *Lot) (bool, error) {
			if !lots[l.Ref()] {
				lots[l.Ref()] = true
				fresh = append(fresh, l)
			}
			return true, nil
		})
		if err != nil {
			return nil, tooLarge(err)
		}
		if len(lots) > MaxBundleEntries {
			return nil, tooLarge(ErrLotGraphTooLarge)
		}
		// A transform that names a new lot may take other inputs too:
		// their upstream is needed to replay the transform.
		frontier = frontier[:0]
		for _, l := range fresh {
			inputs, err := transformInputs(l.Ref())
			if err != nil {
				return nil, err
			}
			for _, in := range inputs {
				if lots[in] {
					continue
				}
				x, err := GetLot(r, in)
				if err != nil {
					return nil, err
				}
				if x == nil {
					return nil, errCorrupt("lot %s, an input of a transform of %s, is missing", in, l.Ref())
				}
				frontier = append(frontier, x)
			}
		}
	}
	return lots, nil
}

// EncodeProof writes proof hashes in base64, as checkpoints write roots.
func EncodeProof(p []tlog.Hash) []string {
	out := make([]string, len(p))
	for i, h := range p {
		out[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return out
}

// DecodeProof parses what EncodeProof wrote.
func DecodeProof(p []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(p))
	for i, s := range p {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != tlog.HashSize {
			return nil, fmt.Errorf("proof hash %d is not a base64 SHA-256 hash", i)
		}
		copy(out[i][:], b)
	}
	return out, nil
}

// Failure is one thing that did not hold in a verification or an audit.
// Seq is -1 when the failure concerns no single entry.
type Failure struct {
	Seq  int64  `json:"seq"`
	What string `json:"what"`
}

func (f Failure) String() string {
	if f.Seq < 0 {
		return f.What
	}
	return fmt.Sprintf("entry %d: %s", f.Seq, f.What)
}

// VerifyBundle checks a bundle offline against trusted node keys (note
// verifier keys): the checkpoint is signed by a majority of them; every
// entry is canonical and included in the checkpoint's tree at its seq;
// every signature recovers to its signer; every lot's declared entries are
// present; and replaying the entries in log order through the ledger's own
// rules (Apply) accepts every one — so each harvest was signed by a
// registered producer, each transfer by the holder at that time, each
// receive by the named recipient. It returns the checkpoint and every
// failure found; none means the bundle holds.
func VerifyBundle(b *Bundle, trusted []string) (Checkpoint, []Failure) {
	var fails []Failure
	fail := func(seq int64, format string, args ...any) {
		fails = append(fails, Failure{Seq: seq, What: fmt.Sprintf(format, args...)})
	}
	if b.Format != BundleFormat {
		fail(-1, "unknown bundle format %q", b.Format)
		return Checkpoint{}, fails
	}
	cp, signers, err := OpenCheckpoint([]byte(b.Checkpoint), trusted)
	if err != nil {
		fail(-1, "checkpoint: %v", err)
		return cp, fails
	}
	_ = signers
	entries := make([]*Entry, 0, len(b.Entries))
	present := map[uint64]bool{}
	var last int64 = -1
	for i, be := range b.Entries {
		data, err := Canonicalize(be.Entry)
		if err != nil {
			fail(-1, "bundle entry %d is not JSON: %v", i, err)
			continue
		}
		e, err := ParseEntry(data)
		if err != nil {
			fail(-1, "bundle entry %d: %v", i, err)
			continue
		}
		seq := int64(e.Seq)
		if seq <= last {
			fail(seq, "out of log order (after entry %d)", last)
			continue
		}
		last = seq
		if e.Seq >= cp.Size {
			fail(seq, "beyond the checkpoint's size %d", cp.Size)
			continue
		}
		proof, err := DecodeProof(be.Proof)
		if err == nil {
			err = CheckInclusion(proof, cp.Size, cp.Root, e.Seq, data)
		}
		if err != nil {
			fail(seq, "not included in the checkpoint's tree: %v", err)
			continue
		}
		if e.Type != TypeGenesis {
			if err := e.CheckSignature(); err != nil {
				fail(seq, "%v", err)
				continue
			}
		}
		present[e.Seq] = true
		entries = append(entries, e)
	}
	if len(entries) == 0 || entries[0].Seq != 0 || entries[0].Type != TypeGenesis {
		fail(-1, "the genesis entry is missing")
	} else if data, err := Canonicalize(b.Entries[0].Entry); err != nil || originOf(data) != cp.Origin {
		fail(0, "genesis does not match the checkpoint's origin %q", cp.Origin)
	}
	refs := make([]string, 0, len(b.Lots))
	for ref := range b.Lots {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	for _, ref := range refs {
		for _, s := range b.Lots[ref] {
			if !present[s] {
				fail(int64(s), "listed for lot %s but missing from the bundle", ref)
			}
		}
	}
	// Each lot's history is a chain (Entry.Prev): an entry the bundle
	// covers names the previous entry of each of its lots, and that entry
	// must be here too. Only a lot's newest entries could be left out
	// unseen.
	for _, e := range entries {
		lots := make([]string, 0, len(e.Prev))
		for l := range e.Prev {
			lots = append(lots, l)
		}
		sort.Strings(lots)
		for _, l := range lots {
			// Every lot an included entry names is one whose history
			// the bundle carries; deleting it from Lots hides nothing.
			if !present[e.Prev[l]] {
				fail(int64(e.Seq), "the previous entry of lot %s, entry %d, is missing from the bundle", l, e.Prev[l])
			}
		}
	}
	if _, ok := b.Lots[b.Lot.String()]; !ok {
		fail(-1, "the bundle lists no entries for its own lot %s", b.Lot)
	}
	st, logSeqs, replayFails := replay(entries)
	fails = append(fails, replayFails...)
	_ = st.View(func(r Reader) error {
		if l, err := GetLot(r, b.Lot); err != nil || l == nil {
			fail(-1, "the bundle's entries do not create its own lot %s", b.Lot)
			return nil
		}
		fails = append(fails, checkLotHeads(r, logSeqs, entries, b, cp)...)
		return nil
	})
	return cp, fails
}

// checkLotHeads checks that the bundle holds, for every lot whose history
// it must carry (provenanceLots, computed over the replayed entries r), the
// lot's latest entry at the checkpoint: the head the replay ends at must
// be the head the checkpoint's lot-head map commits to. The replay numbers
// its entries afresh; logSeqs maps its seqs back to the log's. Each check
// costs one hash per level of the lot's path, O(log lots).
func checkLotHeads(r Reader, logSeqs []uint64, entries []*Entry, b *Bundle, cp Checkpoint) []Failure {
	var fails []Failure
	fail := func(format string, args ...any) {
		fails = append(fails, Failure{Seq: -1, What: fmt.Sprintf(format, args...)})
	}
	if !cp.HasLotHeads {
		fail("completeness not proven: the checkpoint commits to no lot heads, so newer entries of these lots (a recall) could be missing")
		return fails
	}
	// The transforms among the bundle's own entries, by every lot they
	// name: the replayed store would have to be scanned for them.
	inputs := map[LotRef][]LotRef{}
	for _, e := range entries {
		if e.Type != TypeTransform {
			continue
		}
		rec, err := DecodeRecord(e.Record)
		if err != nil {
			continue // the replay has reported it
		}
		for _, l := range rec.Lots() {
			for _, in := range rec.Transform.Inputs {
				inputs[l] = append(inputs[l], in.Lot)
			}
		}
	}
	lots, err := provenanceLots(r, b.Lot, func(x LotRef) ([]LotRef, error) { return inputs[x], nil })
	if err != nil {
		fail("cannot walk the bundle's lots: %v", err)
		return fails
	}
	refs := make([]LotRef, 0, len(lots))
	for ref := range lots {
		refs = append(refs, ref)
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].String() < refs[j].String() })
	for _, ref := range refs {
		rs, ok, err := LotHead(r, ref)
		if err != nil || !ok || rs >= uint64(len(logSeqs)) {
			fail("lot %s has no entry in the bundle", ref)
			continue
		}
		have := logSeqs[rs]
		h, ok := b.LotHeads[ref.String()]
		if !ok {
			fail("completeness of lot %s not proven: the bundle has no proof of its latest entry", ref)
			continue
		}
		sibs, err := DecodeProof(h.Proof)
		if err == nil {
			err = CheckLotHead(LotHeadProof{Seq: h.Seq, Siblings: sibs}, cp.LotHeads, ref)
		}
		if err != nil {
			fail("lot %s: the proof of its latest entry does not hold: %v", ref, err)
			continue
		}
		switch {
		case have < h.Seq:
			fail("lot %s: the bundle stops at entry %d, but the lot's latest entry at the checkpoint is entry %d (newer entries, possibly a recall, are missing)", ref, have, h.Seq)
		case have > h.Seq:
			fail("lot %s: the checkpoint's lot heads name entry %d as its latest, older than the bundle's entry %d", ref, h.Seq, have)
		}
	}
	return fails
}

// replay applies entries in order to an empty in-memory ledger, reports
// every entry the rules refuse, and returns the replayed state with, for
// each of its seqs, the seq the entry has in the log.
func replay(entries []*Entry) (*MemStore, []uint64, []Failure) {
	var fails []Failure
	var logSeqs []uint64
	st := NewMemStore()
	for _, e := range entries {
		res, err := ReplayEntry(st, e)
		switch {
		case err != nil:
			fails = append(fails, Failure{Seq: int64(e.Seq), What: fmt.Sprintf("cannot replay: %v", err)})
		case res.Err != nil:
			fails = append(fails, Failure{Seq: int64(e.Seq), What: fmt.Sprintf("%s refused by the ledger's rules: %v", e.Type, res.Err)})
		default:
			logSeqs = append(logSeqs, e.Seq)
		}
	}
	return st, logSeqs, fails
}

// ReplayEntry applies one stored entry to st as the state machine applied
// it: the same command, with the entry's record time. The returned Result
// says whether the rules accept it.
func ReplayEntry(st Store, e *Entry) (Result, error) {
	t, err := time.Parse(time.RFC3339Nano, e.RecordTime)
	if err != nil {
		return Result{}, fmt.Errorf("record_time %q: %w", e.RecordTime, err)
	}
	cmd := &Command{Kind: CmdRecords, Time: t}
	if e.Type == TypeGenesis {
		var g struct {
			Admins []string `json:"admins"`
		}
		if err := json.Unmarshal(e.Record, &g); err != nil {
			return Result{}, fmt.Errorf("genesis record: %w", err)
		}
		cmd.Kind = CmdGenesis
		for _, a := range g.Admins {
			addr, err := ParseAddress(a)
			if err != nil {
				return Result{}, fmt.Errorf("genesis admin: %w", err)
			}
			cmd.Admins = append(cmd.Admins, addr)
		}
	} else {
		sig, err := ParseSignature(e.Signature)
		if err != nil {
			return Result{Err: err}, nil
		}
		signer, err := ParseAddress(e.Signer)
		if err != nil {
			return Result{Err: err}, nil
		}
		// Apply verifies the record and its signature, as on every node.
		cmd.Envelopes = []*Admitted{{Canonical: e.Record, Signature: sig, Signer: signer}}
	}
	var res []Result
	err = st.Update(func(w Writer) (err error) {
		res, err = Apply(w, cmd)
		return err
	})
	if err != nil || len(res) == 0 {
		return Result{}, err
	}
	return res[0], nil
}
