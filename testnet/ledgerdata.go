package testnet

import (
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/traceledger/traceledger/ledger"
)

// FillLedger writes a ledger of size entries into an empty store, straight
// through the ledger's applier (no Raft, no HTTP): the genesis entry naming
// admin, then size-1 participant registrations signed by admin, applied
// in commands of up to 512 envelopes as the committer would pack them.
// Benchmarks and tests of whole-ledger operations (backup, restore,
// audit) use it to get a large ledger in seconds; a node started with
// serve --bootstrap on a data directory whose state it filled serves it.
func FillLedger(store ledger.Store, admin *ecdsa.PrivateKey, size int, now time.Time) error {
	if size < 1 {
		return fmt.Errorf("fill ledger: size %d", size)
	}
	apply := func(c *ledger.Command) error {
		return store.Update(func(w ledger.Writer) error {
			res, err := ledger.Apply(w, c)
			if err != nil {
				return err
			}
			for i, r := range res {
				if r.Err != nil {
					return fmt.Errorf("fill ledger: envelope %d refused: %w", i, r.Err)
				}
			}
			return nil
		})
	}
	if err := apply(&ledger.Command{Kind: ledger.CmdGenesis, Time: now, Admins: []common.Address{ledger.AddressOf(admin)}}); err != nil {
		return err
	}
	signer := ledger.AddressOf(admin).Hex()
	when := now.Format(time.RFC3339)
	const perCommand = 512
	for done := 1; done < size; {
		n := min(perCommand, size-done)
		envs := make([]*ledger.Admitted, 0, n)
		for i := 0; i < n; i++ {
			k, err := crypto.GenerateKey()
			if err != nil {
				return err
			}
			rec, err := json.Marshal(map[string]any{"type": "participant", "id": fmt.Sprintf("fill-%d", done+i),
				"time": when, "signer": signer, "address": ledger.AddressOf(k).Hex(),
				"name": fmt.Sprintf("Hợp tác xã %d", done+i), "roles": []string{"producer"}})
			if err != nil {
				return err
			}
			env, err := ledger.SignEnvelope(admin, rec)
			if err != nil {
				return err
			}
			a, err := ledger.Admit(env, now)
			if err != nil {
				return fmt.Errorf("fill ledger: %w", err)
			}
			envs = append(envs, a)
		}
		if err := apply(&ledger.Command{Kind: ledger.CmdRecords, Time: now, Envelopes: envs}); err != nil {
			return err
		}
		done += n
	}
	return nil
}
