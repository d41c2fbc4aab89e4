package ledger_test

import (
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/badgerkv"
)

// Benchmarks of verifiability (figures, not assertions):
//
//	go test -run '^$' -bench 'InclusionProof|Bundle' -benchtime 2000x ./ledger/
//
// BenchmarkInclusionProof1M builds a ledger of 1 000 000 entries on disk
// first (about a minute): admin-signed registrations with a dummy
// signature, marked as verified (Preverify) to keep the build quick. Only
// proof generation is timed.

func BenchmarkInclusionProof1M(b *testing.B) {
	const size = 1_000_000
	dir := os.Getenv("TRACELEDGER_BENCH_DIR") // reuse a built ledger across runs
	if dir == "" {
		dir = b.TempDir()
	}
	db, err := badgerkv.Open(badgerkv.Options{Dir: filepath.Join(dir, "state")})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var have uint64
	db.View(func(r ledger.Reader) (err error) { have, err = ledger.Size(r); return err })
	if have < size {
		start := time.Now()
		buildLedger(b, db, size)
		b.Logf("built %d entries in %v", size, time.Since(start))
	}
	b.ResetTimer()
	var proofLen int
	for i := 0; i < b.N; i++ {
		seq := uint64(i*7919) % size
		err := db.View(func(r ledger.Reader) error {
			p, err := ledger.ProveInclusion(r, size, seq)
			proofLen = len(p)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(proofLen), "hashes/proof")
}

// buildLedger appends admin-signed registrations until the ledger holds n
// entries.
func buildLedger(b *testing.B, db *badgerkv.DB, n int) {
	admin := common.HexToAddress("0x00000000000000000000000000000000000000aa")
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	db.Update(func(w ledger.Writer) error {
		_, err := ledger.Apply(w, &ledger.Command{Kind: ledger.CmdGenesis, Time: t0, Admins: []common.Address{admin}})
		return err
	})
	sig := make([]byte, ledger.SignatureLen)
	for next := 1; next < n; {
		cmd := &ledger.Command{Kind: ledger.CmdRecords, Time: t0}
		for k := 0; k < 500 && next < n; k, next = k+1, next+1 {
			rec := fmt.Sprintf(`{"address":"0x1%039x","id":"r%d","name":"HTX %d","roles":["producer"],"signer":"%s","time":"2026-06-01T00:00:00Z","type":"participant"}`,
				next, next, next, admin.Hex())
			env := &ledger.Admitted{Canonical: []byte(rec), Signature: sig, Signer: admin}
			if err := ledger.Preverify(env); err != nil {
				b.Fatal(err)
			}
			cmd.Envelopes = append(cmd.Envelopes, env)
		}
		err := db.Update(func(w ledger.Writer) error {
			res, err := ledger.Apply(w, cmd)
			if err == nil && res[0].Err != nil {
				err = res[0].Err
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBundle10Steps measures building and verifying the provenance
// bundle of a lot with a 10-step history through one transform: harvest,
// inspection, hand-over (2), transform, recall of the input, and four
// inspections of the output (a recalled lot no longer moves).
//
//	go test -run '^$' -bench Bundle10Steps -benchtime 200x ./ledger/
func BenchmarkBundle10Steps(b *testing.B) {
	h := newProvHistory(b)
	f := h.fixture
	for range 4 {
		f.must(f.inspector, inspectRec("D2", "pass"))
	}
	var head ledger.Head
	var origin string
	f.view(func(r ledger.Reader) (err error) {
		if head, err = ledger.ReadHead(r); err != nil {
			return err
		}
		origin, err = ledger.Origin(r)
		return err
	})
	cp := head.Checkpoint(origin)
	msg := cosign(b, cp, h.nodes...)
	var bundle *ledger.Bundle
	build := func() {
		f.view(func(r ledger.Reader) (err error) {
			bundle, err = ledger.BuildBundle(r, ref("D2"), cp, msg, h.trusted())
			return err
		})
	}
	build()
	data, _ := json.Marshal(bundle)
	b.Run("build", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			build()
		}
	})
	b.Run("verify", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var bb ledger.Bundle
			if err := json.Unmarshal(data, &bb); err != nil {
				b.Fatal(err)
			}
			if _, fails := ledger.VerifyBundle(&bb, h.trusted()); len(fails) > 0 {
				b.Fatal(fails)
			}
		}
		b.ReportMetric(float64(len(data)), "bundle-bytes")
		b.ReportMetric(float64(len(bundle.Entries)), "entries")
	})
	// The same bundle as it was before lot heads: no lot_heads, and a
	// checkpoint without the lot-heads line. It verifies everything else
	// and fails only for the completeness it cannot show.
	old := *bundle
	old.LotHeads = nil
	oldCP := cp
	oldCP.HasLotHeads = false
	old.Checkpoint = string(cosign(b, oldCP, h.nodes...))
	oldData, _ := json.Marshal(&old)
	b.Run("verify-without-lot-heads", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var bb ledger.Bundle
			if err := json.Unmarshal(oldData, &bb); err != nil {
				b.Fatal(err)
			}
			if _, fails := ledger.VerifyBundle(&bb, h.trusted()); len(fails) != 1 {
				b.Fatal(fails)
			}
		}
		b.ReportMetric(float64(len(oldData)), "bundle-bytes")
		b.ReportMetric(float64(len(old.Entries)), "entries")
	})
}

// BenchmarkApplyVerifies measures what every node pays per record it did
// not admit itself: strict decoding, the canonical-form check, signature
// recovery (on all cores) and the rules, in commands of 500 envelopes.
//
//	go test -run '^$' -bench 'Apply(Verifies|Adopted)' -benchtime 20000x ./ledger/
func BenchmarkApplyVerifies(b *testing.B) { benchmarkApply(b, false) }

// BenchmarkApplyAdopted measures what the leader pays per record it
// admitted itself, in the same process: the log's bytes are decoded again,
// but each envelope adopts its admission's verdict (consensus keeps them in
// its decoded-record cache), so no signature is recovered twice. The
// difference from BenchmarkApplyVerifies is what that cache saves the
// leader, whose CPU bounds the cluster's ingest.
func BenchmarkApplyAdopted(b *testing.B) { benchmarkApply(b, true) }

func benchmarkApply(b *testing.B, adopt bool) {
	admin, err := crypto.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	db, err := badgerkv.Open(badgerkv.Options{InMemory: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	mustApply(b, db, &ledger.Command{Kind: ledger.CmdGenesis, Time: benchT0, Admins: []common.Address{ledger.AddressOf(admin)}})
	applyCommands(b, db, 500, adopt, func(i int) (*ecdsa.PrivateKey, string) {
		return admin, fmt.Sprintf(`{"address":"0x1%039x","id":"r%d","name":"HTX %d","roles":["producer"],"signer":"%s","time":"2026-06-01T00:00:00Z","type":"participant"}`,
			i, i, i, ledger.AddressOf(admin).Hex())
	})
}

// BenchmarkApplyHarvests measures what the leader's state machine and its
// store pay per harvest of a new lot, in commands of 100 adopted
// envelopes as bench ingest sends them, on the store a node opens: Badger
// on disk with the record-id filter, under the lot-head map. cpu-ns/op is
// the process's CPU over the timed loop, Badger's flushes and the
// collector included; a node under ingest is bound by it.
//
//	go test -run '^$' -bench ApplyHarvests -benchtime 40000x ./ledger/
func BenchmarkApplyHarvests(b *testing.B) {
	admin, err := crypto.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	db, err := badgerkv.Open(badgerkv.Options{Dir: b.TempDir(), MissFilter: ledger.MissPrefixes()})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	st := ledger.NewLotMapStore(db)
	if err := st.Wait(); err != nil {
		b.Fatal(err)
	}
	mustApply(b, st, &ledger.Command{Kind: ledger.CmdGenesis, Time: benchT0, Admins: []common.Address{ledger.AddressOf(admin)}})
	producers := make([]*ecdsa.PrivateKey, 16)
	reg := &ledger.Command{Kind: ledger.CmdRecords, Time: benchT0}
	for i := range producers {
		if producers[i], err = crypto.GenerateKey(); err != nil {
			b.Fatal(err)
		}
		reg.Envelopes = append(reg.Envelopes, admitted(b, admin, fmt.Sprintf(
			`{"address":"%s","id":"p%d","name":"HTX %d","roles":["producer"],"signer":"%s","time":"2026-06-01T00:00:00Z","type":"participant"}`,
			ledger.AddressOf(producers[i]).Hex(), i, i, ledger.AddressOf(admin).Hex())))
	}
	mustApply(b, st, reg)
	applyCommands(b, st, 100, true, func(i int) (*ecdsa.PrivateKey, string) {
		p := producers[i%len(producers)]
		return p, fmt.Sprintf(`{"id":"bench-%d","lot":{"gtin":"08936000000127","lot":"B%d"},"place":{"geo":"21.387,106.556","name":"Phì Điền, Lục Ngạn, Bắc Giang"},"product":{"name":"Vải thiều Lục Ngạn"},"quantity":{"amount":500,"unit":"KGM"},"signer":"%s","time":"2026-06-01T06:00:00+07:00","type":"harvest"}`,
			i, i, ledger.AddressOf(p).Hex())
	})
}

var benchT0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// admitted signs raw with key and admits it.
func admitted(b *testing.B, key *ecdsa.PrivateKey, raw string) *ledger.Admitted {
	env, err := ledger.SignEnvelope(key, []byte(raw))
	if err != nil {
		b.Fatal(err)
	}
	adm, err := ledger.Admit(env, time.Time{})
	if err != nil {
		b.Fatal(err)
	}
	return adm
}

// mustApply applies cmd in one transaction of db and fails on any refusal.
func mustApply(b *testing.B, db ledger.Store, cmd *ledger.Command) {
	err := db.Update(func(w ledger.Writer) error {
		res, err := ledger.Apply(w, cmd)
		for _, r := range res {
			if err == nil {
				err = r.Err
			}
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
}

// applyCommands signs b.N records (record i from sign), encodes them in
// commands of perCmd envelopes, then, timed, decodes each command as it
// comes out of the log, adopts the admissions' verdicts when adopt is
// set, and applies it. It reports the process's CPU per record.
func applyCommands(b *testing.B, db ledger.Store, perCmd int, adopt bool, sign func(i int) (*ecdsa.PrivateKey, string)) {
	var encoded [][]byte
	var admissions [][]*ledger.Admitted
	for next := 0; next < b.N; {
		cmd := &ledger.Command{Kind: ledger.CmdRecords, Time: benchT0}
		for k := 0; k < perCmd && next < b.N; k, next = k+1, next+1 {
			key, raw := sign(next)
			cmd.Envelopes = append(cmd.Envelopes, admitted(b, key, raw))
		}
		encoded = append(encoded, ledger.EncodeCommand(cmd))
		admissions = append(admissions, cmd.Envelopes)
	}
	b.ResetTimer()
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	for i, data := range encoded {
		cmd, err := ledger.DecodeCommand(data) // as it comes out of the log
		if err != nil {
			b.Fatal(err)
		}
		if adopt {
			for j, e := range cmd.Envelopes {
				if !e.Adopt(admissions[i][j]) {
					b.Fatal("an admission's verdict was not adopted")
				}
			}
		}
		mustApply(b, db, cmd)
	}
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkDecodeRecord measures the strict decoding and field checks
// every record passes on admission, a harvest's here.
func BenchmarkDecodeRecord(b *testing.B) {
	raw := []byte(`{"id":"bench-1","lot":{"gtin":"08936000000127","lot":"B1"},"place":{"geo":"21.387,106.556","name":"Phì Điền, Lục Ngạn, Bắc Giang"},"product":{"name":"Vải thiều Lục Ngạn"},"quantity":{"amount":500,"unit":"KGM"},"signer":"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed","time":"2026-06-01T06:00:00+07:00","type":"harvest"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ledger.DecodeRecord(raw); err != nil {
			b.Fatal(err)
		}
	}
}
