package ledger

import (
	"encoding/binary"
	"fmt"
)

// A ledger written before the lot-head map existed has lot heads (x/t/)
// but no map records (s/). UpgradeLotHeads builds the map for it by
// walking the log in order and recording each entry's lots exactly as
// Apply would have (setLotMapHead, the entry's lots in Record.Lots order),
// so that the records, and every root, are those a fresh replay derives:
// every node upgrades to the same map, and Audit finds nothing to report.
//
// It works in transactions of upgradeChunk entries and keeps its progress
// in m/lotheads (the next entry to map, 8 bytes; empty once done), so a
// crash resumes where it stopped. It must run before the node applies any
// new entry (node start, before Raft).
const upgradeChunk = 2000

var keyLotHeadsUpgrade = []byte("m/lotheads")

// UpgradeLotHeads builds the lot-head map of a ledger written before it,
// and reports how many entries it walked (0 when nothing was needed).
func UpgradeLotHeads(st Store) (uint64, error) {
	var from, size uint64
	var needed bool
	err := st.View(func(r Reader) error {
		var err error
		if size, err = Size(r); err != nil {
			return err
		}
		v, ok, err := r.Get(keyLotHeadsUpgrade)
		if err != nil {
			return err
		}
		if ok {
			if len(v) == 8 {
				from, needed = binary.BigEndian.Uint64(v), true
			}
			return nil // empty: done before
		}
		// Never upgraded: needed if lots have heads but the map is empty.
		hasMap, hasHeads := false, false
		if err := r.Scan(prefixLotMapNow, nil, func(_, _ []byte) bool { hasMap = true; return false }); err != nil {
			return err
		}
		if err := r.Scan(prefixLotHead, nil, func(_, _ []byte) bool { hasHeads = true; return false }); err != nil {
			return err
		}
		needed = hasHeads && !hasMap
		return nil
	})
	if err != nil || !needed {
		return 0, err
	}
	err = backfill(st, from, size, upgradeChunk, func(w Writer, seq uint64, _ []byte, rec *Record, err error) error {
		if err != nil {
			// An entry today's rules refuse: a replay (Audit) refuses it
			// too and maps none of its lots.
			return nil
		}
		for _, l := range rec.Lots() {
			if err := setLotMapHead(w, l, seq); err != nil {
				return err
			}
		}
		return nil
	}, func(w Writer, next uint64) error { return w.Set(keyLotHeadsUpgrade, u64(next)) })
	if err != nil {
		return 0, fmt.Errorf("upgrade the lot-head map: %w", err)
	}
	if err := st.Update(func(w Writer) error { return w.Set(keyLotHeadsUpgrade, nil) }); err != nil {
		return size - from, err
	}
	return size - from, nil
}
