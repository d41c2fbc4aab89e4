package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/traceledger/traceledger/consensus"
	"github.com/traceledger/traceledger/ledger"
)

// The clients of other members' node-to-node API: cosigning a checkpoint
// (the checkpointer's) and joining a cluster (a new node's). Both speak to
// the routes this package serves, so they live beside them.

// CosignClient asks peers for cosignatures over HTTP. It implements
// consensus.Cosigner.
type CosignClient struct {
	HTTP *http.Client
}

var _ consensus.Cosigner = CosignClient{}

// Cosign posts a checkpoint to a peer's /v1/checkpoint/cosign.
func (c CosignClient) Cosign(ctx context.Context, peer string, cp ledger.Checkpoint) ([]byte, error) {
	body := cosignRequest{Origin: cp.Origin, Size: cp.Size, Root: b64(cp.Root)}
	if cp.HasLotHeads {
		body.LotHeads = b64(cp.LotHeads)
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, peer+"/v1/checkpoint/cosign", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	msg, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("cosign at %s: %s", peer, resp.Status)
	}
	return msg, nil
}

// JoinClient asks a cluster to add this node. It learns the leader's Raft
// address from any member's public GET /v1/cluster and posts the join on
// the leader's members' channel, where, with peer TLS, this node's
// certificate vouches for its id; the cluster secret, when set, goes
// with it.
type JoinClient struct {
	// Public reaches a member's public API (the --join URL).
	Public *http.Client
	// Peer reaches the members' channel (consensus.Node.PeerClient).
	Peer *http.Client
	// Secret is the cluster secret; empty relies on the certificate.
	Secret string
	Logger *slog.Logger
}

// Join asks the cluster at via to add the member described by req, with
// backoff: the member it asks may still be starting or between leaders.
// It returns once the leader has answered for good, or ctx ends.
func (c JoinClient) Join(ctx context.Context, via string, req JoinRequest) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	delay := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		done, err := c.tryJoin(ctx, via, body)
		if done {
			if err == nil {
				logger.Info("joined cluster", "via", via)
			}
			return err
		}
		logger.Info("join not yet possible; retrying", "via", via, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("join %s: %w", via, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// tryJoin makes one attempt; done is false when it is worth retrying.
func (c JoinClient) tryJoin(ctx context.Context, via string, body []byte) (done bool, err error) {
	leader, err := leaderRaftAddr(ctx, c.Public, via)
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, consensus.PeerURL(leader)+"/v1/cluster/nodes", bytes.NewReader(body))
	if err != nil {
		return true, fmt.Errorf("join %s: %w", via, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Secret != "" {
		req.Header.Set("Authorization", "Bearer "+c.Secret)
	}
	resp, err := c.Peer.Do(req)
	if err != nil {
		return false, fmt.Errorf("reach leader at %s: %w", leader, err)
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusServiceUnavailable:
		return false, fmt.Errorf("%s", resp.Status)
	}
	return true, fmt.Errorf("join %s: %s: %s", via, resp.Status, bytes.TrimSpace(msg))
}

// leaderRaftAddr asks a member's public API for the leader's Raft address.
func leaderRaftAddr(ctx context.Context, c *http.Client, base string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/v1/cluster?local=true", nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s/v1/cluster: %s", base, resp.Status)
	}
	var v ClusterView
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&v); err != nil {
		return "", fmt.Errorf("GET %s/v1/cluster: %w", base, err)
	}
	for _, m := range v.Nodes {
		if m.ID == v.Leader && v.Leader != "" && m.Raft != "" {
			return m.Raft, nil
		}
	}
	return "", fmt.Errorf("%s knows no leader yet", base)
}
