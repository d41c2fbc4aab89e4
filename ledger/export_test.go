package ledger

// Preverify marks an envelope as checked by this process, as Admit does,
// without checking its signature: benchmarks that build large ledgers
// quickly use it. Only tests can call it.
func Preverify(a *Admitted) error {
	rec, err := DecodeRecord(a.Canonical)
	if err != nil {
		return err
	}
	a.Record, a.verified = rec, true
	return nil
}

// IsCanonical exposes the canonical-form fast path to the fuzz tests.
func IsCanonical(raw []byte) bool { return isCanonical(raw) }

// SetLotMapHead is setLotMapHead, for the benchmark of map updates on
// Badger (which this package's own tests cannot import).
func SetLotMapHead(w Writer, ref LotRef, seq uint64) error { return setLotMapHead(w, ref, seq) }

// PlainLot is plainLot: whether LotClass skips the Digital Link parser.
func PlainLot(l LotRef) bool { return plainLot(l) }
