package ledger

import "fmt"

// backfill derives, for a ledger written before some state existed (the
// event indexes, the lot-head map), what Apply now writes with every
// entry. It walks entries from up to size in log order, chunk of them per
// store transaction, and hands fn each entry but the genesis with its
// record (or the error decoding it). After each chunk, progress, when not
// nil, records in the same transaction the next entry to walk, so a node
// stopped half way resumes there. It runs when a node opens its store,
// before the state machine applies anything, so no entry is appended
// meanwhile.
func backfill(st Store, from, size, chunk uint64, fn func(w Writer, seq uint64, data []byte, rec *Record, decodeErr error) error, progress func(w Writer, next uint64) error) error {
	for seq := from; seq < size; seq += chunk {
		end := min(seq+chunk, size)
		err := st.Update(func(w Writer) error {
			for s := seq; s < end; s++ {
				e, data, err := GetEntry(w, s)
				if err != nil {
					return err
				}
				if e.Type == TypeGenesis {
					continue
				}
				rec, err := DecodeRecord(e.Record)
				if err := fn(w, s, data, rec, err); err != nil {
					return err
				}
			}
			if progress != nil {
				return progress(w, end)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("entries %d–%d: %w", seq, end-1, err)
		}
	}
	return nil
}
