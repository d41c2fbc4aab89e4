package api_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/traceledger/traceledger/api"
	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/badgerkv"
)

// storeCluster is a Cluster over a bare store, enough for the read-only
// routes of the tiles: it has a log and checkpoints, and no Raft.
type storeCluster struct {
	api.Cluster // nil: any other method panics
	store       ledger.Store
}

func (c storeCluster) Store() ledger.Store { return c.store }

func (c storeCluster) LatestCheckpoint() (cp ledger.Checkpoint, msg []byte, ok bool, err error) {
	err = c.store.View(func(r ledger.Reader) error {
		cp, msg, ok, err = ledger.LatestCheckpoint(r)
		return err
	})
	return cp, msg, ok, err
}

// tileLog is a ledger grown to chosen sizes, each cosigned, behind an API
// server.
type tileLog struct {
	t      *testing.T
	db     *badgerkv.DB
	admin  *fixture // only for its keys and signing helpers
	signer note.Signer
	vkey   string
	url    string
}

func newTileLog(t *testing.T) *tileLog {
	db, err := badgerkv.Open(badgerkv.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	skey, vkey, err := note.GenerateKey(rand.Reader, "traceledger-t1")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ids: new(int), admin: newKey(t)}
	l := &tileLog{t: t, db: db, admin: f, signer: signer, vkey: vkey}
	l.apply(&ledger.Command{Kind: ledger.CmdGenesis, Time: time.Now(), Admins: []common.Address{ledger.AddressOf(f.admin)}})
	srv, err := api.New(api.Config{Cluster: storeCluster{store: db}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	l.url = hs.URL
	return l
}

func (l *tileLog) apply(c *ledger.Command) {
	l.t.Helper()
	err := l.db.Update(func(w ledger.Writer) error {
		res, err := ledger.Apply(w, c)
		for _, r := range res {
			if err == nil {
				err = r.Err
			}
		}
		return err
	})
	if err != nil {
		l.t.Fatalf("apply: %v", err)
	}
}

// growTo appends admin-signed registrations up to n entries, then stores
// a checkpoint of that size signed by the node key.
func (l *tileLog) growTo(n uint64) {
	l.t.Helper()
	l.append(n)
	l.checkpoint(n)
}

// append appends admin-signed registrations up to n entries.
func (l *tileLog) append(n uint64) {
	l.t.Helper()
	var size uint64
	l.db.View(func(r ledger.Reader) (err error) { size, err = ledger.Size(r); return err })
	for size < n {
		c := &ledger.Command{Kind: ledger.CmdRecords, Time: time.Now()}
		for ; size < n && len(c.Envelopes) < 500; size++ {
			k := newKey(l.t)
			env := sign(l.t, l.admin.admin, l.admin.record(l.admin.admin, "participant",
				map[string]any{"address": addr(k), "name": fmt.Sprintf("Farm %d", size), "roles": []string{"producer"}}))
			adm, err := ledger.Admit(env, time.Time{})
			if err != nil {
				l.t.Fatal(err)
			}
			c.Envelopes = append(c.Envelopes, adm)
		}
		l.apply(c)
	}
}

// checkpoint stores a checkpoint of size n signed by the node key.
func (l *tileLog) checkpoint(n uint64) {
	l.t.Helper()
	err := l.db.Update(func(w ledger.Writer) error {
		origin, err := ledger.Origin(w)
		if err != nil {
			return err
		}
		root, err := ledger.TreeHashAt(w, n)
		if err != nil {
			return err
		}
		msg, err := ledger.SignCheckpoint(ledger.Checkpoint{Origin: origin, Size: n, Root: root}, l.signer)
		if err != nil {
			return err
		}
		return ledger.PutCheckpoint(w, msg)
	})
	if err != nil {
		l.t.Fatal(err)
	}
}

func (l *tileLog) get(path string) (int, http.Header, []byte) {
	l.t.Helper()
	resp, err := http.Get(l.url + path)
	if err != nil {
		l.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		l.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// httpTiles is a tlog.TileReader that fetches C2SP tiles over HTTP: what
// a mirror or a monitor runs, knowing nothing of the ledger.
type httpTiles struct {
	base    string // the log's URL prefix, ending in /log
	fetched *int
}

// c2spPath turns tlog's tile path (tile/8/L/N…, tile/8/data/N…) into the
// C2SP one (tile/L/N…, tile/entries/N…).
func c2spPath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), "tile/8/")
	if rest, ok := strings.CutPrefix(p, "data/"); ok {
		p = "entries/" + rest
	}
	return "tile/" + p
}

func (h httpTiles) Height() int { return 8 }

func (h httpTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		resp, err := http.Get(h.base + "/" + c2spPath(t))
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s", c2spPath(t), resp.Status)
		}
		*h.fetched++
		out[i] = b
	}
	return out, nil
}

func (httpTiles) SaveTiles([]tlog.Tile, [][]byte) {}

// openCheckpoint verifies the note with the node key and reads its size
// and root, without the ledger package.
func openCheckpoint(t *testing.T, msg []byte, vkey string) tlog.Tree {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		t.Fatalf("checkpoint %q: %v", msg, err)
	}
	lines := strings.Split(n.Text, "\n")
	size, err1 := strconv.ParseInt(lines[1], 10, 64)
	root, err2 := base64.StdEncoding.DecodeString(lines[2])
	if err1 != nil || err2 != nil || len(root) != tlog.HashSize {
		t.Fatalf("checkpoint text %q", n.Text)
	}
	tree := tlog.Tree{N: size}
	copy(tree.Hash[:], root)
	return tree
}

func TestTilesRebuildTheCheckpointRoot(t *testing.T) {
	l := newTileLog(t)
	for _, size := range []uint64{1, 255, 256, 257, 1000} {
		t.Run(strconv.FormatUint(size, 10), func(t *testing.T) {
			l.t = t
			l.growTo(size)
			status, h, cpMsg := l.get("/log/checkpoint")
			if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
				t.Fatalf("/log/checkpoint: %d %q", status, h.Get("Content-Type"))
			}
			if _, _, v1 := l.get("/v1/checkpoint"); !bytes.Equal(v1, cpMsg) {
				t.Errorf("/log/checkpoint and /v1/checkpoint differ:\n%s\n%s", cpMsg, v1)
			}
			tree := openCheckpoint(t, cpMsg, l.vkey)
			if tree.N != int64(size) {
				t.Fatalf("checkpoint size %d, want %d", tree.N, size)
			}
			// TileHashReader checks every tile it reads against the
			// checkpoint's root before handing out a hash.
			fetched := 0
			thr := tlog.TileHashReader(tree, httpTiles{l.url + "/log", &fetched})
			root, err := tlog.TreeHash(tree.N, thr)
			if err != nil || root != tree.Hash {
				t.Fatalf("root from tiles: %v, %v; checkpoint says %v", root, err, tree.Hash)
			}
			if fetched == 0 {
				t.Fatal("no tile was fetched")
			}
			// Entries from the bundles are included in the checkpoint.
			for _, seq := range []int64{0, tree.N / 2, tree.N - 1, 255, 256} {
				if seq >= tree.N {
					continue
				}
				n := seq / 256
				w := min(tree.N-n*256, 256)
				p := c2spPath(tlog.Tile{H: 8, L: -1, N: n, W: int(w)})
				status, h, bundle := l.get("/log/" + p)
				if status != http.StatusOK || h.Get("Content-Type") != "application/octet-stream" {
					t.Fatalf("%s: %d %q", p, status, h.Get("Content-Type"))
				}
				wantCache := "public, max-age=31536000, immutable"
				if w < 256 {
					wantCache = "public, max-age=60"
				}
				if got := h.Get("Cache-Control"); got != wantCache {
					t.Errorf("%s: Cache-Control %q, want %q", p, got, wantCache)
				}
				entries := splitBundle(t, bundle)
				if int64(len(entries)) != w {
					t.Fatalf("%s: %d entries, want %d", p, len(entries), w)
				}
				leaf := tlog.RecordHash(entries[seq-n*256])
				proof, err := tlog.ProveRecord(tree.N, seq, thr)
				if err != nil {
					t.Fatalf("proof of %d from tiles: %v", seq, err)
				}
				if err := tlog.CheckRecord(proof, tree.N, tree.Hash, seq, leaf); err != nil {
					t.Errorf("entry %d of the bundle is not in the checkpoint: %v", seq, err)
				}
			}
		})
	}
}

// splitBundle reads an entry bundle: big-endian uint16 lengths, entries.
func splitBundle(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 || len(b) < 2+int(binary.BigEndian.Uint16(b)) {
			t.Fatalf("truncated entry bundle after %d entries", len(out))
		}
		n := int(binary.BigEndian.Uint16(b))
		out = append(out, b[2:2+n])
		b = b[2+n:]
	}
	return out
}

func TestTilesRefuseBadPaths(t *testing.T) {
	l := newTileLog(t)
	// Before any checkpoint nothing is within one.
	for _, p := range []string{"/log/tile/0/000.p/1", "/log/tile/entries/000.p/1"} {
		if status, h, body := l.get(p); status != http.StatusNotFound {
			t.Errorf("%s before a checkpoint: %d, want 404", p, status)
		} else {
			checkErrorBody(t, h, body)
		}
	}
	if status, _, _ := l.get("/log/checkpoint"); status != http.StatusServiceUnavailable {
		t.Errorf("/log/checkpoint before a checkpoint: %d, want 503 as /v1/checkpoint", status)
	}
	l.growTo(1000) // 3 full level-0 tiles, one of width 232; level 1: width 3
	l.append(1001) // the log grows past the checkpoint, not yet cosigned
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/log/tile/0/000", 200},
		{"/log/tile/0/002", 200},
		{"/log/tile/0/003.p/232", 200},
		{"/log/tile/0/003.p/100", 200}, // a smaller tree's tile: a prefix
		{"/log/tile/1/000.p/3", 200},
		{"/log/tile/entries/003.p/232", 200},
		{"/log/tile/entries/001", 200},
		// beyond the checkpoint
		{"/log/tile/0/003", 404},
		{"/log/tile/0/003.p/233", 404},
		{"/log/tile/0/004.p/1", 404},
		{"/log/tile/1/000", 404},
		{"/log/tile/1/000.p/4", 404},
		{"/log/tile/2/000.p/1", 404},
		{"/log/tile/63/000.p/1", 404},
		{"/log/tile/0/x001/000", 404},
		{"/log/tile/entries/003", 404},
		{"/log/tile/entries/003.p/233", 404},
		{"/log/tile/entries/x999/x999/x999/x999/x999/999", 404},
		{"/log/tile/entries/x999/x999/x999/x999/x999/x999/999", 400}, // overflows
		// malformed
		{"/log/tile/", 400},
		{"/log/tile/0", 400},
		{"/log/tile/0/", 400},
		{"/log/tile/entries", 400},
		{"/log/tile/00/000", 400},
		{"/log/tile/-1/000", 400},
		{"/log/tile/64/000", 400},
		{"/log/tile/99999999999999999999/000", 400},
		{"/log/tile/data/000", 400},
		{"/log/tile/8/0/000", 400}, // sumdb's spelling, with the height
		{"/log/tile/0/0", 400},
		{"/log/tile/0/00", 400},
		{"/log/tile/0/1000", 400},
		{"/log/tile/0/x000/000", 400},
		{"/log/tile/0/001/002", 400},
		{"/log/tile/0/x001", 400},
		{"/log/tile/0/abc", 400},
		{"/log/tile/0/%30%30%30", 400},
		{"/log/tile/0/x999/x999/x999/x999/x999/x999/x999/999", 400},
		{"/log/tile/0/003.p/0", 400},
		{"/log/tile/0/003.p/256", 400},
		{"/log/tile/0/003.p/0232", 400},
		{"/log/tile/0/003.p/-1", 400},
		{"/log/tile/0/003.p/x", 400},
		{"/log/tile/0/003.p/", 400},
		{"/log/tile/0/003.p", 400},
		{"/log/tile/0/003.p/5/6", 400},
		{"/log/tile/entries/003.p/0", 400},
		{"/log/tile/entries/003.p/256", 400},
		{"/log/tiles/0/000", 404},
	} {
		status, h, body := l.get(c.path)
		if status != c.status {
			t.Errorf("GET %s: %d, want %d (%.200s)", c.path, status, c.status, body)
			continue
		}
		if status != http.StatusOK {
			checkErrorBody(t, h, body)
		}
	}
	resp, err := http.Post(l.url+"/log/tile/0/000", "application/octet-stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST a tile: %d, want 405", resp.StatusCode)
	}
}

// The API serves the tiles of its cosigned checkpoints.
func TestTilesOnANode(t *testing.T) {
	f := startNode(t)
	var cp []byte
	f.waitFor("a checkpoint of the registrations", func() bool {
		status, body := f.get("/log/checkpoint")
		cp = body
		return status == http.StatusOK && !bytes.HasPrefix(body, []byte("{")) && strings.Split(string(body), "\n")[1] == "5"
	})
	if status, v1 := f.get("/v1/checkpoint"); status != http.StatusOK || !bytes.Equal(v1, cp) {
		t.Fatalf("/v1/checkpoint %d differs from /log/checkpoint:\n%s\n%s", status, v1, cp)
	}
	var keys []string
	status, body := f.get("/v1/cluster")
	if status != http.StatusOK {
		t.Fatal(status)
	}
	var c struct {
		Nodes []struct {
			CheckpointKey string `json:"checkpoint_key"`
		} `json:"nodes"`
	}
	mustDecode(t, body, &c)
	for _, n := range c.Nodes {
		keys = append(keys, n.CheckpointKey)
	}
	if len(keys) != 1 {
		t.Fatalf("cluster lists %d checkpoint keys", len(keys))
	}
	tree := openCheckpoint(t, cp, keys[0])
	fetched := 0
	root, err := tlog.TreeHash(tree.N, tlog.TileHashReader(tree, httpTiles{f.url + "/log", &fetched}))
	if err != nil || root != tree.Hash {
		t.Fatalf("root from the node's tiles: %v, %v; checkpoint says %v", root, err, tree.Hash)
	}
}
