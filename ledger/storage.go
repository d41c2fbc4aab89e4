package ledger

import (
	"encoding/binary"
	"errors"
	"io"

	"github.com/ethereum/go-ethereum/common"
)

// Reader is the read side of the key-value storage the ledger keeps its
// state in. The ledger declares it; ledger/badgerkv implements it over
// Badger, and tests may use any ordered map.
type Reader interface {
	// Get returns the value stored under key; ok is false when there is none.
	// The returned slice is valid only until the transaction ends.
	Get(key []byte) (val []byte, ok bool, err error)
	// Scan calls fn for every key with the given prefix, in key order,
	// starting at start (which must begin with prefix, or be nil). fn
	// returns false to stop. key and val are valid only during the call.
	Scan(prefix, start []byte, fn func(key, val []byte) bool) error
}

// Writer is one read-write transaction: reads see the transaction's own
// writes, and all of its writes become visible together or not at all.
type Writer interface {
	Reader
	Set(key, val []byte) error
}

// ErrTxnTooBig is what Update returns (wrapped) when one transaction's
// writes exceed what the store can commit at once. The state machine then
// applies its work in smaller transactions.
var ErrTxnTooBig = errors.New("ledger: transaction too large for the store")

// Store opens transactions on the storage.
type Store interface {
	// View runs fn in a read-only transaction over a consistent snapshot.
	View(fn func(Reader) error) error
	// Update runs fn in a read-write transaction and commits it if fn
	// returns nil. The commit is atomic.
	Update(fn func(Writer) error) error
}

// Versioned is a Store that counts the changes made to it (commits,
// restores). A reader that reads the same Version before two reads saw
// no change between them, so what it derived from the first still
// stands; read it before the read, since a change is counted just after
// it becomes visible. The consumer pages use it to serve a page from
// memory without opening a transaction.
type Versioned interface {
	Version() uint64
}

// Key layout. Numbers are big-endian so that keys sort in log order.
// Changing a layout means a new prefix and a migration, never a
// reinterpretation of existing keys. Apply derives the keys down to m/size
// from the entries (Audit recomputes them); the rest are written by other
// means, and Audit checks what it can of them. No other key belongs in the
// store: Audit reports any key outside this table.
//
//	e/<seq:8>                 entry bytes (canonical JSON, see Entry)
//	g/<seq:8>                 the tlog stored hashes entry seq adds: its leaf hash,
//	                          then one per subtree it completes (32 bytes each;
//	                          merkle.go)
//	h/<index:8>               tlog stored hash at that storage index (32 bytes):
//	                          written by older versions, read for entries without g/
//	l/<gtin:14><lot>          lot state (JSON, see Lot)
//	p/<address:20>            participant state (JSON, see ParticipantInfo)
//	i/<signer:20><id>         seq:8 ‖ SHA-256(canonical record):32, for idempotency
//	x/l/<gtin:14><lot>\0<seq:8>   empty: entries naming a lot
//	x/p/<address:20><seq:8>   empty: entries signed by or naming a participant
//	x/r/<address:20><seq:8>   empty: entries registering a participant (genesis, participant)
//	x/t/<gtin:14><lot>        seq:8 of the latest entry naming the lot (its Prev for the next)
//	x/q/t/<time:8><seq:8>     empty: events by event time (see eventindex.go)
//	x/q/k/<kind:1><value>\0<seq:8>  empty: events by epc, epcClass, bizStep … (eventindex.go);
//	                          none for the values most events share (EventValueIndexed),
//	                          which older versions indexed: those keys are unread;
//	                          none for a custody record's plain lot class, walked in
//	                          x/l/, which older versions also indexed here
//	s/c/<depth:2><prefix:32>  seq:8 ‖ lot-head map node: written by older versions,
//	                          no longer written or read (the map is kept in memory,
//	                          derived from x/t/; lotheads.go, lotmap.go)
//	s/v/<depth:2><prefix:32><^seq:8>  lot-head map node as entry seq left it: written by
//	                          older versions, no longer written or read (lotheads.go)
//	m/size                    number of entries:8
//	m/events                  0x01: every entry has its x/q/ event indexes (set at genesis,
//	                          or by IndexEvents on a ledger written before them)
//
//	m/applied                 last applied Raft log index:8 (consensus FSM, SetAppliedIndex)
//	m/piece                   progress of a Raft log applied piecewise: log index:8 ‖
//	                          last envelope applied:8, empty when none (consensus FSM,
//	                          SetApplyProgress)
//	m/lotheads                next entry to map while older versions built the lot-head
//	                          map's nodes of a ledger written before them:8, empty once
//	                          done; no longer written or read
//	m/lotcover                0x01: every lot state (l/) has a lot head (x/t/), so a
//	                          lot without a head has no state (LotMapStore, once it
//	                          has checked; lotmap.go)
//	n/<node id>               JSON metadata a node published through the log (payload
//	                          kind CmdNodeMeta; consensus FSM, at NodeMetaKey)
//	c/latest, c/<size:8>      cosigned checkpoint notes (payload kind CmdCheckpoint;
//	                          PutCheckpoint, see checkpoint.go)
//	c/witnessed               the newest checkpoint note with witness cosignatures
//	                          (PutCheckpoint)
var (
	prefixEntry        = []byte("e/")
	prefixHash         = []byte("h/")
	prefixRecordHashes = []byte("g/")
	prefixLot          = []byte("l/")
	prefixParticipant  = []byte("p/")
	prefixID           = []byte("i/")
	prefixLotIndex     = []byte("x/l/")
	prefixPartIndex    = []byte("x/p/")
	prefixRegIndex     = []byte("x/r/")
	prefixLotHead      = []byte("x/t/")
	keySize            = []byte("m/size")
	keyEventIndex      = []byte("m/events")
	keyApplied         = []byte("m/applied")
	keyApplyProgress   = []byte("m/piece")
	prefixNodeMeta     = []byte("n/")
)

func u64(n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return b[:]
}

func cat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// MissPrefixes are the key prefixes whose reads mostly find no key: the
// record-id index, read for every record the ledger appends to tell a
// retry from a new record (most are new). A store may keep a filter of
// their keys in memory (badgerkv.Options.MissFilter).
func MissPrefixes() [][]byte { return [][]byte{prefixID} }

func entryKey(seq uint64) []byte               { return cat(prefixEntry, u64(seq)) }
func hashKey(index int64) []byte               { return cat(prefixHash, u64(uint64(index))) }
func recordHashesKey(seq int64) []byte         { return cat(prefixRecordHashes, u64(uint64(seq))) }
func lotKey(r LotRef) []byte                   { return cat(prefixLot, []byte(r.GTIN), []byte(r.Lot)) }
func participantKey(a common.Address) []byte   { return cat(prefixParticipant, a[:]) }
func idKey(a common.Address, id string) []byte { return cat(prefixID, a[:], []byte(id)) }
func lotIndexPrefix(r LotRef) []byte {
	return cat(prefixLotIndex, []byte(r.GTIN), []byte(r.Lot), []byte{0})
}
func partIndexPrefix(a common.Address) []byte { return cat(prefixPartIndex, a[:]) }
func regIndexPrefix(a common.Address) []byte  { return cat(prefixRegIndex, a[:]) }
func lotHeadKey(r LotRef) []byte              { return cat(prefixLotHead, []byte(r.GTIN), []byte(r.Lot)) }

func getU64(r Reader, key []byte) (uint64, error) {
	v, ok, err := r.Get(key)
	if err != nil || !ok {
		return 0, err
	}
	if len(v) != 8 {
		return 0, errCorrupt("%s holds %d bytes, want 8", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// AppliedIndex returns the last Raft log index whose effects are in the store.
func AppliedIndex(r Reader) (uint64, error) { return getU64(r, keyApplied) }

// SetAppliedIndex records the last applied Raft log index. The state machine
// writes it in the same transaction as the log entry's effects, so that after
// a crash a replayed entry is recognised and skipped.
func SetAppliedIndex(w Writer, index uint64) error { return w.Set(keyApplied, u64(index)) }

// ApplyProgress returns how far the state machine got in a Raft log it
// applies piecewise (one envelope per transaction, when the log's writes
// do not fit one): the log's index and the last envelope applied. index
// is 0 when no log is in progress.
func ApplyProgress(r Reader) (index, last uint64, err error) {
	v, ok, err := r.Get(keyApplyProgress)
	if err != nil || !ok || len(v) != 16 {
		return 0, 0, err
	}
	return binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:]), nil
}

// SetApplyProgress records that envelope last of the log at index is
// applied, in the same transaction as that envelope's effects.
func SetApplyProgress(w Writer, index, last uint64) error {
	return w.Set(keyApplyProgress, cat(u64(index), u64(last)))
}

// ClearApplyProgress records that no log is being applied piecewise.
func ClearApplyProgress(w Writer) error { return w.Set(keyApplyProgress, nil) }

// NodeMetaKey is where the metadata a node published through the log
// (payload kind CmdNodeMeta) is stored.
func NodeMetaKey(id string) []byte { return cat(prefixNodeMeta, []byte(id)) }

// SnapshotStore is a Store whose whole state can be copied out and replaced:
// what replication needs to bring a new or lagging node up to date.
type SnapshotStore interface {
	Store
	// Snapshot opens a consistent point-in-time view. Opening it is cheap;
	// writing it may run concurrently with further updates.
	Snapshot() Snapshot
	// Restore atomically replaces the whole state with a snapshot stream.
	Restore(r io.Reader) error
}

// Snapshot is a point-in-time view of a SnapshotStore.
type Snapshot interface {
	// View reads the view's state (the same state WriteTo streams).
	View(fn func(Reader) error) error
	WriteTo(w io.Writer) (int64, error)
	// Close releases the view.
	Close()
}
