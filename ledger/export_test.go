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

// PlainLot is plainLot: whether LotClass skips the Digital Link parser.
func PlainLot(l LotRef) bool { return plainLot(l) }

// LotMapKept reports whether s holds its map (readers derive their own
// while it does not).
func LotMapKept(s *LotMapStore) bool { return s.cur.Load() != nil }

// NewLotMapStoreDepth is NewLotMapStore with the map's buckets at depth
// bd, so that tests fill them with a few lots.
func NewLotMapStoreDepth(s Store, bd int) (*LotMapStore, error) {
	m := newLotMapStore(s, bd)
	return m, m.Wait()
}
