package api_test

// POST /v1/records answers (DESIGN §3.2, §3.4): 201 for a new entry, 200
// with the same body for an identical envelope, and a per-envelope answer
// for a batch.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/traceledger/traceledger/api"
	"github.com/traceledger/traceledger/ledger"
)

func TestPostSingleEnvelope(t *testing.T) {
	f := startNode(t)
	g := gtin14("0893600010001")
	env := f.harvest(f.producer, g, "LN2606A")

	size0, _ := f.head()
	status, first := f.post(env)
	if status != http.StatusCreated {
		t.Fatalf("first POST: %d %s, want 201", status, first)
	}
	var keys map[string]json.RawMessage
	mustDecode(t, first, &keys)
	if len(keys) != 3 || keys["seq"] == nil || keys["hash"] == nil || keys["signer"] == nil {
		t.Errorf("201 body %s is not {seq, hash, signer}", first)
	}
	var a api.Accepted
	mustDecode(t, first, &a)
	if a.Seq != size0 {
		t.Errorf("seq %d, want the next position %d", a.Seq, size0)
	}
	if len(a.Hash) != 66 || !strings.HasPrefix(a.Hash, "0x") {
		t.Errorf("hash %q is not 0x and 64 hex digits", a.Hash)
	}
	if !strings.EqualFold(a.Signer, addr(f.producer)) {
		t.Errorf("signer %s, want %s", a.Signer, addr(f.producer))
	}
	size1, head1 := f.head()
	if size1 != size0+1 {
		t.Errorf("ledger size %d after one new entry, want %d", size1, size0+1)
	}

	// The entry the answer names is the one stored.
	status, body := f.get("/v1/entries/" + strconv.FormatUint(a.Seq, 10))
	if status != http.StatusOK {
		t.Fatalf("GET entry %d: %d %s", a.Seq, status, body)
	}
	var e ledger.EntryView
	mustDecode(t, body, &e)
	if e.Hash != a.Hash || e.Type != "harvest" || !strings.EqualFold(e.Signer, a.Signer) || e.Signature != env.Signature {
		t.Errorf("stored entry %+v does not match the answer %+v", e, a)
	}

	// Resubmitting the identical envelope, even several times, is answered
	// 200 with the same body and changes nothing.
	for i := range 3 {
		status, again := f.post(env)
		if status != http.StatusOK {
			t.Fatalf("resubmission %d: %d %s, want 200", i, status, again)
		}
		var b api.Accepted
		mustDecode(t, again, &b)
		if !same(b, a) {
			t.Errorf("resubmission %d answered %+v, want %+v", i, b, a)
		}
	}
	if size, head := f.head(); size != size1 || head != head1 {
		t.Errorf("resubmissions changed the ledger: size %d→%d head %s→%s", size1, size, head1, head)
	}

	// Idempotency is recognised before the rules: the lot has moved on,
	// and the original harvest is still answered 200.
	f.accept(f.transfer(f.producer, g, "LN2606A", f.distributor))
	if status, again := f.post(env); status != http.StatusOK {
		t.Errorf("harvest resubmitted after a transfer: %d %s, want 200", status, again)
	}
}

// batchCase is one envelope of a batch and the status it must get.
type batchCase struct {
	name string
	env  any // ledger.Envelope or raw JSON
	want int
}

func TestPostBatch(t *testing.T) {
	f := startNode(t)
	g := gtin14("0893600010001")
	existing := f.harvest(f.producer, g, "EXIST1")
	prev := f.accept(existing)

	fresh := f.harvest(f.producer, g, "NEW1")
	badGTIN := f.harvest(f.producer, "08936000100010", "BAD1") // wrong check digit
	good := f.harvest(f.producer, g, "TAMPER1")
	cases := []batchCase{
		{"new harvest", fresh, http.StatusCreated},
		{"wrong GTIN check digit", badGTIN, http.StatusBadRequest},
		{"record changed after signing", tampered(t, good, "id", "other-id"), http.StatusUnauthorized},
		{"high-S twin", highS(t, good), http.StatusUnauthorized},
		{"distributor harvests", f.harvest(f.distributor, g, "DIST1"), http.StatusForbidden},
		{"transfer of an unknown lot", f.transfer(f.producer, g, "NOSUCH", f.distributor), http.StatusNotFound},
		{"harvest of an existing lot", f.harvest(f.producer, g, "EXIST1"), http.StatusConflict},
		{"identical to an earlier request", existing, http.StatusOK},
		{"transfer of the lot harvested earlier in this batch", f.transfer(f.producer, g, "NEW1", f.distributor), http.StatusCreated},
		{"not an envelope", json.RawMessage(`"just a string"`), http.StatusBadRequest},
		{"unknown envelope field", json.RawMessage(`{"record":{},"signature":"0x00","extra":1}`), http.StatusBadRequest},
		{"missing signature", json.RawMessage(`{"record":` + string(fresh.Record) + `}`), http.StatusBadRequest},
	}
	raws := make([]any, len(cases))
	for i, c := range cases {
		raws[i] = c.env
	}
	size0, _ := f.head()
	status, body := f.post(map[string]any{"records": raws})
	if status != http.StatusOK {
		t.Fatalf("batch: %d %s, want 200", status, body)
	}
	var ans api.BatchAnswer
	mustDecode(t, body, &ans)
	if len(ans.Results) != len(cases) {
		t.Fatalf("batch of %d answered with %d results: %s", len(cases), len(ans.Results), body)
	}
	created, accepted := 0, 0
	for i, c := range cases {
		it := ans.Results[i]
		if it.Status != c.want {
			t.Errorf("item %d (%s): status %d, want %d: %+v", i, c.name, it.Status, c.want, it.Error)
			continue
		}
		switch {
		case c.want == http.StatusCreated || c.want == http.StatusOK:
			accepted++
			if c.want == http.StatusCreated {
				created++
			}
			if it.Accepted == nil || it.Error != nil || len(it.Hash) != 66 {
				t.Errorf("item %d (%s): accepted item without seq/hash or with an error: %+v", i, c.name, it)
			}
		default:
			if it.Error == nil || !snakeCase.MatchString(it.Error.Code) || it.Error.Message == "" || it.Accepted != nil {
				t.Errorf("item %d (%s): refused item without a proper error: %+v", i, c.name, it)
			}
		}
	}
	if ans.Results[7].Accepted != nil && !same(*ans.Results[7].Accepted, prev) {
		t.Errorf("resubmitted envelope answered %+v, want the original %+v", *ans.Results[7].Accepted, prev)
	}
	if ans.Accepted != accepted || ans.Rejected != len(cases)-accepted {
		t.Errorf("counts accepted=%d rejected=%d, want %d and %d", ans.Accepted, ans.Rejected, accepted, len(cases)-accepted)
	}
	// Refused envelopes changed nothing: exactly one entry per 201.
	if size, _ := f.head(); size != size0+uint64(created) {
		t.Errorf("ledger size %d after the batch, want %d (+%d new entries)", size, size0+uint64(created), created)
	}
	// New entries take consecutive positions in the order of the batch.
	if ans.Results[0].Accepted != nil && ans.Results[8].Accepted != nil && ans.Results[8].Seq != ans.Results[0].Seq+1 {
		t.Errorf("seqs %d and %d of the two new entries are not consecutive", ans.Results[0].Seq, ans.Results[8].Seq)
	}
}

func TestPostBatchEdgeCases(t *testing.T) {
	f := startNode(t)
	g := gtin14("0893600010001")
	tests := []struct {
		name string
		envs func(f *fixture) []ledger.Envelope
		want []int
	}{
		{"a batch of one", func(f *fixture) []ledger.Envelope { return []ledger.Envelope{f.harvest(f.producer, g, "ONE")} },
			[]int{http.StatusCreated}},
		{"the same envelope twice in one batch", func(f *fixture) []ledger.Envelope {
			e := f.harvest(f.producer, g, "TWICE")
			return []ledger.Envelope{e, e}
		}, []int{http.StatusCreated, http.StatusOK}},
		{"two harvests of one new lot", func(f *fixture) []ledger.Envelope {
			return []ledger.Envelope{f.harvest(f.producer, g, "RACE"), f.harvest(f.producer, g, "RACE")}
		}, []int{http.StatusCreated, http.StatusConflict}},
		{"two transfers of one lot (double transfer)", func(f *fixture) []ledger.Envelope {
			f.accept(f.harvest(f.producer, g, "DOUBLE"))
			return []ledger.Envelope{f.transfer(f.producer, g, "DOUBLE", f.distributor), f.transfer(f.producer, g, "DOUBLE", f.retailer)}
		}, []int{http.StatusCreated, http.StatusConflict}},
		{"GTIN-13 and GTIN-14 name the same lot", func(f *fixture) []ledger.Envelope {
			return []ledger.Envelope{f.harvest(f.producer, g[1:], "G13"), f.harvest(f.producer, g, "G13"),
				f.transfer(f.producer, g, "G13", f.distributor), f.receive(f.distributor, g[1:], "G13")}
		}, []int{http.StatusCreated, http.StatusConflict, http.StatusCreated, http.StatusCreated}},
		{"harvest, transfer and receive in one batch", func(f *fixture) []ledger.Envelope {
			return []ledger.Envelope{f.harvest(f.producer, g, "CHAIN"), f.transfer(f.producer, g, "CHAIN", f.distributor), f.receive(f.distributor, g, "CHAIN")}
		}, []int{http.StatusCreated, http.StatusCreated, http.StatusCreated}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := f.with(t)
			envs := tc.envs(f)
			size0, _ := f.head()
			status, body := f.post(map[string]any{"records": envs})
			if status != http.StatusOK {
				t.Fatalf("batch: %d %s, want 200", status, body)
			}
			var ans api.BatchAnswer
			mustDecode(t, body, &ans)
			if len(ans.Results) != len(tc.want) {
				t.Fatalf("%d results, want %d: %s", len(ans.Results), len(tc.want), body)
			}
			created := 0
			for i, w := range tc.want {
				if ans.Results[i].Status != w {
					t.Errorf("item %d: status %d, want %d (%s)", i, ans.Results[i].Status, w, body)
				}
				if w == http.StatusCreated {
					created++
				}
			}
			if len(tc.want) == 2 && tc.want[1] == http.StatusOK && ans.Results[0].Accepted != nil && ans.Results[1].Accepted != nil &&
				!same(*ans.Results[0].Accepted, *ans.Results[1].Accepted) {
				t.Errorf("the duplicate was answered %+v, the original %+v", *ans.Results[1].Accepted, *ans.Results[0].Accepted)
			}
			if size, _ := f.head(); size != size0+uint64(created) {
				t.Errorf("ledger size %d, want %d", size, size0+uint64(created))
			}
		})
	}
}

func TestPostAcceptedEncodings(t *testing.T) {
	f := startNode(t)
	g := gtin14("0893600010001")
	tests := []struct {
		name        string
		contentType string
		sig         func(string) string
	}{
		{"v as 27/28", "application/json", func(s string) string { return s }},
		{"v as 0/1", "application/json", func(s string) string {
			b, _ := ledger.ParseSignature(s)
			b[64] -= 27
			return fmt.Sprintf("0x%x", b)
		}},
		{"upper-case hex", "application/json", func(s string) string { return "0X" + strings.ToUpper(s[2:]) }},
		{"charset=UTF-8", "application/json; charset=UTF-8", func(s string) string { return s }},
		{"application/ld+json", "application/ld+json", func(s string) string { return s }},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := f.with(t)
			env := f.harvest(f.producer, g, "ENC"+strconv.Itoa(i))
			env.Signature = tc.sig(env.Signature)
			status, _, body := f.do(http.MethodPost, "/v1/records", tc.contentType, asJSON(t, env))
			if status != http.StatusCreated {
				t.Errorf("%d %s, want 201", status, body)
			}
		})
	}
}

// TestPostLimitsBoundary: a body of exactly 4 MiB and a batch of exactly
// 1 000 envelopes are accepted; one byte or one envelope more is 413.
func TestPostLimitsBoundary(t *testing.T) {
	f := startNode(t)
	g := gtin14("0893600010001")
	one := asJSON(t, map[string]any{"records": []ledger.Envelope{f.harvest(f.producer, g, "PAD1")}})
	padded := func(n int) []byte { return append(bytes.Repeat([]byte(" "), n-len(one)), one...) }
	tests := []struct {
		name string
		body []byte
		want int
		msg  string // in the refusal's message
	}{
		{"body of exactly 4 MiB", padded(4 << 20), http.StatusOK, ""},
		{"body of 4 MiB + 1", padded(4<<20 + 1), http.StatusRequestEntityTooLarge, ""},
		{"batch of 1000", batchOf(t, f.harvest(f.producer, g, "MAX1"), 1000), http.StatusOK, ""},
		{"batch of 1001", batchOf(t, f.harvest(f.producer, g, "MAX2"), 1001), http.StatusRequestEntityTooLarge, "at most 1000 envelopes; this one holds 1001"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := f.with(t)
			size0, head0 := f.head()
			status, header, body := f.do(http.MethodPost, "/v1/records", "application/json", tc.body)
			if status != tc.want {
				t.Fatalf("%d %.300s, want %d", status, body, tc.want)
			}
			if status != http.StatusOK {
				checkErrorBody(t, header, body)
				if !bytes.Contains(body, []byte(tc.msg)) {
					t.Errorf("refusal %s does not say %q", body, tc.msg)
				}
				if size, head := f.head(); size != size0 || head != head0 {
					t.Errorf("refused request changed the ledger")
				}
				return
			}
			var ans api.BatchAnswer
			mustDecode(t, body, &ans)
			if ans.Accepted != len(ans.Results) || ans.Results[0].Status != http.StatusCreated {
				t.Errorf("accepted %d of %d, first %d", ans.Accepted, len(ans.Results), ans.Results[0].Status)
			}
			if size, _ := f.head(); size != size0+1 {
				t.Errorf("size %d, want %d: one new entry, the rest identical", size, size0+1)
			}
		})
	}
}

// same reports whether two answers name the same entry.
func same(a, b api.Accepted) bool { return a.Seq == b.Seq && a.Hash == b.Hash && a.Signer == b.Signer }

// A node configured for smaller batches refuses a larger one whole and
// says which limit it applies.
func TestPostBatchLimitConfigured(t *testing.T) {
	f := startNodeWith(t, func(c *api.Config) { c.MaxBatch = 3 })
	g := gtin14("0893600010001")
	size0, head0 := f.head()
	status, header, body := f.do(http.MethodPost, "/v1/records", "application/json", batchOf(t, f.harvest(f.producer, g, "SMALL1"), 4))
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("batch of 4 over a limit of 3: %d %.300s, want 413", status, body)
	}
	checkErrorBody(t, header, body)
	if !bytes.Contains(body, []byte("at most 3 envelopes; this one holds 4")) {
		t.Errorf("refusal %s does not name the configured limit", body)
	}
	if size, head := f.head(); size != size0 || head != head0 {
		t.Errorf("refused batch changed the ledger")
	}
	if status, _, body := f.do(http.MethodPost, "/v1/records", "application/json", batchOf(t, f.harvest(f.producer, g, "SMALL2"), 3)); status != http.StatusOK {
		t.Errorf("batch of 3: %d %.300s, want 200", status, body)
	}
}
