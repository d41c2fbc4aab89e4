package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/traceledger/traceledger/ledger"
)

// runVerify checks a provenance bundle offline: signatures, inclusion
// proofs, the checkpoint's cosignatures and the custody chain. It also
// remembers the last checkpoint it saw per ledger and checks that each new
// one extends it, reporting a rollback or a fork.
func runVerify(ctx context.Context, args []string) error {
	fs := newFlags("verify")
	trustFile := fs.String("trust", "", "file of trusted node keys (note verifier keys, one per line, as GET /v1/cluster lists them); default: the keys remembered for this ledger")
	tofu := fs.Bool("tofu", false, "trust on first use: with no keys remembered for this ledger, trust the bundle's own node keys and remember them")
	stateDir := fs.String("state-dir", "", "where checkpoints and keys seen are remembered (default: the user config dir)")
	nodeURL := fs.String("url", "", "node URL: verify GTIN LOT's provenance fetched from it")
	policyFile := fs.String("policy", "", "C2SP tlog-policy file: also require its quorum of outside witnesses' cosignatures on the bundle's checkpoint")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	policy, err := readWitnessPolicy("--policy", *policyFile)
	if err != nil {
		return err
	}
	var src string
	switch {
	case *nodeURL != "" && fs.NArg() == 2:
		src = strings.TrimRight(*nodeURL, "/") + "/v1/lots/" + url.PathEscape(fs.Arg(0)) + "/" + url.PathEscape(fs.Arg(1)) + "/provenance"
	case *nodeURL == "" && fs.NArg() == 1:
		src = fs.Arg(0)
	default:
		return errors.New("usage: traceledger verify [--trust KEYFILE] [--policy POLICYFILE] BUNDLE.json|URL, or traceledger verify --url URL GTIN LOT")
	}
	data, base, err := readBundle(ctx, src)
	if err != nil {
		return err
	}
	var b ledger.Bundle
	if err := json.Unmarshal(data, &b); err != nil {
		return fmt.Errorf("%s is not a provenance bundle: %w", src, err)
	}
	if *nodeURL != "" {
		// A server must not answer for one lot with another lot's bundle.
		gtin, err := ledger.NormalizeGTIN(fs.Arg(0))
		if err != nil {
			return err
		}
		if want := (ledger.LotRef{GTIN: gtin, Lot: fs.Arg(1)}); b.Lot != want {
			fmt.Printf("FAIL the server answered with the bundle of %s, not %s\n", b.Lot, want)
			return exitError(1)
		}
	}
	st, err := openState(*stateDir)
	if err != nil {
		return err
	}
	origin := checkpointOrigin(b.Checkpoint)
	trusted, how, err := trustedKeys(*trustFile, *tofu, st, origin, b.NodeKeys)
	if errors.Is(err, errUntrusted) {
		fmt.Printf("UNTRUSTED: %v\n", err)
		return exitError(2)
	}
	if err != nil {
		return err
	}
	cp, fails := ledger.VerifyBundle(&b, trusted)
	fmt.Printf("lot %s: %s, checkpoint %s size %d (%s)\n", b.Lot, count(len(b.Entries), "entry", "entries"), cp.Origin, cp.Size, how)
	if policy != nil {
		names, err := policy.CheckQuorum([]byte(b.Checkpoint))
		if err != nil {
			fails = append(fails, ledger.Failure{Seq: -1, What: fmt.Sprintf("witnesses: %v", err)})
		} else {
			fmt.Printf("witnesses: quorum %q met by %s\n", policy.Quorum(), strings.Join(names, ", "))
		}
	}
	if len(fails) > 0 {
		for _, f := range fails {
			fmt.Printf("FAIL %s\n", f)
		}
		return exitError(1)
	}
	if problem := st.observe(ctx, cp, base); problem != "" {
		fmt.Println(problem)
		if strings.HasPrefix(problem, "UNVERIFIED") {
			return exitError(4)
		}
		return exitError(3)
	}
	switch {
	case how == howTOFU:
		fmt.Printf("note: trusting this ledger's %s from now on (first use)\n", count(len(trusted), "node key", "node keys"))
		st.trust(origin, trusted)
	case *trustFile != "":
		// Remembered, so that a later --tofu cannot replace them.
		st.trust(origin, trusted)
	}
	if err := st.save(); err != nil {
		return err
	}
	if policy != nil {
		fmt.Println("OK: every signature, every inclusion proof, the checkpoint's cosignatures, the witness quorum, every lot's latest entry and the custody chain hold")
		return nil
	}
	fmt.Println("OK: every signature, every inclusion proof, the checkpoint's cosignatures, every lot's latest entry and the custody chain hold")
	return nil
}

// readBundle reads a bundle from a file or a URL; for a URL it also returns
// the server's base URL, used to fetch consistency proofs.
func readBundle(ctx context.Context, src string) ([]byte, string, error) {
	if !strings.HasPrefix(src, "http://") && !strings.HasPrefix(src, "https://") {
		data, err := os.ReadFile(src)
		return data, "", err
	}
	u, err := url.Parse(src)
	if err != nil {
		return nil, "", err
	}
	c, err := newClient(u.Scheme + "://" + u.Host)
	if err != nil {
		return nil, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("%s: %s: %s", src, resp.Status, serverMessage(data))
	}
	return data, c.base, nil
}

func checkpointOrigin(note string) string {
	origin, _, _ := strings.Cut(note, "\n")
	return origin
}

// readTrusted reads the keys of a --trust file; none without one.
func readTrusted(path string) ([]string, error) {
	if path == "" {
		return nil, nil
	}
	return readKeyFile(path)
}

func readKeyFile(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			keys = append(keys, l)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no keys", path)
	}
	return keys, nil
}

// errUntrusted: no keys to trust for this ledger.
// count writes n and the noun in the singular or the plural, as n says.
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

var errUntrusted = errors.New("no trusted node keys")

const howTOFU = "keys from the bundle itself, trusted on first use"

// trustedKeys picks the keys to trust: a --trust file, else the keys
// remembered for this ledger, else — only with --tofu — the bundle's own.
// Trusting a bundle's own keys by default would let anyone forge a ledger
// (a forged ledger always looks like a first use).
func trustedKeys(file string, tofu bool, st *verifyState, origin string, bundleKeys []string) ([]string, string, error) {
	if file != "" {
		keys, err := readKeyFile(file)
		return keys, "trusted keys from " + file, err
	}
	if l, ok := st.Ledgers[origin]; ok && len(l.Keys) > 0 {
		return l.Keys, "keys remembered for this ledger", nil
	}
	if !tofu {
		return nil, "", fmt.Errorf("%w for ledger %s: pass --trust KEYFILE (the checkpoint_key of each node, from GET /v1/cluster of a node you trust) or --tofu", errUntrusted, origin)
	}
	if len(bundleKeys) == 0 {
		return nil, "", fmt.Errorf("%w: the bundle names no node keys", errUntrusted)
	}
	return bundleKeys, howTOFU, nil
}

// verifyState is what verify remembers between runs, per ledger origin.
type verifyState struct {
	path    string
	Ledgers map[string]*seenLedger `json:"ledgers"`
}

type seenLedger struct {
	Keys []string `json:"keys,omitempty"`
	Size uint64   `json:"size"`
	Root string   `json:"root"` // base64
	Seen string   `json:"seen"`
}

func openState(dir string) (*verifyState, error) {
	if dir == "" {
		cfg, err := os.UserConfigDir()
		if err != nil {
			return nil, fmt.Errorf("no config dir (use --state-dir): %w", err)
		}
		dir = filepath.Join(cfg, "traceledger")
	}
	st := &verifyState{path: filepath.Join(dir, "checkpoints.json"), Ledgers: map[string]*seenLedger{}}
	data, err := os.ReadFile(st.path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("%s: %w", st.path, err)
	}
	if st.Ledgers == nil {
		st.Ledgers = map[string]*seenLedger{}
	}
	return st, nil
}

func (st *verifyState) trust(origin string, keys []string) {
	if l := st.Ledgers[origin]; l != nil {
		l.Keys = keys
	}
}

func (st *verifyState) save() error {
	if err := os.MkdirAll(filepath.Dir(st.path), 0o700); err != nil {
		return err
	}
	data, _ := json.MarshalIndent(st, "", "  ")
	tmp := st.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, st.path)
}

// observe compares a verified checkpoint with the last one seen for its
// ledger. Same size, other root: a fork. Another size: the two must be
// consistent (RFC 6962 consistency proof, fetched from base); if they are
// not, the log was rewritten. A smaller size that is consistent is an older
// view (a lagging node), not an attack; it is noted, and the larger
// checkpoint stays remembered. It returns a loud message, or "".
func (st *verifyState) observe(ctx context.Context, cp ledger.Checkpoint, base string) string {
	prev, ok := st.Ledgers[cp.Origin]
	remember := func() {
		keys := []string(nil)
		if ok {
			keys = prev.Keys
		}
		st.Ledgers[cp.Origin] = &seenLedger{Keys: keys, Size: cp.Size, Root: base64.StdEncoding.EncodeToString(cp.Root[:]), Seen: time.Now().UTC().Format(time.RFC3339)}
	}
	if !ok {
		remember()
		return ""
	}
	prevRoot, err := base64.StdEncoding.DecodeString(prev.Root)
	if err != nil || len(prevRoot) != ledger.HashSize {
		remember()
		return ""
	}
	var old ledger.Hash
	copy(old[:], prevRoot)
	switch {
	case cp.Size == prev.Size:
		if cp.Root != old {
			return fmt.Sprintf("FORK DETECTED: %s has two different trees of size %d (root %s seen %s, now %s)",
				cp.Origin, cp.Size, prev.Root, prev.Seen, base64.StdEncoding.EncodeToString(cp.Root[:]))
		}
		return ""
	case base == "":
		fmt.Printf("note: consistency with the checkpoint of size %d seen %s is checked when verifying from a URL\n", prev.Size, prev.Seen)
		if cp.Size > prev.Size {
			remember()
		}
		return ""
	}
	small, large := prev.Size, cp.Size
	smallRoot, largeRoot := old, cp.Root
	if cp.Size < prev.Size {
		small, large, smallRoot, largeRoot = cp.Size, prev.Size, cp.Root, old
	}
	err = checkConsistency(ctx, base, small, large, smallRoot, largeRoot)
	var unavailable *proofUnavailable
	switch {
	case errors.As(err, &unavailable) && cp.Size < prev.Size:
		// A lagging node cannot prove consistency with a larger tree it
		// has not seen; neither can a server that rolled back.
		return fmt.Sprintf("UNVERIFIED: %s shows size %d, older than the size %d seen %s, and offers no proof that the two agree (a lagging node, or a rollback): %v",
			cp.Origin, cp.Size, prev.Size, prev.Seen, unavailable.err)
	case errors.As(err, &unavailable):
		return fmt.Sprintf("UNVERIFIED: no proof that %s of size %d extends the size %d seen %s: %v", cp.Origin, cp.Size, prev.Size, prev.Seen, unavailable.err)
	case err != nil && cp.Size < prev.Size:
		return fmt.Sprintf("ROLLBACK DETECTED: %s now shows size %d, but size %d was seen %s and the two are not consistent: %v",
			cp.Origin, cp.Size, prev.Size, prev.Seen, err)
	case err != nil:
		return fmt.Sprintf("FORK DETECTED: %s of size %d does not extend the size %d seen %s: %v", cp.Origin, cp.Size, prev.Size, prev.Seen, err)
	}
	if cp.Size < prev.Size {
		fmt.Printf("note: this server shows an older checkpoint (size %d) than one seen before (size %d); they are consistent\n", cp.Size, prev.Size)
		return ""
	}
	remember()
	return ""
}

func checkConsistency(ctx context.Context, base string, old, new uint64, oldRoot, newRoot ledger.Hash) error {
	c, err := newClient(base)
	if err != nil {
		return err
	}
	var p struct {
		Proof []string `json:"proof"`
	}
	if err := c.getJSON(ctx, fmt.Sprintf("/v1/proofs/consistency?old=%d&new=%d", old, new), &p); err != nil {
		return &proofUnavailable{err}
	}
	proof, err := ledger.DecodeProof(p.Proof)
	if err != nil {
		return err
	}
	return ledger.CheckConsistency(proof, old, oldRoot, new, newRoot)
}

// proofUnavailable: the server gave no consistency proof (unreachable, or
// it does not hold the larger tree). Only a proof that fails its check
// proves a fork or a rollback.
type proofUnavailable struct{ err error }

func (p *proofUnavailable) Error() string { return "no consistency proof: " + p.err.Error() }

// readWitnessPolicy reads a C2SP tlog-policy file named by flag; nil
// without one.
func readWitnessPolicy(flag, path string) (*ledger.WitnessPolicy, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	p, err := ledger.ParseWitnessPolicy(data)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	return p, nil
}
