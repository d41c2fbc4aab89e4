package backup_test

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"golang.org/x/mod/sumdb/note"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/backup"
	"github.com/traceledger/traceledger/ledger/badgerkv"
	"github.com/traceledger/traceledger/testnet"
)

var t0 = time.Date(2026, 6, 1, 6, 15, 0, 0, time.FixedZone("ICT", 7*3600))

func openMem(t *testing.T) *badgerkv.DB {
	t.Helper()
	db, err := badgerkv.Open(badgerkv.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// cluster is what three nodes leave in the state besides the entries:
// their metadata with checkpoint keys, a checkpoint cosigned by two of
// them, and the Raft bookkeeping.
type cluster struct {
	signers []note.Signer
	keys    []string
	// signWith sign its checkpoints; default: the first two signers.
	signWith []note.Signer
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{}
	for i := 1; i <= 3; i++ {
		skey, vkey, err := note.GenerateKey(rand.Reader, fmt.Sprintf("traceledger-n%d", i))
		if err != nil {
			t.Fatal(err)
		}
		s, err := note.NewSigner(skey)
		if err != nil {
			t.Fatal(err)
		}
		c.signers, c.keys = append(c.signers, s), append(c.keys, vkey)
	}
	return c
}

// checkpoint signs c with the first two node keys.
func (c *cluster) checkpoint(t *testing.T, cp ledger.Checkpoint) []byte {
	t.Helper()
	var notes [][]byte
	with := c.signWith
	if with == nil {
		with = c.signers[:2]
	}
	for _, s := range with {
		n, err := ledger.SignCheckpoint(cp, s)
		if err != nil {
			t.Fatal(err)
		}
		notes = append(notes, n)
	}
	msg, err := ledger.MergeCosignatures(notes...)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// source fills a store with a ledger of size entries as a three-node
// cluster leaves it, its checkpoint at cpSize.
func source(t *testing.T, c *cluster, size int, cpSize uint64, alter func(*ledger.Checkpoint)) *badgerkv.DB {
	t.Helper()
	db := openMem(t)
	admin, _ := crypto.GenerateKey()
	if err := testnet.FillLedger(db, admin, size, t0); err != nil {
		t.Fatal(err)
	}
	err := db.Update(func(w ledger.Writer) error {
		origin, _ := ledger.Origin(w)
		root, err := ledger.TreeHashAt(w, cpSize)
		if err != nil {
			return err
		}
		cp := ledger.Checkpoint{Origin: origin, Size: cpSize, Root: root}
		if alter != nil {
			alter(&cp)
		}
		if err := ledger.PutCheckpoint(w, c.checkpoint(t, cp)); err != nil {
			return err
		}
		for i, k := range c.keys {
			id := fmt.Sprintf("n%d", i+1)
			meta, _ := json.Marshal(map[string]string{"id": id, "http": "http://" + id + ":8080", "key": k})
			if err := w.Set(ledger.NodeMetaKey(id), meta); err != nil {
				return err
			}
		}
		if err := ledger.SetApplyProgress(w, 78, 3); err != nil {
			return err
		}
		return ledger.SetAppliedIndex(w, 77)
	})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// take writes a backup of db, its header changed by edit.
func take(t *testing.T, db *badgerkv.DB, edit func(*backup.Header)) ([]byte, backup.Header) {
	t.Helper()
	snap := db.Snapshot()
	defer snap.Close()
	h, err := backup.Describe(snap)
	if err != nil {
		t.Fatal(err)
	}
	h.Node = "n1"
	if edit != nil {
		edit(&h)
	}
	var buf bytes.Buffer
	if _, err := backup.Write(&buf, h, snap); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), h
}

func restore(t *testing.T, file []byte, trusted []string) (*badgerkv.DB, error) {
	t.Helper()
	dst := openMem(t)
	if _, err := backup.Verify(bytes.NewReader(file)); err != nil {
		return dst, err
	}
	r, err := backup.NewReader(bytes.NewReader(file))
	if err != nil {
		return dst, err
	}
	_, err = backup.Restore(dst, r, trusted)
	return dst, err
}

func TestRoundTrip(t *testing.T) {
	c := newCluster(t)
	src := source(t, c, 300, 300, nil)
	file, h := take(t, src, nil)
	if h.Size != 300 || h.CheckpointSize != 300 || h.Applied != 77 || len(h.Keys) != 3 || h.Origin == "" {
		t.Fatalf("header %+v", h)
	}
	dst, err := restore(t, file, c.keys)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	var want, got ledger.Head
	src.View(func(r ledger.Reader) (err error) { want, err = ledger.ReadHead(r); return err })
	dst.View(func(r ledger.Reader) error {
		got, err = ledger.ReadHead(r)
		if err != nil {
			return err
		}
		// A new Raft log starts at index 1: the old cluster's positions
		// must not survive, or the new cluster's first 77 logs would be
		// skipped as applied.
		if a, _ := ledger.AppliedIndex(r); a != 0 {
			t.Errorf("applied index %d after restore, want 0", a)
		}
		if i, _, _ := ledger.ApplyProgress(r); i != 0 {
			t.Errorf("piecewise progress of log %d survived the restore", i)
		}
		scratch := openMem(t)
		if fails := ledger.Audit(r, scratch, c.keys); len(fails) != 0 {
			t.Errorf("audit of the restored ledger: %v", fails)
		}
		return nil
	})
	if got != want {
		t.Errorf("restored head %+v, want %+v", got, want)
	}
}

// A checkpoint behind the tree (writes went on while the backup was
// taken) still restores: it is checked against the tree at its size.
func TestRoundTripCheckpointBehind(t *testing.T) {
	c := newCluster(t)
	file, h := take(t, source(t, c, 50, 20, nil), nil)
	if h.CheckpointSize != 20 || h.Size != 50 {
		t.Fatalf("header %+v", h)
	}
	if _, err := restore(t, file, nil); err != nil {
		t.Fatalf("restore: %v", err)
	}
}

// A checkpoint signed while the cluster was smaller (one signature of the
// three keys the backup names) restores; one signed by none of them does
// not, unless the caller trusts its signer.
func TestCheckpointSigners(t *testing.T) {
	c := newCluster(t)
	c.signWith = c.signers[:1]
	file, _ := take(t, source(t, c, 30, 30, nil), nil)
	if _, err := restore(t, file, nil); err != nil {
		t.Errorf("a checkpoint signed by one of the named keys: %v", err)
	}
	if _, err := restore(t, file, c.keys); !errors.Is(err, ledger.ErrCheckpoint) {
		t.Errorf("a checkpoint signed by 1 of 3 trusted keys: %v, want ErrCheckpoint", err)
	}
	stranger := newCluster(t)
	c.signWith = stranger.signers[:1]
	file, _ = take(t, source(t, c, 30, 30, nil), nil)
	if _, err := restore(t, file, nil); !errors.Is(err, ledger.ErrCheckpoint) {
		t.Errorf("a checkpoint signed by none of the named keys: %v, want ErrCheckpoint", err)
	}
	if _, err := restore(t, file, stranger.keys[:1]); err != nil {
		t.Errorf("a checkpoint signed by the one trusted key: %v", err)
	}
}

func TestDescribeEmptyLedger(t *testing.T) {
	snap := openMem(t).Snapshot()
	defer snap.Close()
	if _, err := backup.Describe(snap); !errors.Is(err, backup.ErrNotReady) {
		t.Errorf("describe an empty store: %v, want ErrNotReady", err)
	}
}

func TestRefusals(t *testing.T) {
	c := newCluster(t)
	src := source(t, c, 40, 40, nil)
	good, _ := take(t, src, nil)
	flip := func(at int) []byte {
		b := bytes.Clone(good)
		b[at] ^= 0x20
		return b
	}
	hdrEnd := 13 + int(binary.BigEndian.Uint32(good[9:13]))
	lying, _ := take(t, src, func(h *backup.Header) { h.Size = 39 })
	otherKeys, _ := take(t, src, func(h *backup.Header) { h.Keys = newCluster(t).keys })
	badRoot, _ := take(t, source(t, c, 40, 30, func(cp *ledger.Checkpoint) { cp.Root[0] ^= 1 }), nil)
	tests := []struct {
		name    string
		file    []byte
		trusted []string
		want    error
	}{
		{"empty file", nil, nil, backup.ErrTruncated},
		{"another file", []byte("PK\x03\x04 a zip file, not a backup"), nil, backup.ErrBadMagic},
		{"bad magic", flip(0), nil, backup.ErrBadMagic},
		{"newer version", func() []byte { b := bytes.Clone(good); b[8] = 2; return b }(), nil, backup.ErrVersion},
		{"header not JSON", flip(13), nil, backup.ErrHeader},
		{"cut in the header", good[:hdrEnd-5], nil, backup.ErrTruncated},
		{"cut in the stream", good[:len(good)/2], nil, backup.ErrTruncated},
		{"cut in the trailer", good[:len(good)-10], nil, backup.ErrTruncated},
		{"no trailer", good[:len(good)-32], nil, backup.ErrTruncated},
		{"a byte of the stream changed", flip(len(good) / 2), nil, backup.ErrChecksum},
		{"a chunk length changed", flip(hdrEnd), nil, backup.ErrChecksum},
		{"a byte of the trailer changed", flip(len(good) - 1), nil, backup.ErrChecksum},
		{"bytes after the trailer", append(bytes.Clone(good), 0), nil, backup.ErrChecksum},
		{"header lies about the size", lying, nil, backup.ErrMismatch},
		{"checkpoint does not match the data", badRoot, nil, backup.ErrMismatch},
		{"header names other keys", otherKeys, nil, backup.ErrMismatch},
		{"checkpoint not signed by the trusted keys", good, newCluster(t).keys, ledger.ErrCheckpoint},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := restore(t, tc.file, tc.trusted)
			if !errors.Is(err, tc.want) {
				t.Fatalf("restore: %v, want %v", err, tc.want)
			}
			t.Logf("refused: %v", err)
		})
	}
}

// Restore names the file's fault even when the store gave up first on
// the bytes it was handed (Verify skipped).
func TestRestoreNamesTheFaultOfTheFile(t *testing.T) {
	c := newCluster(t)
	good, _ := take(t, source(t, c, 40, 40, nil), nil)
	for name, file := range map[string][]byte{
		"truncated": good[:len(good)/2],
		"corrupted": func() []byte { b := bytes.Clone(good); b[len(b)/2] ^= 0xff; return b }(),
	} {
		t.Run(name, func(t *testing.T) {
			r, err := backup.NewReader(bytes.NewReader(file))
			if err != nil {
				t.Fatal(err)
			}
			_, err = backup.Restore(openMem(t), r, nil)
			if !errors.Is(err, backup.ErrTruncated) && !errors.Is(err, backup.ErrChecksum) {
				t.Fatalf("restore: %v", err)
			}
		})
	}
}

// The writer and the reader agree on streams of every chunking.
func TestFraming(t *testing.T) {
	for _, n := range []int{0, 1, 1 << 20, 1<<20 + 1, 3<<20 + 17} {
		payload := make([]byte, n)
		rand.Read(payload)
		var buf bytes.Buffer
		w, err := backup.NewWriter(&buf, backup.Header{Origin: "o"})
		if err != nil {
			t.Fatal(err)
		}
		for rest := payload; len(rest) > 0; {
			k := min(len(rest), 70_001)
			w.Write(rest[:k])
			rest = rest[k:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r, err := backup.NewReader(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, payload) || r.Header.Origin != "o" {
			t.Errorf("%d bytes: read %d bytes, %v", n, len(got), err)
		}
	}
}
