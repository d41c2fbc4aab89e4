// Package apitest provides a fake api.Cluster for tests of HTTP handlers:
// the ledger's own Apply over a ledger.MemStore, no Raft. Handlers cannot
// tell it from a one-member cluster's leader; what Raft adds (replication,
// elections, forwarding, membership) is tested in node and testnet.
package apitest

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"golang.org/x/mod/sumdb/note"

	"github.com/traceledger/traceledger/api"
	"github.com/traceledger/traceledger/consensus"
	"github.com/traceledger/traceledger/ledger"
)

// Cluster is a one-member cluster without Raft: the ledger's own Apply
// over a ledger.MemStore (with the lot-head map in memory, as a node
// keeps it: ledger.LotMapStore), committed in the order Submit is called, with a
// checkpoint signed by the member's key after every write.
//
// Concurrency: mu serialises writes, as the Raft log does; the MemStore
// guards its own reads.
type Cluster struct {
	id    string
	clock func() time.Time
	store *ledger.LotMapStore
	key   note.Signer
	vkey  string

	mu      sync.Mutex
	applied uint64
	members map[string]consensus.Member // joined through the API
}

var _ api.Cluster = (*Cluster)(nil)

// NewCluster writes the genesis entry naming admins, with its checkpoint.
func NewCluster(admins []common.Address) (*Cluster, error) {
	skey, vkey, err := consensus.NewCheckpointKey(rand.Reader, "t1")
	if err != nil {
		return nil, err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, err
	}
	store := ledger.NewLotMapStore(ledger.NewMemStore())
	if err := store.Wait(); err != nil {
		return nil, err
	}
	c := &Cluster{id: "t1", clock: time.Now, store: store, key: signer, vkey: vkey, members: map[string]consensus.Member{}}
	if _, err := c.commit(&ledger.Command{Kind: ledger.CmdGenesis, Time: c.clock().UTC(), Admins: admins}); err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	return c, nil
}

// commit applies cmd and then checkpoints the new head, as the leader's
// FSM and checkpointer do.
func (c *Cluster) commit(cmd *ledger.Command) ([]ledger.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var res []ledger.Result
	err := c.store.Update(func(w ledger.Writer) error {
		var err error
		if res, err = ledger.Apply(w, cmd); err != nil {
			return err
		}
		origin, err := ledger.Origin(w)
		if err != nil {
			return err
		}
		h, err := ledger.ReadHead(w)
		if err != nil {
			return err
		}
		msg, err := ledger.SignCheckpoint(h.Checkpoint(origin), c.key)
		if err != nil {
			return err
		}
		return ledger.PutCheckpoint(w, msg)
	})
	if err != nil {
		return nil, err
	}
	c.applied++
	return res, nil
}

// SubmitEnvelopes admits envs as the API does and commits those admitted;
// an envelope refused at admission comes back with its error.
func (c *Cluster) SubmitEnvelopes(ctx context.Context, envs []ledger.Envelope) ([]ledger.Result, error) {
	results := make([]ledger.Result, len(envs))
	var adm []*ledger.Admitted
	var idx []int
	for i, e := range envs {
		a, err := ledger.Admit(e, time.Time{})
		if err != nil {
			results[i].Err = err
			continue
		}
		adm, idx = append(adm, a), append(idx, i)
	}
	res, err := c.Submit(ctx, adm)
	if err != nil {
		return nil, err
	}
	for k, i := range idx {
		results[i] = res[k]
	}
	return results, nil
}

// Submit commits admitted envelopes, as api.Cluster requires.
func (c *Cluster) Submit(ctx context.Context, envs []*ledger.Admitted) ([]ledger.Result, error) {
	if err := ctx.Err(); err != nil {
		// As a node's committer: nothing is queued for a client that has
		// gone, and the outcome it can no longer learn is unknown.
		return nil, fmt.Errorf("%w: %v", consensus.ErrUnknownOutcome, err)
	}
	return c.commit(&ledger.Command{Kind: ledger.CmdRecords, Time: c.clock().UTC(), Envelopes: envs})
}

func (c *Cluster) Linearize(ctx context.Context) error { return ctx.Err() }
func (c *Cluster) Store() ledger.Store                 { return c.store }
func (c *Cluster) IsLeader() bool                      { return true }
func (c *Cluster) LeaderPeerURL() string               { return "" }

func (c *Cluster) Status() consensus.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := consensus.Status{ID: c.id, State: "Leader", Leader: c.id, Term: 1, Applied: c.applied, Commit: c.applied, LastLog: c.applied,
		Members: []consensus.Member{{ID: c.id, Suffrage: "Voter", Leader: true, CheckpointKey: c.vkey}}}
	for _, m := range c.members {
		st.Members = append(st.Members, m)
	}
	return st
}

// Join lists a voter; nobody is replicated to.
func (c *Cluster) Join(id, raftAddr, httpURL, checkpointKey string) error {
	return c.join(consensus.Member{ID: id, Raft: raftAddr, HTTP: httpURL, CheckpointKey: checkpointKey, Suffrage: "Voter"})
}

// JoinNonvoter lists a read replica, as Join lists a voter.
func (c *Cluster) JoinNonvoter(id, raftAddr, httpURL, checkpointKey string) error {
	return c.join(consensus.Member{ID: id, Raft: raftAddr, HTTP: httpURL, CheckpointKey: checkpointKey, Suffrage: "Nonvoter"})
}

func (c *Cluster) join(m consensus.Member) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.ID == c.id {
		return consensus.ErrMemberConflict
	}
	c.members[m.ID] = m
	return nil
}

func (c *Cluster) Remove(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.members, id)
	return nil
}

// Cosign signs c if it matches the local log, as every member does.
func (c *Cluster) Cosign(ctx context.Context, cp ledger.Checkpoint) ([]byte, error) {
	var ok bool
	err := c.store.View(func(r ledger.Reader) error {
		h, err := ledger.ReadHead(r)
		ok = err == nil && h.Size == cp.Size && h.Root == cp.Root && (!cp.HasLotHeads || h.LotHeads == cp.LotHeads)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, consensus.ErrRootMismatch
	}
	return ledger.SignCheckpoint(cp, c.key)
}

func (c *Cluster) LatestCheckpoint() (cp ledger.Checkpoint, msg []byte, ok bool, err error) {
	err = c.store.View(func(r ledger.Reader) error {
		cp, msg, ok, err = ledger.LatestCheckpoint(r)
		return err
	})
	return cp, msg, ok, err
}

// WaitCheckpoint returns at once: every commit is checkpointed before
// Submit returns.
func (c *Cluster) WaitCheckpoint(ctx context.Context, size uint64) (ledger.Checkpoint, []byte, error) {
	cp, msg, ok, err := c.LatestCheckpoint()
	if err != nil {
		return cp, nil, err
	}
	if !ok || cp.Size < size {
		return cp, nil, fmt.Errorf("no checkpoint covers %d entries", size)
	}
	return cp, msg, nil
}
