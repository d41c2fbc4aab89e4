package ledger_test

import (
	"fmt"
	"testing"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/badgerkv"
)

// countingWriter counts a transaction's reads and writes.
type countingWriter struct {
	ledger.Writer
	gets, sets int
}

func (c *countingWriter) Get(k []byte) ([]byte, bool, error) { c.gets++; return c.Writer.Get(k) }
func (c *countingWriter) Set(k, v []byte) error              { c.sets++; return c.Writer.Set(k, v) }

// BenchmarkLotMapNewLot measures what the lot-head map costs a harvest:
// a new lot entered into a map of 10⁵ lots on Badger (on disk, as a node
// keeps it), 100 lots per transaction as the state machine groups them.
// It reports the map records read and written per lot.
//
//	go test -run '^$' -bench LotMapNewLot -benchtime 20000x ./ledger/
func BenchmarkLotMapNewLot(b *testing.B) {
	db, err := badgerkv.Open(badgerkv.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const lots, group = 100_000, 100
	seq := uint64(0)
	add := func(n int, cw *countingWriter) {
		for done := 0; done < n; {
			err := db.Update(func(w ledger.Writer) error {
				cw.Writer = w
				for k := 0; k < group && done < n; k, done = k+1, done+1 {
					ref := ledger.LotRef{GTIN: "08936000000127", Lot: fmt.Sprintf("B%d", seq)}
					if err := ledger.SetLotMapHead(cw, ref, seq); err != nil {
						return err
					}
					seq++
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	add(lots, &countingWriter{})
	cw := &countingWriter{}
	b.ResetTimer()
	add(b.N, cw)
	b.StopTimer()
	b.ReportMetric(float64(cw.gets)/float64(b.N), "reads/lot")
	b.ReportMetric(float64(cw.sets)/float64(b.N), "writes/lot")
}
