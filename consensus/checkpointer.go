package consensus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"golang.org/x/mod/sumdb/note"

	"github.com/traceledger/traceledger/ledger"
)

// Cosigned checkpoints. Every node holds an Ed25519 note key. The leader,
// whenever the log has grown, proposes a checkpoint (origin, size, root),
// signs it, and asks every other voter to cosign: a voter signs only a root
// it computed itself from its own copy of the log. With signatures from a
// majority of voters, the leader commits the cosigned note through Raft,
// so that every node serves the same latest checkpoint. A checkpoint thus
// proves that a majority of nodes held exactly this log.

// Cosigner asks the node at a peer's node-to-node URL (PeerURL) to cosign a checkpoint
// and returns the note signed by that peer. The api package implements it
// over HTTP; consensus only declares what it needs.
type Cosigner interface {
	Cosign(ctx context.Context, peerURL string, c ledger.Checkpoint) ([]byte, error)
}

// checkpointEvery is how often the leader looks for a grown log. With the
// cosigning round trip it keeps every acknowledged entry under a
// checkpoint within a second.
const checkpointEvery = 200 * time.Millisecond

// ErrNoCheckpointKey: this node was started without a checkpoint key.
var ErrNoCheckpointKey = errors.New("consensus: node has no checkpoint key")

// ErrRootMismatch: asked to cosign a root this node does not have.
var ErrRootMismatch = ledger.ErrCheckpoint.Detail("root or lot heads differ from this node's log")

// Cosign signs a checkpoint if this node's own log of that size has that
// origin, root and lot-head map root. It waits (up to ctx) for the log to reach the size.
func (n *Node) Cosign(ctx context.Context, c ledger.Checkpoint) ([]byte, error) {
	if n.cfg.CheckpointKey == nil {
		return nil, ErrNoCheckpointKey
	}
	for {
		// Take the wake-up channel before reading, so that an entry
		// applied in between is not missed.
		_, ch := n.fsm.Applied()
		var origin string
		var size uint64
		var head ledger.Head
		err := n.store.View(func(r ledger.Reader) error {
			var err error
			if origin, err = ledger.Origin(r); err != nil {
				return err
			}
			if size, err = ledger.Size(r); err != nil || size < c.Size {
				return err
			}
			head, err = ledger.HeadAt(r, c.Size)
			return err
		})
		if err != nil {
			return nil, err
		}
		if size >= c.Size {
			// A checkpoint without the lot-heads line is one of an older
			// leader; it commits to less, and verifiers say so.
			if origin != c.Origin || head.Root != c.Root || (c.HasLotHeads && c.LotHeads != head.LotHeads) {
				return nil, ErrRootMismatch
			}
			return ledger.SignCheckpoint(c, n.cfg.CheckpointKey)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("cosign size %d: this node has %d entries: %w", c.Size, size, ctx.Err())
		}
	}
}

// CheckpointKey returns this node's note verifier key ("" without one).
func (n *Node) CheckpointKey() string { return n.cfg.CheckpointVerifier }

// LatestCheckpoint returns the latest cosigned checkpoint this node holds.
func (n *Node) LatestCheckpoint() (ledger.Checkpoint, []byte, bool, error) {
	var c ledger.Checkpoint
	var msg []byte
	var ok bool
	err := n.store.View(func(r ledger.Reader) (err error) {
		c, msg, ok, err = ledger.LatestCheckpoint(r)
		return err
	})
	return c, msg, ok, err
}

// WaitCheckpoint blocks until a cosigned checkpoint covers the first size
// entries, and returns it.
func (n *Node) WaitCheckpoint(ctx context.Context, size uint64) (ledger.Checkpoint, []byte, error) {
	n.kickCheckpoint()
	for {
		_, ch := n.fsm.Applied()
		c, msg, ok, err := n.LatestCheckpoint()
		if err != nil {
			return c, nil, err
		}
		if ok && c.Size >= size {
			return c, msg, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return c, nil, fmt.Errorf("%w: no checkpoint covers entry %d yet", ErrUnknownOutcome, size-1)
		}
	}
}

func (n *Node) kickCheckpoint() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// runCheckpointer runs on every node for the node's lifetime and acts
// while the node is leader. It stops with ctx.
func (n *Node) runCheckpointer(ctx context.Context) {
	if n.cfg.CheckpointKey == nil || n.cfg.Cosigner == nil {
		return
	}
	// The witnesses' goroutines are the checkpointer's: they stop with
	// ctx, and it returns only after them.
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() { defer wg.Done(); n.runWitnesses(ctx) }()
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.kick:
		}
		if n.raft.State() != raft.Leader {
			continue
		}
		if err := n.checkpointOnce(ctx); err != nil && ctx.Err() == nil {
			n.logger.Debug("checkpoint round", "err", err)
		}
	}
}

func (n *Node) checkpointOnce(ctx context.Context) error {
	var c ledger.Checkpoint
	var latest ledger.Checkpoint
	var have bool
	err := n.store.View(func(r ledger.Reader) error {
		var err error
		if c.Origin, err = ledger.Origin(r); err != nil {
			return err
		}
		h, err := ledger.ReadHead(r)
		if err != nil {
			return err
		}
		c = h.Checkpoint(c.Origin)
		latest, _, have, err = ledger.LatestCheckpoint(r)
		return err
	})
	if err != nil || c.Origin == "" || (have && latest.Size >= c.Size) {
		return err
	}
	own, err := ledger.SignCheckpoint(c, n.cfg.CheckpointKey)
	if err != nil {
		return err
	}
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return err
	}
	var voters []raft.Server
	for _, s := range cf.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters = append(voters, s)
		}
	}
	notes := [][]byte{own}
	var mu sync.Mutex
	var wg sync.WaitGroup
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	for _, s := range voters {
		if string(s.ID) == n.cfg.ID {
			continue
		}
		meta, ok := n.meta(string(s.ID))
		if !ok || meta.Key == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg, err := n.cfg.Cosigner.Cosign(cctx, PeerURL(string(s.Address)), c)
			if err != nil {
				return
			}
			// Keep the cosignature only if it verifies under the key the
			// peer published through the log.
			if _, _, err := ledger.OpenCheckpoint(msg, []string{meta.Key}); err != nil {
				n.logger.Warn("bad cosignature", "peer", s.ID, "err", err)
				return
			}
			mu.Lock()
			notes = append(notes, msg)
			mu.Unlock()
		}()
	}
	wg.Wait()
	merged, err := ledger.MergeCosignatures(notes...)
	if err != nil {
		return err
	}
	// Count distinct valid signatures, not answers: two voters sharing a
	// key (a copied key file) must not make a majority alone.
	keys := []string{n.cfg.CheckpointVerifier}
	for _, s := range voters {
		if m, ok := n.meta(string(s.ID)); ok && m.Key != "" && string(s.ID) != n.cfg.ID {
			keys = append(keys, m.Key)
		}
	}
	if _, names, _ := ledger.OpenCheckpoint(merged, keys); len(names)*2 <= len(voters) {
		return fmt.Errorf("checkpoint %d: %d distinct signatures from %d voters", c.Size, len(names), len(voters))
	}
	if err := mapErr(n.raft.Apply(append([]byte{ledger.CmdCheckpoint}, merged...), 5*time.Second).Error()); err != nil {
		return err
	}
	n.kickWitnesses()
	return nil
}

// NewCheckpointKey generates a note signing key for a node.
func NewCheckpointKey(rand interface{ Read([]byte) (int, error) }, nodeID string) (skey, vkey string, err error) {
	return note.GenerateKey(rand, "traceledger-"+nodeID)
}

// checkpointSummary caches what the consumer pages show of the latest
// checkpoint; verifying its cosignatures on every page would cost more
// than rendering it.
type checkpointSummary struct {
	mu            sync.Mutex // guards the fields below
	size          uint64
	signed, total int
	ok            bool
	// applied and last are the node's applied index and last Raft log
	// index when the summary was made: a checkpoint and a membership
	// change each move one of them.
	applied, last uint64
}

// CheckpointSummary returns the latest cosigned checkpoint's size, how many
// of the cluster's node keys validly signed it, and how many keys there are.
// Every consumer page asks, so while neither the applied index nor the Raft
// log moved it answers from memory, without reading the cluster's status.
func (n *Node) CheckpointSummary() (size uint64, signed, total int, ok bool) {
	applied, last := n.Applied(), n.raft.LastIndex()
	s := &n.cpSummary
	s.mu.Lock()
	if s.ok && s.applied == applied && s.last == last {
		defer s.mu.Unlock()
		return s.size, s.signed, s.total, true
	}
	s.mu.Unlock()
	cp, msg, have, err := n.LatestCheckpoint()
	if err != nil || !have {
		return 0, 0, 0, false
	}
	keys := n.Status().CheckpointKeys()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applied, s.last = applied, last
	if s.ok && s.size == cp.Size && s.total == len(keys) {
		return s.size, s.signed, s.total, true
	}
	_, names, _ := ledger.OpenCheckpoint(msg, keys)
	s.size, s.signed, s.total, s.ok = cp.Size, len(names), len(keys), true
	return s.size, s.signed, s.total, true
}
