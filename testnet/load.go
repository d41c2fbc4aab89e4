package testnet

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/demo"
)

// Load is a set of clients that keep writing signed harvest records to a
// cluster, the way field devices do: each envelope is retried, unchanged,
// until some node answers 201 or 200 — through 503s, dropped connections
// and dead nodes. What was acknowledged is recorded, so that the fault
// tests can check that every acknowledged envelope is in the ledger
// exactly once.
type Load struct {
	urls      func() []string
	producers []*ecdsa.PrivateKey
	client    *http.Client
	next      atomic.Int64
	prefix    string

	mu    sync.Mutex        // guards acked and statuses
	acked map[string]uint64 // lot → seq of its harvest entry
	// statuses counts the answers seen, e.g. 201, 503, or 0 for a network error.
	statuses map[int]int
}

// NewLoad registers producers through the admin key (via any of urls) and
// returns a load ready to run. urls is called for every request, so the
// caller may change the set of nodes while the load runs.
func NewLoad(ctx context.Context, urls func() []string, admin *ecdsa.PrivateKey, producers int, prefix string) (*Load, error) {
	l := &Load{urls: urls, client: &http.Client{Timeout: 3 * time.Second}, prefix: prefix,
		acked: map[string]uint64{}, statuses: map[int]int{}}
	var regs []ledger.Envelope
	for i := 0; i < producers; i++ {
		k, err := crypto.GenerateKey()
		if err != nil {
			return nil, err
		}
		l.producers = append(l.producers, k)
		env, err := demo.SignRecord(admin, map[string]any{"type": "participant", "id": fmt.Sprintf("%s-producer-%d", prefix, i),
			"time": "2026-06-01T07:00:00+07:00", "signer": ledger.AddressOf(admin).Hex(),
			"address": ledger.AddressOf(k).Hex(), "name": fmt.Sprintf("HTX thử tải %d", i), "roles": []string{"producer"}})
		if err != nil {
			return nil, err
		}
		regs = append(regs, env)
	}
	for _, e := range regs {
		if _, err := l.send(ctx, e); err != nil {
			return nil, fmt.Errorf("register load producers: %w", err)
		}
	}
	return l, nil
}

// Run writes with workers goroutines until ctx ends. Run returns when they
// have all stopped; an envelope whose outcome was still unknown then is
// returned, so that the caller can settle it (Settle) once the cluster is
// healthy again.
func (l *Load) Run(ctx context.Context, workers int) []ledger.Envelope {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var unsettled []ledger.Envelope
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for ctx.Err() == nil {
				env := l.harvest(w)
				if _, err := l.send(ctx, env); err != nil {
					mu.Lock()
					unsettled = append(unsettled, env)
					mu.Unlock()
					return
				}
			}
		}(w)
	}
	wg.Wait()
	return unsettled
}

// Write writes one new record, retrying until it is acknowledged.
func (l *Load) Write(ctx context.Context) error {
	_, err := l.send(ctx, l.harvest(0))
	return err
}

// Settle retries envelopes until each is acknowledged.
func (l *Load) Settle(ctx context.Context, envs []ledger.Envelope) error {
	for _, e := range envs {
		if _, err := l.send(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

func (l *Load) harvest(w int) ledger.Envelope {
	i := l.next.Add(1)
	p := l.producers[w%len(l.producers)]
	lot := l.prefix + strconv.FormatInt(i, 36)
	env, err := demo.SignRecord(p, map[string]any{"type": "harvest", "id": "h-" + lot, "time": "2026-06-01T08:00:00+07:00",
		"signer": ledger.AddressOf(p).Hex(), "lot": map[string]string{"gtin": "08936000000127", "lot": lot},
		"product": map[string]string{"name": "Mật ong bạc hà"}, "quantity": map[string]any{"amount": 5, "unit": "KGM"},
		"place": map[string]string{"name": "Mèo Vạc, Hà Giang"}})
	if err != nil {
		panic(err) // our own records are always valid
	}
	return env
}

// send posts env to random nodes until it is acknowledged or ctx ends.
func (l *Load) send(ctx context.Context, env ledger.Envelope) (uint64, error) {
	body, _ := json.Marshal(env)
	delay := 20 * time.Millisecond
	for {
		urls := l.urls()
		if len(urls) > 0 {
			u := urls[rand.IntN(len(urls))]
			status, seq := l.post(ctx, u, body)
			l.mu.Lock()
			l.statuses[status]++
			l.mu.Unlock()
			switch status {
			case http.StatusCreated, http.StatusOK:
				var rec struct {
					Lot ledger.LotRef `json:"lot"`
				}
				json.Unmarshal(env.Record, &rec)
				if rec.Lot.Lot != "" {
					l.mu.Lock()
					l.acked[rec.Lot.Lot] = seq
					l.mu.Unlock()
				}
				return seq, nil
			case 0, http.StatusServiceUnavailable, http.StatusTooManyRequests:
			default:
				return 0, fmt.Errorf("envelope refused with %d", status)
			}
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 200*time.Millisecond)
	}
}

func (l *Load) post(ctx context.Context, url string, body []byte) (int, uint64) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/records", bytes.NewReader(body))
	if err != nil {
		return 0, 0
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var ans struct {
		Seq uint64 `json:"seq"`
	}
	json.Unmarshal(b, &ans)
	return resp.StatusCode, ans.Seq
}

// Acked returns the acknowledged lots and the seq of each one's harvest.
func (l *Load) Acked() map[string]uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]uint64, len(l.acked))
	for k, v := range l.acked {
		out[k] = v
	}
	return out
}

// Statuses returns how many answers of each status the load saw (0: a
// network error).
func (l *Load) Statuses() map[int]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int]int{}
	for k, v := range l.statuses {
		out[k] = v
	}
	return out
}

// CheckLedger reads every entry of the ledger at url and checks the
// invariants the fault tests rely on: entries are numbered 0..size-1 and
// hash to what the API reports; every signature recovers to its signer;
// no (signer, id) appears twice; and every acknowledged lot's harvest is
// present exactly once, at the acknowledged seq.
func CheckLedger(ctx context.Context, url string, acked map[string]uint64) error {
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(path string, v any) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}
	var view NodeView
	if err := get("/v1/cluster?local=true", &view); err != nil {
		return err
	}
	type key struct {
		signer common.Address
		id     string
	}
	seen := map[key]uint64{}
	harvests := map[string][]uint64{}
	for seq := uint64(0); seq < view.Size; seq++ {
		var e struct {
			Seq       uint64          `json:"seq"`
			Type      string          `json:"type"`
			Signer    string          `json:"signer"`
			Record    json.RawMessage `json:"record"`
			Signature string          `json:"signature"`
		}
		if err := get(fmt.Sprintf("/v1/entries/%d", seq), &e); err != nil {
			return err
		}
		if e.Seq != seq {
			return fmt.Errorf("entry %d reports seq %d", seq, e.Seq)
		}
		if e.Type == ledger.TypeGenesis {
			continue
		}
		le := &ledger.Entry{Type: e.Type, Signer: e.Signer, Record: e.Record, Signature: e.Signature}
		if err := le.CheckSignature(); err != nil {
			return fmt.Errorf("entry %d: %w", seq, err)
		}
		signer := common.HexToAddress(e.Signer)
		rec, err := ledger.DecodeRecord(e.Record)
		if err != nil {
			return fmt.Errorf("entry %d: %w", seq, err)
		}
		k := key{signer, rec.ID}
		if prev, dup := seen[k]; dup {
			return fmt.Errorf("entries %d and %d are both %s/%s", prev, seq, signer.Hex(), rec.ID)
		}
		seen[k] = seq
		if rec.Harvest != nil {
			harvests[rec.Harvest.Lot.Lot] = append(harvests[rec.Harvest.Lot.Lot], seq)
		}
	}
	for lot, seq := range acked {
		got := harvests[lot]
		if len(got) != 1 || got[0] != seq {
			return fmt.Errorf("acknowledged lot %s at seq %d: ledger holds it at %v", lot, seq, got)
		}
	}
	return nil
}
