package chaos

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/traceledger/traceledger/ledger"
)

// nodeLog is one node's whole log, read from its C2SP tiles (/log/) and
// checked against its latest cosigned checkpoint.
type nodeLog struct {
	ID      string
	Size    uint64
	Root    tlog.Hash
	Entries [][]byte
	hashes  memHashes
	Err     error // the log could not be read or does not match its checkpoint
}

// memHashes holds a tree's stored hashes (tlog.StoredHashIndex order) in
// memory.
type memHashes []tlog.Hash

func (h memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(h)) {
			return nil, fmt.Errorf("stored hash %d of %d", x, len(h))
		}
		out[i] = h[x]
	}
	return out, nil
}

// treeHash is the root of the first n entries.
func (l *nodeLog) treeHash(n uint64) (tlog.Hash, error) { return tlog.TreeHash(int64(n), l.hashes) }

// fetchLog reads a node's log from its tiles: the checkpoint (which must
// be signed by a majority of keys), then every entry bundle up to its
// size; the entries must hash to the checkpoint's root.
func fetchLog(ctx context.Context, hc *http.Client, id, base string, keys []string) *nodeLog {
	l := &nodeLog{ID: id}
	get := func(path string) ([]byte, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return nil, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return b, err
	}
	msg, err := get("/log/checkpoint")
	if err != nil {
		l.Err = err
		return l
	}
	cp, _, err := ledger.OpenCheckpoint(msg, keys)
	if err != nil {
		l.Err = fmt.Errorf("checkpoint: %w", err)
		return l
	}
	l.Size = cp.Size
	for start := uint64(0); start < cp.Size; start += 1 << ledger.TileHeight {
		w := min(cp.Size-start, 1<<ledger.TileHeight)
		tile := tlog.Tile{H: ledger.TileHeight, L: -1, N: int64(start >> ledger.TileHeight), W: int(w)}
		b, err := get("/log/" + ledger.TilePath(tile))
		if err != nil {
			l.Err = err
			return l
		}
		for i := uint64(0); i < w; i++ {
			if len(b) < 2 || len(b) < 2+int(binary.BigEndian.Uint16(b)) {
				l.Err = fmt.Errorf("entry bundle %s is truncated", ledger.TilePath(tile))
				return l
			}
			data := b[2 : 2+int(binary.BigEndian.Uint16(b))]
			b = b[2+len(data):]
			hs, err := tlog.StoredHashes(int64(len(l.Entries)), data, l.hashes)
			if err != nil {
				l.Err = err
				return l
			}
			l.hashes = append(l.hashes, hs...)
			l.Entries = append(l.Entries, data)
		}
	}
	if l.Root, err = l.treeHash(l.Size); err != nil {
		l.Err = err
	} else if l.Root != cp.Root {
		l.Err = fmt.Errorf("its %d entries do not hash to its checkpoint's root", cp.Size)
	}
	return l
}

// checkDivergence compares the nodes' logs. The reference is the log
// most nodes hold; a node with another log is divergent unless its log
// is a prefix of the reference (then it lags, which convergence reports).
func (r *Report) checkDivergence(logs []*nodeLog) *nodeLog {
	count := map[string]int{}
	var ref *nodeLog
	for _, l := range logs {
		if l.Err != nil {
			continue
		}
		k := fmt.Sprintf("%d/%x", l.Size, l.Root)
		if count[k]++; ref == nil || count[k] > count[fmt.Sprintf("%d/%x", ref.Size, ref.Root)] {
			ref = l
		}
	}
	for _, l := range logs {
		switch {
		case l.Err != nil:
			r.Divergent = append(r.Divergent, fmt.Sprintf("%s: %v", l.ID, l.Err))
		case l.Size == ref.Size && l.Root == ref.Root:
		case l.Size < ref.Size:
			if h, err := ref.treeHash(l.Size); err != nil || h != l.Root {
				r.Divergent = append(r.Divergent, fmt.Sprintf("%s: its log of %d entries is not a prefix of %s's", l.ID, l.Size, ref.ID))
			} else {
				r.Errors = append(r.Errors, fmt.Sprintf("%s lags: %d entries of %d", l.ID, l.Size, ref.Size))
			}
		default:
			r.Divergent = append(r.Divergent, fmt.Sprintf("%s: %d entries, root %x; %s: %d entries, root %x", l.ID, l.Size, l.Root[:6], ref.ID, ref.Size, ref.Root[:6]))
		}
	}
	return ref
}

// logIndex locates records in a log: by key (signer/id) and by signature.
type logIndex struct {
	byKey map[string][]uint64
	bySig map[string][]uint64
}

func indexLog(l *nodeLog) (logIndex, error) {
	ix := logIndex{byKey: map[string][]uint64{}, bySig: map[string][]uint64{}}
	for seq, data := range l.Entries {
		e, err := ledger.ParseEntry(data)
		if err != nil {
			return ix, fmt.Errorf("entry %d: %w", seq, err)
		}
		if e.Type == ledger.TypeGenesis {
			continue
		}
		var h ledger.Header
		if err := json.Unmarshal(e.Record, &h); err != nil {
			return ix, fmt.Errorf("entry %d: %w", seq, err)
		}
		k := key(e.Signer, h.ID)
		ix.byKey[k] = append(ix.byKey[k], uint64(seq))
		ix.bySig[strings.ToLower(e.Signature)] = append(ix.bySig[strings.ToLower(e.Signature)], uint64(seq))
	}
	return ix, nil
}

// checkEnvelopes checks every envelope the clients sent against the log:
// an acknowledged one is there once, at the acknowledged seq; a refused
// one is not there; no record or signature is there twice. Unknown
// outcomes are resolved: an envelope in the log was applied (when, the
// checker does not know), one not in it never was.
func (r *Report) checkEnvelopes(history []*op, ix logIndex) {
	for k, seqs := range ix.byKey {
		if len(seqs) > 1 {
			r.Duplicated = append(r.Duplicated, fmt.Sprintf("%s at entries %v", k, seqs))
		}
	}
	for sig, seqs := range ix.bySig {
		if len(seqs) > 1 {
			r.Duplicated = append(r.Duplicated, fmt.Sprintf("signature %s… at entries %v", sig[:12], seqs))
		}
	}
	for _, o := range history {
		if o.Env == nil {
			continue
		}
		seqs := ix.byKey[o.In.Key]
		switch o.Out.Outcome {
		case outAcked:
			if len(seqs) == 0 {
				r.Lost = append(r.Lost, fmt.Sprintf("%s %s acknowledged at entry %d, not in the log", o.Kind, o.In.Key, o.Seq))
			} else if seqs[0] != o.Seq {
				r.Lost = append(r.Lost, fmt.Sprintf("%s %s acknowledged at entry %d, in the log at %v", o.Kind, o.In.Key, o.Seq, seqs))
			}
		case outRefused:
			if len(seqs) > 0 {
				r.RefusedApplied = append(r.RefusedApplied, fmt.Sprintf("%s %s refused (%s), in the log at %v", o.Kind, o.In.Key, o.Out.Code, seqs))
			}
		case outUnknown:
			if len(seqs) > 0 {
				o.resolved, o.Seq = resolvedApplied, seqs[0]
			} else {
				o.resolved = resolvedNotApplied
			}
		}
	}
	sort.Strings(r.Duplicated)
	r.checkRealTimeOrder(history)
}

// checkRealTimeOrder checks the log against real time, across all lots:
// a write acknowledged before another write was sent must come before it
// in the log. A write applied at an unknown time is checked against the
// writes acknowledged before it was sent.
func (r *Report) checkRealTimeOrder(history []*op) {
	var applied, acked []*op
	for _, o := range history {
		switch {
		case o.Env == nil:
		case o.Out.Outcome == outAcked:
			applied, acked = append(applied, o), append(acked, o)
		case o.resolved == resolvedApplied:
			applied = append(applied, o)
		}
	}
	sort.Slice(applied, func(i, j int) bool { return applied[i].Call < applied[j].Call })
	sort.Slice(acked, func(i, j int) bool { return acked[i].Return < acked[j].Return })
	var latest *op // of the writes acknowledged so far, the one latest in the log
	k := 0
	for _, o := range applied {
		for ; k < len(acked) && acked[k].Return < o.Call; k++ {
			if latest == nil || acked[k].Seq > latest.Seq {
				latest = acked[k]
			}
		}
		if latest != nil && o.Seq < latest.Seq {
			r.OutOfOrder = append(r.OutOfOrder, fmt.Sprintf("%s %s sent at %s is entry %d, before %s %s acknowledged at %s as entry %d",
				o.Kind, o.In.Key, o.Call.Round(time.Millisecond), o.Seq, latest.Kind, latest.In.Key, latest.Return.Round(time.Millisecond), latest.Seq))
		}
	}
}

// checkCheckpoints checks every checkpoint clients were served: signed by
// a majority of the node keys, its root that of the final log at its size
// (anything else is a fork: two logs with one size and two roots), and no
// node serving one smaller than it served before (a rollback).
//
// A checkpoint of no more than joined entries (the log when the last node
// had joined) may predate members whose keys now count; one valid
// signature of a member suffices for it, as when the first node was
// alone.
func (r *Report) checkCheckpoints(seen []seenCheckpoint, keys []string, joined uint64, ref *nodeLog) {
	r.CheckpointsSeen = len(seen)
	largest := map[int]uint64{}
	for _, s := range seen {
		cp, _, err := ledger.OpenCheckpoint(s.Note, keys)
		if err != nil {
			if c, ok := signedByOne(s.Note, keys); ok && c.Size <= joined {
				cp, err = c, nil
			}
		}
		if err != nil {
			r.Forks = append(r.Forks, fmt.Sprintf("%s at %s: %v", s.Node, s.At.Round(time.Millisecond), err))
			continue
		}
		if ref != nil {
			if cp.Size > ref.Size {
				r.Forks = append(r.Forks, fmt.Sprintf("%s at %s: checkpoint of size %d, beyond the final log of %d", s.Node, s.At.Round(time.Millisecond), cp.Size, ref.Size))
			} else if h, err := ref.treeHash(cp.Size); err != nil || h != cp.Root {
				r.Forks = append(r.Forks, fmt.Sprintf("%s at %s: checkpoint of size %d is not the final log's tree of that size", s.Node, s.At.Round(time.Millisecond), cp.Size))
			}
		}
		if cp.Size < largest[s.Index] {
			r.Rollbacks = append(r.Rollbacks, fmt.Sprintf("%s at %s: checkpoint of size %d after one of %d", s.Node, s.At.Round(time.Millisecond), cp.Size, largest[s.Index]))
		}
		largest[s.Index] = max(largest[s.Index], cp.Size)
	}
}

// signedByOne opens a checkpoint validly signed by at least one of keys.
func signedByOne(msg []byte, keys []string) (ledger.Checkpoint, bool) {
	for _, k := range keys {
		if cp, _, err := ledger.OpenCheckpoint(msg, []string{k}); err == nil {
			return cp, true
		}
	}
	return ledger.Checkpoint{}, false
}

// lotHistories projects the history onto lots, as porcupine operations.
// An operation whose outcome stays unknown, or was applied at a time
// unknown, returns at infinity: it may linearize anywhere after its call.
func lotHistories(history []*op) map[string][]porcupine.Operation {
	lots := map[string][]porcupine.Operation{}
	add := func(lot string, o *op, in lotInput) {
		out, ret := o.Out, int64(o.Return)
		switch o.resolved {
		case resolvedApplied:
			out, ret = lotOutput{Outcome: outAcked}, math.MaxInt64
		case resolvedNotApplied:
			return // never happened
		}
		if out.Outcome == outUnknown {
			ret = math.MaxInt64
		}
		lots[lot] = append(lots[lot], porcupine.Operation{ClientId: o.Client, Input: in, Call: int64(o.Call), Output: out, Return: ret})
	}
	for _, o := range history {
		add(o.Lot, o, o.In)
		if o.Kind == "transform" {
			in := o.In
			in.Op = opMake
			add(o.Output, o, in)
		}
	}
	return lots
}

// checkLinearizable checks each lot's history against the custody model.
func (r *Report) checkLinearizable(history []*op, timeout time.Duration) {
	lots := lotHistories(history)
	names := make([]string, 0, len(lots))
	for lot := range lots {
		names = append(names, lot)
	}
	sort.Strings(names)
	r.LotsChecked = len(names)
	for _, lot := range names {
		ops := lots[lot]
		switch res := porcupine.CheckOperationsTimeout(custodyModel, ops, timeout); res {
		case porcupine.Ok:
		case porcupine.Illegal:
			r.NonLinearizable = append(r.NonLinearizable, fmt.Sprintf("%s (%d operations): %s", lot, len(ops), describe(ops)))
		default:
			r.Errors = append(r.Errors, fmt.Sprintf("lot %s: linearizability not decided within %s (%d operations)", lot, timeout, len(ops)))
		}
	}
}

// describe lists a lot's operations in call order, for a report.
func describe(ops []porcupine.Operation) string {
	sorted := append([]porcupine.Operation(nil), ops...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Call < sorted[j].Call })
	var b bytes.Buffer
	for i, o := range sorted {
		if i == 12 {
			fmt.Fprintf(&b, "; … %d more", len(sorted)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		ret := "∞"
		if o.Return != math.MaxInt64 {
			ret = time.Duration(o.Return).Round(time.Millisecond).String()
		}
		fmt.Fprintf(&b, "[%s–%s] %s", time.Duration(o.Call).Round(time.Millisecond), ret, custodyModel.DescribeOperation(o.Input, o.Output))
	}
	return b.String()
}
