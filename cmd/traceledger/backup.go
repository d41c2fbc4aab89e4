package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/traceledger/traceledger/api"
	"github.com/traceledger/traceledger/ledger/backup"
	"github.com/traceledger/traceledger/ledger/badgerkv"
	"github.com/traceledger/traceledger/node"
)

// runBackup streams GET /v1/backup from a running node into a file. The
// file is written as FILE.partial, its framing and checksum checked as the
// bytes arrive (ledger/backup), synced, and only then renamed to FILE:
// a backup that was cut short or corrupted in transit never takes a
// backup's name.
func runBackup(ctx context.Context, args []string) error {
	fs := newFlags("backup")
	base := fs.String("url", defaultURL(), "node to take the backup from")
	out := fs.String("out", "", "backup file to write (must not exist)")
	secretFile := fs.String("cluster-secret-file", "", "file holding the cluster secret (or set TRACELEDGER_CLUSTER_SECRET): backups need it")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out FILE is required")
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("%s exists; choose another name or remove it first", *out)
	}
	secret, err := clusterSecret(*secretFile)
	if err != nil {
		return err
	}
	if secret == "" {
		return errors.New("a backup needs the cluster secret: --cluster-secret-file FILE or TRACELEDGER_CLUSTER_SECRET")
	}
	c, err := newClient(*base)
	if err != nil {
		return err
	}
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/backup", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	// No overall timeout: a large backup takes as long as it takes. The
	// server cuts a stalled transfer; Ctrl-C cuts this end.
	resp, err := (&http.Client{Transport: c.http.Transport}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return fmt.Errorf("%s: %s", resp.Status, serverMessage(body))
	}
	if ct := resp.Header.Get("Content-Type"); ct != api.BackupContentType {
		return fmt.Errorf("%s answered %q, not a backup", *base, ct)
	}

	partial := *out + ".partial"
	f, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(partial)
		}
	}()
	counted := &progressReader{r: io.TeeReader(resp.Body, f)}
	br, err := backup.NewReader(counted)
	if err != nil {
		return fmt.Errorf("%s sent no backup: %w", *base, err)
	}
	h := br.Header
	counted.bar = newBar(h.Estimate, "backup", true)
	counted.bar.Add64(br.Consumed())
	if _, err := io.Copy(io.Discard, br); err != nil {
		counted.bar.Exit()
		return fmt.Errorf("backup transfer: %w", err)
	}
	counted.bar.Finish()
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(partial, *out); err != nil {
		return err
	}
	ok = true
	fmt.Printf("backup of %s from node %s: %d entries, checkpoint of size %d, Raft index %d\n", h.Origin, h.Node, h.Size, h.CheckpointSize, h.Applied)
	fmt.Printf("wrote %s: %d bytes in %s\n", *out, br.Consumed(), time.Since(start).Round(time.Millisecond))
	return nil
}

// runRestore prepares a data directory from a backup file: a node started
// on it with serve --bootstrap is a new single-node cluster holding the
// backup's ledger. The file is read twice: once to check its framing and
// checksum, once to load it; the loaded state is then checked against the
// header and its checkpoint (backup.Restore). On any failure what restore
// created is removed.
func runRestore(ctx context.Context, args []string) error {
	fs := newFlags("restore")
	from := fs.String("from", "", "backup file (traceledger backup)")
	dataDir := fs.String("data", "", "data directory to create for the new node (must hold no node's data)")
	trustFile := fs.String("trust", "", "file of node keys the backup's checkpoint must be signed by (a majority); default: the keys the backup names")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *from == "" || *dataDir == "" {
		return errors.New("--from FILE and --data DIR are required")
	}
	trusted, err := readTrusted(*trustFile)
	if err != nil {
		return err
	}
	for _, d := range []string{node.StateDir(*dataDir), node.RaftDir(*dataDir)} {
		if _, err := os.Stat(d); err == nil {
			return fmt.Errorf("%s already holds a node's data (%s); restore into a new directory", *dataDir, d)
		}
	}
	start := time.Now()
	f, err := os.Open(*from)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	check := func(what string) (*backup.Reader, *progressReader, error) {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, nil, err
		}
		pr := &progressReader{r: f, bar: newBar(st.Size(), what, true)}
		br, err := backup.NewReader(pr)
		if err != nil {
			pr.bar.Exit()
			return nil, nil, fmt.Errorf("%s: %w", *from, err)
		}
		return br, pr, nil
	}
	br, pr, err := check("check")
	if err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		pr.bar.Exit()
		return fmt.Errorf("%s: %w", *from, err)
	}
	pr.bar.Finish()
	if br, pr, err = check("restore"); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	created := false
	if _, err := os.Stat(*dataDir); errors.Is(err, os.ErrNotExist) {
		created = true
	}
	cleanup := func() {
		os.RemoveAll(node.StateDir(*dataDir))
		if created {
			os.RemoveAll(*dataDir)
		}
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return err
	}
	db, err := badgerkv.Open(badgerkv.Options{Dir: node.StateDir(*dataDir)})
	if err != nil {
		cleanup()
		return err
	}
	signers, err := backup.Restore(db, br, trusted)
	pr.bar.Finish()
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		cleanup()
		return fmt.Errorf("%s: %w", *from, err)
	}
	h := br.Header
	keys := fmt.Sprintf("%d node keys named in the backup (give --trust to check against keys you hold)", len(h.Keys))
	if len(trusted) > 0 {
		keys = fmt.Sprintf("%d trusted keys in %s", len(trusted), *trustFile)
	}
	fmt.Printf("restored %s into %s: %d entries, root %s (%s)\n", h.Origin, *dataDir, h.Size, h.Root, time.Since(start).Round(time.Millisecond))
	fmt.Printf("checkpoint of size %d signed by %s, of the %s\n", h.CheckpointSize, strings.Join(signers, ", "), keys)
	fmt.Printf("start it as a new single-node cluster:\n  traceledger serve --data %s --node-id ID --bootstrap [--http …] [--raft …]\n", shellQuote(*dataDir))
	return nil
}

// progressReader advances bar by the bytes read through it. An estimate
// that proves short is raised as the bytes go past it.
type progressReader struct {
	r   io.Reader
	bar *progressbar.ProgressBar // nil until the total is known
	n   int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.bar != nil && n > 0 {
		if max := p.bar.GetMax64(); max > 0 && p.n > max {
			p.bar.ChangeMax64(p.n + p.n/8)
		}
		p.bar.Add(n)
	}
	return n, err
}

// shellQuote quotes a path for a command line printed to copy.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
