package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"golang.org/x/mod/sumdb/tlog"
)

// MaxAuditFailures bounds the failures Audit reports: past it the state is
// plainly broken and more lines help nobody.
const MaxAuditFailures = 100

// Audit re-checks a whole ledger held in src, trusting nothing stored but
// the entries themselves. For every entry it checks the canonical form, that
// the stored Merkle leaf is its hash, and its signature; it replays every
// entry through the ledger's rules into scratch (an empty store) and
// requires each to be accepted at its seq; then it compares every derived
// key — lot and participant state, indexes, Merkle hashes — between src and
// the replay, naming each key that differs; it checks what it can of the
// keys written by other means (applied index, apply progress, node
// metadata, checkpoints) and reports any key outside the key table
// (storage.go); and it checks the latest checkpoint's root and lot-head
// map root (and, with trusted keys, its signatures).
func Audit(src Reader, scratch Store, trusted []string) []Failure {
	var fails []Failure
	fail := func(seq int64, format string, args ...any) bool {
		if len(fails) < MaxAuditFailures {
			fails = append(fails, Failure{Seq: seq, What: fmt.Sprintf(format, args...)})
		}
		return len(fails) < MaxAuditFailures
	}
	size, err := Size(src)
	if err != nil {
		fail(-1, "read size: %v", err)
		return fails
	}
	hr := hashReader{src}
	for seq := uint64(0); seq < size; seq++ {
		e, data, err := GetEntry(src, seq)
		if err != nil {
			if !fail(int64(seq), "%v", err) {
				return fails
			}
			continue
		}
		if e.Seq != seq {
			fail(int64(seq), "stored under seq %d but says seq %d", seq, e.Seq)
		}
		stored, err := hr.ReadHashes([]int64{tlog.StoredHashIndex(0, int64(seq))})
		if err != nil || stored[0] != LeafHash(data) {
			fail(int64(seq), "entry bytes do not match the Merkle leaf stored for them (altered entry or hash)")
		}
		if e.Type != TypeGenesis {
			if err := e.CheckSignature(); err != nil {
				fail(int64(seq), "%v", err)
			}
		}
		res, err := ReplayEntry(scratch, e)
		switch {
		case err != nil:
			fail(int64(seq), "cannot replay: %v", err)
		case res.Err != nil:
			fail(int64(seq), "%s refused by the ledger's rules on replay: %v", e.Type, res.Err)
		case e.Type != TypeGenesis && (res.Seq != seq || res.Existing):
			fail(int64(seq), "replays to seq %d", res.Seq)
		}
		if len(fails) >= MaxAuditFailures {
			return fails
		}
	}
	err = scratch.View(func(rep Reader) error {
		fails = append(fails, compareHashes(src, rep, size, MaxAuditFailures-len(fails))...)
		fails = append(fails, compareState(src, rep, MaxAuditFailures-len(fails))...)
		return nil
	})
	if err != nil {
		fail(-1, "compare state: %v", err)
	}
	fails = append(fails, checkOtherKeys(src, MaxAuditFailures-len(fails))...)
	cp, msg, ok, err := LatestCheckpoint(src)
	switch {
	case err != nil:
		fail(-1, "latest checkpoint: %v", err)
	case ok:
		if cp.Size > size {
			fail(-1, "latest checkpoint has size %d, the log only %d entries", cp.Size, size)
		} else if h, err := HeadAt(src, cp.Size); err != nil || h.Root != cp.Root {
			fail(-1, "latest checkpoint (size %d) does not match the log's root at that size", cp.Size)
		} else if cp.HasLotHeads && cp.LotHeads != h.LotHeads {
			// The lot heads are compared with the replay's above, so
			// h.LotHeads is the root recomputed from the entries.
			fail(-1, "latest checkpoint (size %d) does not match the lot-head map's root at that size", cp.Size)
		}
		if len(trusted) > 0 {
			if _, _, err := OpenCheckpoint(msg, trusted); err != nil {
				fail(-1, "latest checkpoint: %v", err)
			}
		}
	}
	return fails
}

// derivedPrefixes are the keys Apply derives from entries: compareState
// compares them with the replay, compareHashes the Merkle hashes, which a
// ledger may hold in either layout (merkle.go).
var derivedPrefixes = [][]byte{prefixEntry, prefixHash, prefixRecordHashes, prefixLot, prefixParticipant, prefixID, []byte("x/"), keySize, keyEventIndex}

// otherKeys are the keys of the key table (storage.go) written by other
// means than Apply. Audit cannot recompute them from the entries; check
// says what is wrong with a value, or "" (nil: nothing to check here).
// A key that is neither derived nor listed here is unexpected.
var otherKeys = []struct {
	key   []byte
	exact bool // the whole key, not a prefix
	check func(k, v []byte) string
}{
	{keyApplied, true, checkApplied},
	{keyApplyProgress, true, checkApplyProgress},
	{keyLotHeadsUpgrade, true, checkLotHeadsUpgrade},
	{keyLotCover, true, checkLotCover},
	{prefixNodeMeta, false, checkNodeMeta},
	{keyLatestCheckpoint, true, nil}, // checked against the log's root by Audit
	{keyWitnessedCheckpoint, true, checkCheckpointNote},
	{prefixCheckpoint, false, checkCheckpoint},
	{prefixLotMapNow, false, nil},     // the map's nodes older stores kept; unread
	{prefixLotMapVersion, false, nil}, // the map's node history older stores kept; unread
}

// keyLotHeadsUpgrade is where older versions kept their progress while
// building the lot-head map's nodes for a ledger written before the map;
// nothing writes or reads it now.
var keyLotHeadsUpgrade = []byte("m/lotheads")

// checkOtherKeys walks every key of r but the derived ones (which it
// steps over without reading them), checks each against otherKeys and
// reports keys under no known prefix.
func checkOtherKeys(r Reader, max int) []Failure {
	var fails []Failure
	if max <= 0 {
		return nil
	}
	add := func(format string, args ...any) bool {
		fails = append(fails, Failure{Seq: -1, What: fmt.Sprintf(format, args...)})
		return len(fails) < max
	}
	var start []byte
	for {
		var skip []byte // the derived prefix the walk ran into
		err := r.Scan(nil, start, func(k, v []byte) bool {
			for _, p := range derivedPrefixes {
				if bytes.HasPrefix(k, p) {
					skip = p
					return false
				}
			}
			for _, o := range otherKeys {
				if (o.exact && bytes.Equal(k, o.key)) || (!o.exact && bytes.HasPrefix(k, o.key)) {
					if o.check == nil {
						return true
					}
					if what := o.check(k, v); what != "" {
						return add("key %s %s", keyName(k), what)
					}
					return true
				}
			}
			return add("key %s is under no prefix of the ledger's key table (unexpected)", keyName(k))
		})
		if err != nil {
			return append(fails, Failure{Seq: -1, What: fmt.Sprintf("walk keys: %v", err)})
		}
		if skip == nil || len(fails) >= max {
			return fails
		}
		if start = prefixEnd(skip); start == nil {
			return fails
		}
	}
}

// prefixEnd is the first key after every key with prefix p, or nil when
// there is none.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func checkApplied(_, v []byte) string {
	if len(v) != 8 {
		return fmt.Sprintf("holds %d bytes, want 8 (a Raft log index)", len(v))
	}
	return ""
}

func checkApplyProgress(_, v []byte) string {
	if len(v) != 0 && len(v) != 16 {
		return fmt.Sprintf("holds %d bytes, want 0 or 16 (log index, envelope)", len(v))
	}
	return ""
}

// checkNodeMeta: node metadata is a JSON object naming the node its key
// names. Its other fields are the consensus layer's to check.
func checkNodeMeta(k, v []byte) string {
	var m struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(v, &m); err != nil {
		return fmt.Sprintf("is not node metadata: %v", err)
	}
	if m.ID == "" {
		return "is node metadata without a node id"
	}
	if id := string(k[len(prefixNodeMeta):]); m.ID != id {
		return fmt.Sprintf("holds the metadata of node %q", m.ID)
	}
	return ""
}

// checkLotHeadsUpgrade: m/lotheads, in a store older versions wrote, is
// empty (done) or the next entry to map (8 bytes, an upgrade under way).
func checkLotHeadsUpgrade(_, v []byte) string {
	if len(v) != 0 && len(v) != 8 {
		return fmt.Sprintf("holds %d bytes, want 0 or 8", len(v))
	}
	return ""
}

// checkLotCover: m/lotcover holds 0x01. What it claims, a lot head for
// every lot state, Audit checks with the derived keys: the replay writes
// a head for every lot an entry names.
func checkLotCover(_, v []byte) string {
	if len(v) != 1 || v[0] != 1 {
		return fmt.Sprintf("holds %x, want 01", v)
	}
	return ""
}

// checkCheckpointNote: the value is a checkpoint note.
func checkCheckpointNote(_, v []byte) string {
	text, _, ok := SplitNote(v)
	if !ok {
		return "is not a checkpoint note"
	}
	if _, err := ParseCheckpoint(text); err != nil {
		return fmt.Sprintf("is not a checkpoint note: %v", err)
	}
	return ""
}

// checkCheckpoint: c/<size:8> holds a checkpoint note of that size.
func checkCheckpoint(k, v []byte) string {
	if len(k) != len(prefixCheckpoint)+8 {
		return "is not a checkpoint key (c/latest or c/<size:8>)"
	}
	text, _, ok := SplitNote(v)
	if !ok {
		return "is not a checkpoint note"
	}
	c, err := ParseCheckpoint(text)
	if err != nil {
		return fmt.Sprintf("is not a checkpoint note: %v", err)
	}
	if size := beUint64(k[len(prefixCheckpoint):]); c.Size != size {
		return fmt.Sprintf("holds the checkpoint of size %d", c.Size)
	}
	return ""
}

// compareHashes compares the Merkle hashes each of the size entries adds
// in src, in whichever layout src holds them, with the replay's, and
// reports hash keys of entries src does not hold and h/ keys of entries
// that have a g/ key (which reads never reach).
func compareHashes(src, rep Reader, size uint64, max int) []Failure {
	var fails []Failure
	add := func(format string, args ...any) bool {
		if len(fails) < max {
			fails = append(fails, Failure{Seq: -1, What: fmt.Sprintf(format, args...)})
		}
		return len(fails) < max
	}
	a, b := hashReader{src}, hashReader{rep}
	for n := int64(0); n < int64(size) && len(fails) < max; n++ {
		indexes := make([]int64, recordHashesLen(n)/tlog.HashSize)
		for i := range indexes {
			indexes[i] = tlog.StoredHashIndex(0, n) + int64(i)
		}
		want, err := b.ReadHashes(indexes)
		if err != nil {
			add("replay's Merkle hashes of entry %d: %v", n, err)
			continue
		}
		switch have, err := a.ReadHashes(indexes); {
		case err != nil:
			fails = append(fails, Failure{Seq: n, What: fmt.Sprintf("Merkle hashes: %v", err)})
		case !slices.Equal(have, want):
			fails = append(fails, Failure{Seq: n, What: "Merkle hashes differ from what the entries imply"})
		}
	}
	if err := src.Scan(prefixRecordHashes, nil, func(k, _ []byte) bool {
		if len(k) != len(prefixRecordHashes)+8 || beUint64(k[len(prefixRecordHashes):]) >= size {
			return add("key %s is stored but no entry implies it", keyName(k))
		}
		return true
	}); err != nil {
		add("read %s: %v", prefixRecordHashes, err)
	}
	if err := src.Scan(prefixHash, nil, func(k, _ []byte) bool {
		if len(k) != len(prefixHash)+8 || beUint64(k[len(prefixHash):]) >= uint64(tlog.StoredHashIndex(0, int64(size))) {
			return add("key %s is stored but no entry implies it", keyName(k))
		}
		level, n := tlog.SplitStoredHashIndex(int64(beUint64(k[len(prefixHash):])))
		rec := (n+1)<<level - 1
		if _, ok, err := src.Get(recordHashesKey(rec)); err != nil || ok {
			return add("key %s is stored beside the hashes of entry %d (g/) and read by nothing", keyName(k), rec)
		}
		return true
	}); err != nil {
		add("read %s: %v", prefixHash, err)
	}
	return fails
}

// compareState walks the derived keys of a and b in order, but the
// Merkle hashes (compareHashes), and reports keys present in one only or
// with different values.
func compareState(a, b Reader, max int) []Failure {
	var fails []Failure
	for _, p := range derivedPrefixes {
		if bytes.Equal(p, prefixHash) || bytes.Equal(p, prefixRecordHashes) {
			continue
		}
		ka, va, err := collect(a, p)
		if err != nil {
			return append(fails, Failure{Seq: -1, What: fmt.Sprintf("read %s: %v", p, err)})
		}
		kb, vb, err := collect(b, p)
		if err != nil {
			return append(fails, Failure{Seq: -1, What: fmt.Sprintf("read replay %s: %v", p, err)})
		}
		i, j := 0, 0
		for (i < len(ka) || j < len(kb)) && len(fails) < max {
			switch {
			case j >= len(kb) || (i < len(ka) && bytes.Compare(ka[i], kb[j]) < 0):
				if unindexedEventKey(ka[i]) || olderClassKey(b, ka[i]) {
					i++ // written by older versions
					continue
				}
				fails = append(fails, Failure{Seq: -1, What: fmt.Sprintf("key %s is stored but no entry implies it", keyName(ka[i]))})
				i++
			case i >= len(ka) || bytes.Compare(ka[i], kb[j]) > 0:
				fails = append(fails, Failure{Seq: -1, What: fmt.Sprintf("key %s is implied by the entries but missing", keyName(kb[j]))})
				j++
			default:
				if !bytes.Equal(va[i], vb[j]) {
					fails = append(fails, Failure{Seq: -1, What: fmt.Sprintf("key %s differs from what the entries imply", keyName(ka[i]))})
				}
				i++
				j++
			}
		}
	}
	return fails
}

func collect(r Reader, prefix []byte) (keys, vals [][]byte, err error) {
	err = r.Scan(prefix, nil, func(k, v []byte) bool {
		keys = append(keys, append([]byte(nil), k...))
		vals = append(vals, append([]byte(nil), v...))
		return true
	})
	return keys, vals, err
}

// keyName prints a key readably: numbers in decimal, addresses in hex,
// text as it is.
func keyName(k []byte) string {
	hexAddr := func(b []byte) string { return fmt.Sprintf("0x%x", b) }
	switch {
	case bytes.HasPrefix(k, prefixEntry) && len(k) == len(prefixEntry)+8:
		return "e/" + strconv.FormatUint(beUint64(k[2:]), 10)
	case bytes.HasPrefix(k, prefixHash) && len(k) == len(prefixHash)+8:
		return "h/" + strconv.FormatUint(beUint64(k[2:]), 10) + " (Merkle hash)"
	case bytes.HasPrefix(k, prefixRecordHashes) && len(k) == len(prefixRecordHashes)+8:
		return "g/" + strconv.FormatUint(beUint64(k[2:]), 10) + " (Merkle hashes)"
	case bytes.HasPrefix(k, prefixParticipant) && len(k) == len(prefixParticipant)+20:
		return "p/" + hexAddr(k[2:]) + " (participant)"
	case bytes.HasPrefix(k, prefixID) && len(k) >= len(prefixID)+20:
		return "i/" + hexAddr(k[2:22]) + "/" + printable(k[22:]) + " (record id)"
	case (bytes.HasPrefix(k, prefixPartIndex) || bytes.HasPrefix(k, prefixRegIndex)) && len(k) == 4+28:
		return string(k[:4]) + hexAddr(k[4:24]) + "/" + strconv.FormatUint(beUint64(k[24:]), 10)
	case bytes.HasPrefix(k, prefixLotIndex) && len(k) > 4+9:
		return "x/l/" + printable(k[4:len(k)-9]) + "/" + strconv.FormatUint(beUint64(k[len(k)-8:]), 10)
	case bytes.HasPrefix(k, prefixCheckpoint) && len(k) == len(prefixCheckpoint)+8:
		return "c/" + strconv.FormatUint(beUint64(k[2:]), 10) + " (checkpoint)"
	case lotMapKeyName(k) != "":
		return lotMapKeyName(k)
	}
	return printable(k)
}

func printable(k []byte) string {
	var b bytes.Buffer
	for _, c := range k {
		if c >= 0x21 && c < 0x7f {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "\\x%02x", c)
		}
	}
	return b.String()
}

func beUint64(b []byte) uint64 {
	var n uint64
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	return n
}
