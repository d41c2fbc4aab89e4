// Package backup writes and reads traceledger backup files: one consistent
// snapshot of a node's whole state, with the facts needed to check it
// (origin, size and root of the tree, the Raft index it was applied to, the
// cosigned checkpoint it holds), framed so that a truncated or corrupted
// file is detected and named before anything is restored from it.
//
// # File format (version 1)
//
//	magic    "TLBACKUP"                         8 bytes
//	version  0x01                               1 byte
//	hdrlen   uint32, big-endian                 4 bytes, at most 1 MiB
//	header   JSON of Header                     hdrlen bytes
//	chunks   (len:uint32 big-endian ‖ bytes)*   each len in 1..1 MiB
//	end      0x00000000                         a chunk of length 0
//	trailer  SHA-256 of every byte above        32 bytes
//
// The chunks carry the store's snapshot stream (ledger.Snapshot.WriteTo,
// read back by ledger.SnapshotStore.Restore) without interpreting it: the
// framing ends the stream without knowing its length in advance, so a
// backup is streamed as it is read, and the trailer follows it. A reader
// refuses, with a sentinel naming the fault: another magic (ErrBadMagic),
// another version (ErrVersion), a file that ends early (ErrTruncated),
// a trailer that does not match the bytes (ErrChecksum), and, once loaded,
// data that do not match the header or its checkpoint (ErrMismatch).
//
// A change of format takes a new version byte; version 1 files stay
// readable.
package backup

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"
)

// Errors callers branch on. Each names what is wrong with a file.
var (
	ErrBadMagic  = errors.New("backup: not a traceledger backup (bad magic)")
	ErrVersion   = errors.New("backup: unsupported format version")
	ErrTruncated = errors.New("backup: truncated")
	ErrChecksum  = errors.New("backup: checksum mismatch (the file is corrupted)")
	ErrHeader    = errors.New("backup: malformed header")
	ErrMismatch  = errors.New("backup: the data do not match the header")
)

const (
	magic      = "TLBACKUP"
	version    = 1
	maxHeader  = 1 << 20
	maxChunk   = 1 << 20
	sumSize    = sha256.Size
	prefixSize = len(magic) + 1 + 4
)

// Header describes a backup. Everything in it is also in the data and is
// checked against the data on restore; it sits in front so that a reader
// learns what a file holds without loading it.
type Header struct {
	// Origin names the ledger (ledger.Origin).
	Origin string `json:"origin"`
	// Node is the id of the node the backup was taken from.
	Node string `json:"node"`
	// Applied is the last Raft log index applied to the snapshot
	// (m/applied): the snapshot is the node's state at that index.
	Applied uint64 `json:"applied"`
	// Size and Root are the Merkle tree of the snapshot (root in hex).
	Size uint64 `json:"size"`
	Root string `json:"root"`
	// Checkpoint is the latest cosigned checkpoint note in the snapshot,
	// of size CheckpointSize ≤ Size; Keys are the checkpoint keys the
	// members had published (n/), which signed it.
	Checkpoint     string   `json:"checkpoint"`
	CheckpointSize uint64   `json:"checkpoint_size"`
	Keys           []string `json:"keys"`
	// Taken is when the snapshot was opened (the node's clock).
	Taken time.Time `json:"taken"`
	// Estimate is the store's rough size in bytes when the backup began,
	// for a progress bar; the stream may be smaller or larger.
	Estimate int64 `json:"estimate_bytes"`
}

// Writer writes one backup file: NewWriter writes the prefix and header,
// Write frames stream bytes into chunks, Close writes the end and the
// trailer. It is not safe for concurrent use.
type Writer struct {
	w   io.Writer
	sum hash.Hash
	bw  *bufio.Writer // buffers chunk payloads up to maxChunk
	err error
}

// NewWriter writes the magic, version and header to w and returns the
// writer for the snapshot stream.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	hdr, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("backup: encode header: %w", err)
	}
	if len(hdr) > maxHeader {
		return nil, fmt.Errorf("backup: header of %d bytes", len(hdr))
	}
	bw := &Writer{w: w, sum: sha256.New()}
	pre := make([]byte, 0, prefixSize+len(hdr))
	pre = append(pre, magic...)
	pre = append(pre, version)
	pre = binary.BigEndian.AppendUint32(pre, uint32(len(hdr)))
	pre = append(pre, hdr...)
	if err := bw.emit(pre); err != nil {
		return nil, err
	}
	bw.bw = bufio.NewWriterSize(chunker{bw}, maxChunk)
	return bw, nil
}

// emit writes b to the file and to the checksum.
func (w *Writer) emit(b []byte) error {
	if w.err != nil {
		return w.err
	}
	w.sum.Write(b)
	_, w.err = w.w.Write(b)
	return w.err
}

// chunker turns each buffered write into one chunk.
type chunker struct{ w *Writer }

func (c chunker) Write(p []byte) (int, error) {
	for rest := p; len(rest) > 0; {
		n := min(len(rest), maxChunk)
		var l [4]byte
		binary.BigEndian.PutUint32(l[:], uint32(n))
		if err := c.w.emit(l[:]); err != nil {
			return 0, err
		}
		if err := c.w.emit(rest[:n]); err != nil {
			return 0, err
		}
		rest = rest[n:]
	}
	return len(p), nil
}

// Write adds snapshot stream bytes.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	return w.bw.Write(p)
}

// Close flushes the last chunk and writes the end mark and the trailer.
// It does not close the underlying writer.
func (w *Writer) Close() error {
	if err := w.bw.Flush(); err != nil {
		return err
	}
	if err := w.emit([]byte{0, 0, 0, 0}); err != nil {
		return err
	}
	if w.err != nil {
		return w.err
	}
	_, w.err = w.w.Write(w.sum.Sum(nil))
	return w.err
}

// Reader reads one backup file: NewReader reads and checks the prefix and
// header; Read returns the snapshot stream, ending with io.EOF at the end
// mark once the trailer has been checked. It is not safe for concurrent
// use.
type Reader struct {
	// Header is the file's header.
	Header Header

	r     io.Reader
	sum   hash.Hash
	left  int // bytes left in the current chunk
	done  bool
	err   error
	total int64 // bytes consumed from r
}

// NewReader reads the prefix and header of a backup from r.
func NewReader(r io.Reader) (*Reader, error) {
	br := &Reader{r: r, sum: sha256.New()}
	pre := make([]byte, prefixSize)
	if err := br.full(pre); err != nil {
		if n := min(int(br.total), len(magic)); string(pre[:n]) != magic[:n] {
			return nil, ErrBadMagic
		}
		return nil, err
	}
	if string(pre[:len(magic)]) != magic {
		return nil, ErrBadMagic
	}
	if v := pre[len(magic)]; v != version {
		return nil, fmt.Errorf("%w: version %d, this program reads version %d", ErrVersion, v, version)
	}
	n := binary.BigEndian.Uint32(pre[len(magic)+1:])
	if n == 0 || n > maxHeader {
		return nil, fmt.Errorf("%w: header length %d", ErrHeader, n)
	}
	hdr := make([]byte, n)
	if err := br.full(hdr); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(hdr, &br.Header); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHeader, err)
	}
	return br, nil
}

// full reads len(b) bytes into b and the checksum; a short read is
// ErrTruncated.
func (r *Reader) full(b []byte) error {
	n, err := io.ReadFull(r.r, b)
	r.total += int64(n)
	r.sum.Write(b[:n])
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: the file ends after %d bytes", ErrTruncated, r.total)
	}
	if err != nil {
		return fmt.Errorf("backup: read: %w", err)
	}
	return nil
}

// Read returns snapshot stream bytes. At the end mark it reads and checks
// the trailer and returns io.EOF, or ErrChecksum or ErrTruncated.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.done {
		return 0, io.EOF
	}
	if r.left == 0 {
		var l [4]byte
		if r.err = r.full(l[:]); r.err != nil {
			return 0, r.err
		}
		n := binary.BigEndian.Uint32(l[:])
		if n > maxChunk {
			// Corruption or a foreign file; the checksum would say the
			// same, but cannot be reached without trusting this length.
			r.err = fmt.Errorf("%w: a chunk of %d bytes at offset %d", ErrChecksum, n, r.total-4)
			return 0, r.err
		}
		if n == 0 {
			r.err = r.checkTrailer()
			if r.err != nil {
				return 0, r.err
			}
			r.done = true
			return 0, io.EOF
		}
		r.left = int(n)
	}
	p = p[:min(len(p), r.left)]
	if r.err = r.full(p); r.err != nil {
		return 0, r.err
	}
	r.left -= len(p)
	return len(p), nil
}

func (r *Reader) checkTrailer() error {
	want := r.sum.Sum(nil)
	got := make([]byte, sumSize)
	n, err := io.ReadFull(r.r, got)
	r.total += int64(n)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: the file ends after %d bytes, inside its checksum", ErrTruncated, r.total)
	}
	if err != nil {
		return fmt.Errorf("backup: read: %w", err)
	}
	if string(got) != string(want) {
		return fmt.Errorf("%w: SHA-256 %x recorded, %x computed", ErrChecksum, got, want)
	}
	var extra [1]byte
	if n, _ := r.r.Read(extra[:]); n > 0 {
		return fmt.Errorf("%w: bytes follow the checksum", ErrChecksum)
	}
	return nil
}

// Consumed returns how many bytes of the file have been read.
func (r *Reader) Consumed() int64 { return r.total }

// Verify reads a whole backup from r and checks its framing and checksum
// without loading anything, and returns its header.
func Verify(r io.Reader) (Header, error) {
	br, err := NewReader(r)
	if err != nil {
		return Header{}, err
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return br.Header, err
	}
	return br.Header, nil
}
