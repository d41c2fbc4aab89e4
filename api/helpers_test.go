package api_test

// Shared fixture of the handler tests: the API server over a fake
// one-member cluster (apitest.Cluster: the ledger's own Apply over a
// MemStore, no Raft) on an httptest server, and the signing helpers the
// tests build envelopes with.

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/traceledger/traceledger/api"
	"github.com/traceledger/traceledger/api/apitest"
	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/testnet/harness"
)

// fixture is one running node and the keys of a small supply chain.
type fixture struct {
	t       *testing.T
	cluster *apitest.Cluster
	url     string
	client  *http.Client

	admin, producer, distributor, retailer, inspector *ecdsa.PrivateKey
	ids                                               *int
}

// with returns the fixture reporting to t, for use inside a subtest.
func (f *fixture) with(t *testing.T) *fixture {
	c := *f
	c.t = t
	return &c
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func addr(k *ecdsa.PrivateKey) string { return ledger.AddressOf(k).Hex() }

// startNode starts the API over a fake cluster whose genesis admin is
// f.admin. The participants (producer, distributor, retailer, inspector)
// are registered by the genesis admin.
func startNode(t *testing.T) *fixture {
	t.Helper()
	return startNodeWith(t, nil)
}

// startNodeWith is startNode with the API's configuration adjusted by
// tune (nil: unchanged).
func startNodeWith(t *testing.T, tune func(*api.Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, ids: new(int), client: &http.Client{Timeout: 30 * time.Second},
		admin: newKey(t), producer: newKey(t), distributor: newKey(t), retailer: newKey(t), inspector: newKey(t)}
	c, err := apitest.NewCluster([]common.Address{ledger.AddressOf(f.admin)})
	if err != nil {
		t.Fatalf("fake cluster: %v", err)
	}
	cfg := api.Config{Cluster: c}
	if tune != nil {
		tune(&cfg)
	}
	s, err := api.New(cfg)
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	f.cluster, f.url = c, srv.URL
	f.register(f.producer, "producer")
	f.register(f.distributor, "distributor")
	f.register(f.retailer, "retailer")
	f.register(f.inspector, "inspector")
	return f
}

// waitFor polls cond until it holds or a deadline passes.
func (f *fixture) waitFor(what string, cond func() bool) {
	f.t.Helper()
	harness.Wait(f.t, 30*time.Second, what, cond)
}

type clusterView struct {
	State string `json:"state"`
	Size  uint64 `json:"ledger_size"`
	Head  string `json:"ledger_head"`
}

func (f *fixture) tryCluster() (clusterView, bool) {
	var c clusterView
	resp, err := f.client.Get(f.url + "/v1/cluster")
	if err != nil {
		return c, false
	}
	defer resp.Body.Close()
	return c, resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&c) == nil
}

// head returns the ledger size and Merkle root the node reports.
func (f *fixture) head() (uint64, string) {
	f.t.Helper()
	c, ok := f.tryCluster()
	if !ok {
		f.t.Fatal("GET /v1/cluster failed")
	}
	return c.Size, c.Head
}

// do sends one request; body may be nil.
func (f *fixture) do(method, path, contentType string, body []byte) (int, http.Header, []byte) {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, f.url+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}

func (f *fixture) get(path string) (int, []byte) {
	f.t.Helper()
	status, _, b := f.do(http.MethodGet, path, "", nil)
	return status, b
}

// post sends v (raw bytes, or anything JSON-marshalable) to /v1/records.
func (f *fixture) post(v any) (int, []byte) {
	f.t.Helper()
	status, _, b := f.do(http.MethodPost, "/v1/records", "application/json", asJSON(f.t, v))
	return status, b
}

func asJSON(t *testing.T, v any) []byte {
	t.Helper()
	if b, ok := v.([]byte); ok {
		return b
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// accept posts an envelope and requires a 201.
func (f *fixture) accept(env ledger.Envelope) api.Accepted {
	f.t.Helper()
	status, body := f.post(env)
	if status != http.StatusCreated {
		f.t.Fatalf("POST /v1/records: %d %s, want 201", status, body)
	}
	var a api.Accepted
	mustDecode(f.t, body, &a)
	return a
}

func mustDecode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

// nextID returns a record id not used before by this fixture.
func (f *fixture) nextID(prefix string) string {
	*f.ids++
	return fmt.Sprintf("%s-%d", prefix, *f.ids)
}

// record returns a record of typ signed by key, with the four common fields
// filled and fields added.
func (f *fixture) record(key *ecdsa.PrivateKey, typ string, fields map[string]any) map[string]any {
	rec := map[string]any{"type": typ, "id": f.nextID(typ), "signer": addr(key), "time": "2026-06-12T05:30:00+07:00"}
	for k, v := range fields {
		rec[k] = v
	}
	return rec
}

func sign(t *testing.T, key *ecdsa.PrivateKey, rec map[string]any) ledger.Envelope {
	t.Helper()
	raw, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	env, err := ledger.SignEnvelope(key, raw)
	if err != nil {
		t.Fatalf("SignEnvelope: %v", err)
	}
	return env
}

func (f *fixture) register(key *ecdsa.PrivateKey, roles ...string) api.Accepted {
	f.t.Helper()
	return f.accept(sign(f.t, f.admin, f.record(f.admin, "participant",
		map[string]any{"address": addr(key), "name": "Participant " + strings.Join(roles, "+"), "roles": roles})))
}

// gtin14 completes a 13-digit body with its check digit.
func gtin14(body string) string { return body + string(ledger.CheckDigit(body)) }

func lotRef(gtin, lot string) map[string]string { return map[string]string{"gtin": gtin, "lot": lot} }

func (f *fixture) harvestRec(key *ecdsa.PrivateKey, gtin, lot string, amount int) map[string]any {
	return f.record(key, "harvest", map[string]any{
		"lot":      lotRef(gtin, lot),
		"product":  map[string]any{"name": "Vải thiều Lục Ngạn"},
		"quantity": map[string]any{"amount": amount, "unit": "KGM"},
		"place":    map[string]any{"name": "Phì Điền, Lục Ngạn", "province": "Bắc Giang"},
	})
}

func (f *fixture) harvest(key *ecdsa.PrivateKey, gtin, lot string) ledger.Envelope {
	return sign(f.t, key, f.harvestRec(key, gtin, lot, 500))
}

func (f *fixture) transfer(key *ecdsa.PrivateKey, gtin, lot string, to *ecdsa.PrivateKey) ledger.Envelope {
	return sign(f.t, key, f.record(key, "transfer", map[string]any{"lot": lotRef(gtin, lot), "to": addr(to)}))
}

func (f *fixture) receive(key *ecdsa.PrivateKey, gtin, lot string) ledger.Envelope {
	return sign(f.t, key, f.record(key, "receive", map[string]any{"lot": lotRef(gtin, lot)}))
}

// tampered re-encodes env's record with one field changed, keeping the
// signature: the signature then recovers to some other address.
func tampered(t *testing.T, env ledger.Envelope, field string, value any) ledger.Envelope {
	t.Helper()
	var rec map[string]any
	mustDecode(t, env.Record, &rec)
	rec[field] = value
	return ledger.Envelope{Record: asJSON(t, rec), Signature: env.Signature}
}

// highS returns the malleated twin (r, n−s, v^1) of env's signature: it
// verifies mathematically, and the ledger must refuse it (EIP-2).
func highS(t *testing.T, env ledger.Envelope) ledger.Envelope {
	t.Helper()
	sig, err := ledger.ParseSignature(env.Signature)
	if err != nil {
		t.Fatal(err)
	}
	s := new(big.Int).SetBytes(sig[32:64])
	s.Sub(crypto.S256().Params().N, s)
	out := make([]byte, 65)
	copy(out, sig[:32])
	s.FillBytes(out[32:64])
	out[64] = 27 + (1 - (sig[64] - 27))
	return ledger.Envelope{Record: env.Record, Signature: fmt.Sprintf("0x%x", out)}
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// checkErrorBody checks the one error shape of the API:
// {"error": {"code": "snake_case", "message": "…"}} and nothing else.
func checkErrorBody(t *testing.T, header http.Header, body []byte) {
	t.Helper()
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type %q, want application/json", ct)
	}
	var e struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error == nil {
		t.Errorf("error body %q is not {\"error\":{\"code\",\"message\"}}: %v", body, err)
		return
	}
	if !snakeCase.MatchString(e.Error.Code) {
		t.Errorf("error code %q is not snake_case", e.Error.Code)
	}
	if strings.TrimSpace(e.Error.Message) == "" {
		t.Errorf("error message is empty in %s", body)
	}
}
