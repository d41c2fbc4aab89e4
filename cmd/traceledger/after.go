package main

// Filling "after" on transfers and receives: the digest of the latest
// record on the lot the signer saw, so that the ledger refuses the record
// (409 stale) if the lot changed between signing and submission.

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/traceledger/traceledger/ledger"
)

// afterSource finds the lot's latest record for a record being signed.
type afterSource struct {
	client  *client // nil: do not ask a server
	history []string
	key     *ecdsa.PrivateKey
	note    io.Writer // where to say what was done
}

// fill sets rec["after"] on a transfer or a receive that has none. It asks
// the server for the lot's latest entry; when the server cannot be
// reached, it takes the latest record on the lot signed by the same key
// among the envelopes in history; failing both it leaves "after" out and
// says so.
func (s *afterSource) fill(ctx context.Context, rec map[string]any) error {
	typ, _ := rec["type"].(string)
	if typ != ledger.TypeTransfer && typ != ledger.TypeReceive {
		return nil
	}
	if _, ok := rec["after"]; ok {
		return nil
	}
	lot, _ := rec["lot"].(map[string]any)
	g, _ := lot["gtin"].(string)
	code, _ := lot["lot"].(string)
	gtin, err := ledger.NormalizeGTIN(g)
	if err != nil || ledger.CheckLot(code) != nil {
		return nil // the ledger's own checks will word it
	}
	ref := ledger.LotRef{GTIN: gtin, Lot: code}
	if s.client != nil {
		d, err := s.client.latestDigest(ctx, ref)
		switch {
		case err == nil:
			rec["after"] = d
			return nil
		case !errors.Is(err, errUnreachable):
			return fmt.Errorf("after: %w", err)
		}
		fmt.Fprintf(s.note, "note: %s is unreachable (%v)\n", s.client.base, errors.Unwrap(err))
	}
	d, file, err := latestOwnRecord(s.history, ledger.AddressOf(s.key).Hex(), ref)
	if err != nil {
		fmt.Fprintf(s.note, "note: cannot read the records at hand: %v\n", err)
	}
	if d != "" {
		rec["after"] = d
		fmt.Fprintf(s.note, "note: \"after\" names your record on %s in %s; the ledger refuses the %s if the lot changed since\n", ref, file, typ)
		return nil
	}
	fmt.Fprintf(s.note, "note: no \"after\": neither the server nor a record of yours on %s at hand; the ledger will not check that the lot is unchanged\n", ref)
	return nil
}

// errUnreachable wraps a failure to reach the server at all.
var errUnreachable = errors.New("server unreachable")

// latestDigest returns the digest of the record of ref's latest entry,
// read linearizably (a lagging follower would give a stale answer).
func (c *client) latestDigest(ctx context.Context, ref ledger.LotRef) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	path := "/v1/lots/" + url.PathEscape(ref.GTIN) + "/" + url.PathEscape(ref.Lot) + "?consistency=linearizable"
	var last []byte
	for from := ""; ; {
		status, body, _, err := c.do(ctx, http.MethodGet, path+from, nil)
		if err != nil {
			return "", fmt.Errorf("%w: %w", errUnreachable, err)
		}
		if status == http.StatusServiceUnavailable || status >= 500 {
			return "", fmt.Errorf("%w: %d %s", errUnreachable, status, serverMessage(body))
		}
		if status != http.StatusOK {
			return "", fmt.Errorf("lot %s: %s: %s", ref, http.StatusText(status), serverMessage(body))
		}
		var v ledger.LotView
		if err := json.Unmarshal(body, &v); err != nil {
			return "", fmt.Errorf("lot %s: %w", ref, err)
		}
		if len(v.Entries) > 0 {
			last = v.Entries[len(v.Entries)-1].Record
		}
		if v.Next == nil {
			break
		}
		from = "&from=" + strconv.FormatUint(*v.Next, 10)
	}
	if last == nil {
		return "", fmt.Errorf("lot %s has no entries", ref)
	}
	return ledger.RecordDigest(last), nil
}

// latestOwnRecord looks through the envelopes in paths for records on ref
// signed by signer, and returns the digest of the latest of them (by the
// record's time; the later file on a tie) and its file, or "" if none.
// Envelopes that do not verify are skipped.
func latestOwnRecord(paths []string, signer string, ref ledger.LotRef) (string, string, error) {
	if len(paths) == 0 {
		return "", "", nil
	}
	envs, err := readEnvelopes(paths)
	if err != nil {
		return "", "", err
	}
	var best, file string
	var bestTime time.Time
	for _, p := range envs {
		env, err := decodeEnvelopeFile(p.env)
		if err != nil {
			continue
		}
		adm, err := ledger.Admit(env, time.Time{})
		if err != nil || adm.Signer.Hex() != signer {
			continue
		}
		names := false
		for _, l := range adm.Record.Lots() {
			names = names || l == ref
		}
		t, _ := ledger.ParseTime(adm.Record.Time)
		if names && !t.Before(bestTime) {
			best, file, bestTime = ledger.RecordDigest(adm.Canonical), p.file, t
		}
	}
	return best, file, nil
}

// decodeEnvelopeFile reads one envelope with exactly the members "record"
// and "signature" (a map keeps names as written; encoding/json's struct
// matching would not).
func decodeEnvelopeFile(raw []byte) (ledger.Envelope, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return ledger.Envelope{}, err
	}
	var env ledger.Envelope
	if len(m) != 2 || m["record"] == nil || json.Unmarshal(m["signature"], &env.Signature) != nil {
		return env, errors.New(`not an envelope {"record", "signature"}`)
	}
	env.Record = m["record"]
	return env, nil
}
