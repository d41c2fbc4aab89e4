package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"golang.org/x/mod/sumdb/note"

	"github.com/traceledger/traceledger/ledger"
)

// ErrNotReady: the state holds no ledger yet, or no cosigned checkpoint
// of it; a backup could not be checked, so none is taken.
var ErrNotReady = errors.New("backup: the ledger has no cosigned checkpoint yet")

// Describe reads the header of a backup of snap: origin, tree head,
// applied index, latest cosigned checkpoint and the members' checkpoint
// keys. Taken, Node and Estimate are the caller's to fill in.
func Describe(snap ledger.Snapshot) (Header, error) {
	var h Header
	err := snap.View(func(r ledger.Reader) error {
		var err error
		h, err = describe(r)
		return err
	})
	return h, err
}

func describe(r ledger.Reader) (Header, error) {
	var h Header
	var err error
	if h.Origin, err = ledger.Origin(r); err != nil {
		return h, fmt.Errorf("backup: read origin: %w", err)
	}
	head, err := ledger.ReadHead(r)
	if err != nil {
		return h, fmt.Errorf("backup: read head: %w", err)
	}
	h.Size, h.Root = head.Size, ledger.HashHex(head.Root)
	if h.Applied, err = ledger.AppliedIndex(r); err != nil {
		return h, fmt.Errorf("backup: read applied index: %w", err)
	}
	cp, msg, ok, err := ledger.LatestCheckpoint(r)
	if err != nil {
		return h, fmt.Errorf("backup: read checkpoint: %w", err)
	}
	if h.Origin == "" || !ok {
		return h, ErrNotReady
	}
	h.Checkpoint, h.CheckpointSize = string(msg), cp.Size
	// The members' published metadata (consensus nodeMeta) carries the
	// note verifier key each signs checkpoints with.
	h.Keys = []string{}
	err = r.Scan(ledger.NodeMetaKey(""), nil, func(_, v []byte) bool {
		var m struct {
			Key string `json:"key"`
		}
		if json.Unmarshal(v, &m) == nil && m.Key != "" {
			h.Keys = append(h.Keys, m.Key)
		}
		return true
	})
	if err != nil {
		return h, fmt.Errorf("backup: read node keys: %w", err)
	}
	slices.Sort(h.Keys)
	return h, nil
}

// Write writes a backup of snap, described by h (from Describe), to w.
// It returns the bytes of the snapshot stream written.
func Write(w io.Writer, h Header, snap ledger.Snapshot) (int64, error) {
	bw, err := NewWriter(w, h)
	if err != nil {
		return 0, err
	}
	n, err := snap.WriteTo(bw)
	if err != nil {
		return n, fmt.Errorf("backup: stream the snapshot: %w", err)
	}
	return n, bw.Close()
}

// Restore loads a backup into store, replacing its whole state, and checks
// the result: the data must describe themselves exactly as the header
// does (origin, size, root, applied index, checkpoint, keys) and the
// checkpoint must match the tree at its size. Its signatures are checked
// against trusted, of which a majority must have signed (as verify and
// audit --trust do), or, when trusted is empty, against the keys the
// backup names, of which at least one must have signed and none may have
// signed falsely: those keys come from the same file, so they show that
// the checkpoint is the cluster's own, not that the cluster is the one
// the caller means — that takes trusted keys. (A majority of the named
// keys is not required: a checkpoint signed while the cluster had fewer
// members stays the latest until the ledger grows.) It returns the names
// of the keys that signed.
//
// Any failure returns an error naming it (ErrTruncated, ErrChecksum,
// ErrMismatch, ledger.ErrCheckpoint …), and the caller must discard store.
//
// The restored state is made to start a new Raft log: its applied index
// (m/applied) is reset to 0 and any piecewise progress (m/piece) cleared.
// Both count positions in the old cluster's log; kept, a new cluster's
// state machine would skip its first m/applied entries as already applied
// (consensus FSM) — its own membership and checkpoints among them.
func Restore(store ledger.SnapshotStore, r *Reader, trusted []string) ([]string, error) {
	if err := store.Restore(r); err != nil {
		// The stream is read first and checked last: name the fault of
		// the file when it has one, rather than what it did to the load.
		if _, derr := io.Copy(io.Discard, r); derr != nil {
			return nil, derr
		}
		return nil, fmt.Errorf("%w: the snapshot does not load: %v", ErrMismatch, err)
	}
	// The store stops at the stream's own end; the trailer follows.
	if n, err := io.Copy(io.Discard, r); err != nil {
		return nil, err
	} else if n > 0 {
		return nil, fmt.Errorf("%w: %d bytes follow the end of the snapshot", ErrMismatch, n)
	}
	want := r.Header
	var signers []string
	err := store.Update(func(w ledger.Writer) error {
		got, err := describe(w)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMismatch, err)
		}
		if err := compare(want, got); err != nil {
			return err
		}
		cp, err := checkCheckpoint(w, []byte(want.Checkpoint), got.Size)
		if err != nil {
			return err
		}
		var signed ledger.Checkpoint
		if len(trusted) > 0 {
			signed, signers, err = ledger.OpenCheckpoint([]byte(want.Checkpoint), trusted)
		} else {
			signed, signers, err = openByAny([]byte(want.Checkpoint), want.Keys)
		}
		if err != nil {
			return fmt.Errorf("checkpoint of size %d: %w", cp.Size, err)
		}
		if signed != cp {
			return fmt.Errorf("%w: the signed checkpoint is not the stored one", ErrMismatch)
		}
		if err := ledger.SetAppliedIndex(w, 0); err != nil {
			return err
		}
		return ledger.ClearApplyProgress(w)
	})
	return signers, err
}

// openByAny verifies a checkpoint note signed by at least one of keys,
// every signature by one of them valid (note.Open), and returns it with
// the names of the keys that signed.
func openByAny(msg []byte, keys []string) (ledger.Checkpoint, []string, error) {
	var vs []note.Verifier
	for _, k := range keys {
		v, err := note.NewVerifier(k)
		if err != nil {
			return ledger.Checkpoint{}, nil, ledger.ErrCheckpoint.Detail("node key %q: %v", k, err)
		}
		vs = append(vs, v)
	}
	n, err := note.Open(msg, note.VerifierList(vs...))
	if err != nil {
		return ledger.Checkpoint{}, nil, ledger.ErrCheckpoint.Detail("not signed by the node keys the backup names: %v", err)
	}
	var names []string
	for _, s := range n.Sigs {
		names = append(names, s.Name)
	}
	cp, err := ledger.ParseCheckpoint([]byte(n.Text))
	return cp, names, err
}

// compare reports the first field in which the data differ from the
// header.
func compare(want, got Header) error {
	diff := func(what string, w, g any) error {
		return fmt.Errorf("%w: the header says %s %v, the data hold %v", ErrMismatch, what, w, g)
	}
	switch {
	case want.Origin != got.Origin:
		return diff("origin", want.Origin, got.Origin)
	case want.Size != got.Size:
		return diff("size", want.Size, got.Size)
	case want.Root != got.Root:
		return diff("root", want.Root, got.Root)
	case want.Applied != got.Applied:
		return diff("applied index", want.Applied, got.Applied)
	case want.Checkpoint != got.Checkpoint:
		return fmt.Errorf("%w: the header's checkpoint is not the latest checkpoint in the data", ErrMismatch)
	case want.CheckpointSize != got.CheckpointSize:
		return diff("checkpoint size", want.CheckpointSize, got.CheckpointSize)
	case !slices.Equal(want.Keys, got.Keys):
		return diff("node keys", want.Keys, got.Keys)
	}
	return nil
}

// checkCheckpoint checks that a checkpoint note names the ledger of r and
// the root of r's tree at its size.
func checkCheckpoint(r ledger.Reader, msg []byte, size uint64) (ledger.Checkpoint, error) {
	text, _, ok := ledger.SplitNote(msg)
	if !ok {
		return ledger.Checkpoint{}, fmt.Errorf("%w: the checkpoint is not a signed note", ErrMismatch)
	}
	cp, err := ledger.ParseCheckpoint(text)
	if err != nil {
		return cp, fmt.Errorf("%w: %v", ErrMismatch, err)
	}
	origin, err := ledger.Origin(r)
	if err != nil {
		return cp, err
	}
	if cp.Origin != origin {
		return cp, fmt.Errorf("%w: the checkpoint is of ledger %s, the data of %s", ErrMismatch, cp.Origin, origin)
	}
	if cp.Size > size {
		return cp, fmt.Errorf("%w: the checkpoint has size %d, the data only %d entries", ErrMismatch, cp.Size, size)
	}
	root, err := ledger.TreeHashAt(r, cp.Size)
	if err != nil {
		return cp, fmt.Errorf("%w: tree at size %d: %v", ErrMismatch, cp.Size, err)
	}
	if root != cp.Root {
		return cp, fmt.Errorf("%w: the checkpoint's root at size %d does not match the data", ErrMismatch, cp.Size)
	}
	return cp, nil
}
