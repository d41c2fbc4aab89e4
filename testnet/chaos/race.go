package chaos

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/demo"
	"github.com/traceledger/traceledger/testnet"
)

// RaceResult tells how the racing transfers of RaceTransfers ended.
type RaceResult struct {
	Rounds int
	// Losers counts the losing transfers' refusal codes.
	Losers map[string]int
}

// RaceTransfers races two transfers of one lot, from its holder to two
// different recipients, each sent through a different node at once, for
// rounds lots; half the rounds name the harvest in "after". In every round
// exactly one transfer must be acknowledged and the other refused with 409,
// and a linearizable read must find the lot in transit to the winner's
// recipient. It returns an error naming the first round where that did
// not hold.
func RaceTransfers(ctx context.Context, c *testnet.Procs, rounds int, seed uint64) (RaceResult, error) {
	res := RaceResult{Losers: map[string]int{}}
	if len(c.Nodes) < 2 {
		return res, fmt.Errorf("racing through two nodes needs two nodes, not %d", len(c.Nodes))
	}
	keys, err := actorKeys(seed, 3)
	if err != nil {
		return res, err
	}
	urls := nodeURLs(c)
	w := newWorkload(urls, keys)
	if err := w.register(ctx, c.Admin); err != nil {
		return res, err
	}
	holder := keys[0]
	for round := 0; round < rounds; round++ {
		lot := fmt.Sprintf("RACE%d-%d", seed%1000, round)
		harvest, err := demo.SignRecord(holder, map[string]any{"type": "harvest", "id": "h-" + lot, "signer": ledger.AddressOf(holder).Hex(),
			"time": "2026-06-02T08:00:00+07:00", "lot": lotRef(lot), "product": map[string]string{"name": "Chè Shan tuyết"},
			"quantity": map[string]any{"amount": 10, "unit": "KGM"}, "place": map[string]string{"name": "Hoàng Su Phì, Hà Giang"}})
		if err != nil {
			return res, err
		}
		if status, code := w.sendTo(ctx, urls[round%len(urls)], harvest); status != http.StatusCreated {
			return res, fmt.Errorf("round %d: harvest answered %d %s", round, status, code)
		}
		var envs [2]ledger.Envelope
		for i, to := range keys[1:] {
			rec := map[string]any{"type": "transfer", "id": fmt.Sprintf("t%d-%s", i, lot), "signer": ledger.AddressOf(holder).Hex(),
				"time": "2026-06-02T09:00:00+07:00", "lot": lotRef(lot), "to": ledger.AddressOf(to).Hex()}
			if round%2 == 1 {
				rec["after"] = ledger.RecordDigest(harvest.Record)
			}
			if envs[i], err = demo.SignRecord(holder, rec); err != nil {
				return res, err
			}
		}
		// Two different nodes: a follower forwards to the leader, the
		// leader's own admission races it.
		a, b := round%len(urls), (round+1)%len(urls)
		var status [2]int
		var code [2]string
		var wg sync.WaitGroup
		for i, u := range []string{urls[a], urls[b]} {
			wg.Add(1)
			go func() { defer wg.Done(); status[i], code[i] = w.sendTo(ctx, u, envs[i]) }()
		}
		wg.Wait()
		won := -1
		for i := range status {
			switch {
			case status[i] == http.StatusCreated && won < 0:
				won = i
			case status[i] == http.StatusCreated:
				return res, fmt.Errorf("round %d (%s): both transfers acknowledged", round, lot)
			case status[i] == http.StatusConflict:
				res.Losers[code[i]]++
			default:
				return res, fmt.Errorf("round %d (%s): a transfer answered %d %s", round, lot, status[i], code[i])
			}
		}
		if won < 0 {
			return res, fmt.Errorf("round %d (%s): both transfers refused (%s, %s)", round, lot, code[0], code[1])
		}
		st, ans := w.getLot(ctx, urls[b], lot, 0)
		want := strings.ToLower(ledger.AddressOf(keys[1+won]).Hex())
		if st != http.StatusOK || ans.Lot == nil || strings.ToLower(ans.Lot.InTransitTo) != want {
			return res, fmt.Errorf("round %d (%s): the winner sent it to %s, a linearizable read answers %d %+v", round, lot, want, st, ans.Lot)
		}
		res.Rounds++
	}
	return res, nil
}

// sendTo sends env to one node, resending it there on 503, 429 or no
// answer, and returns the definite answer's status and error code.
func (w *workload) sendTo(ctx context.Context, base string, env ledger.Envelope) (int, string) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, ans := w.post(ctx, base, env)
		if status != 0 && status != http.StatusServiceUnavailable && status != http.StatusTooManyRequests {
			return status, ans.Error.Code
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return status, "no definite answer within 30 s"
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}
