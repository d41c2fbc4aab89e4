package ledger_test

// The binary form of replicated commands.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/traceledger/traceledger/ledger"
)

// decode calls DecodeCommand and turns a panic into a test failure, so that
// one bad input does not hide the rest.
func decode(t *testing.T, name string, b []byte) (c *ledger.Command, err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("%s: DecodeCommand(%x) panicked: %v", name, b, p)
			c, err = nil, fmt.Errorf("panic: %v", p)
		}
	}()
	return ledger.DecodeCommand(b)
}

func admittedEnvelopes(t *testing.T, n int) []*ledger.Admitted {
	t.Helper()
	k := newKey(t)
	var out []*ledger.Admitted
	for i := 0; i < n; i++ {
		rec := withHeaderFor(k, harvestRec(fmt.Sprintf("C%d", i), "1.5", "KGM"))
		rec["id"] = fmt.Sprintf("c-%d", i)
		adm, err := ledger.Admit(signRecord(t, k, rec), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, adm)
	}
	return out
}

func TestCommandRoundTrip(t *testing.T) {
	when := time.Date(2026, 6, 1, 2, 3, 4, 123456789, time.UTC)
	envs := admittedEnvelopes(t, 3)
	cmds := []*ledger.Command{
		{Kind: ledger.CmdRecords, Time: when, Envelopes: envs},
		{Kind: ledger.CmdRecords, Time: when, Envelopes: envs[:1]},
		{Kind: ledger.CmdRecords, Time: when},
		{Kind: ledger.CmdGenesis, Time: when, Admins: []common.Address{newKey(t).addr, newKey(t).addr}},
		{Kind: ledger.CmdGenesis, Time: when},
		{Kind: ledger.CmdGenesis, Time: time.Date(1970, 1, 1, 0, 0, 0, 1, time.UTC)},
	}
	for i, c := range cmds {
		b := ledger.EncodeCommand(c)
		got, err := decode(t, fmt.Sprint(i), b)
		if err != nil {
			t.Errorf("command %d: %v", i, err)
			continue
		}
		if got.Kind != c.Kind || !got.Time.Equal(c.Time) || len(got.Envelopes) != len(c.Envelopes) || len(got.Admins) != len(c.Admins) {
			t.Errorf("command %d: got %+v, want %+v", i, got, c)
			continue
		}
		if got.Time.Location() != time.UTC {
			t.Errorf("command %d: time decoded in %v, want UTC", i, got.Time.Location())
		}
		for j, e := range c.Envelopes {
			g := got.Envelopes[j]
			if !bytes.Equal(g.Canonical, e.Canonical) || !bytes.Equal(g.Signature, e.Signature) || g.Signer != e.Signer {
				t.Errorf("command %d envelope %d differs", i, j)
			}
			if g.Record != nil {
				t.Errorf("command %d envelope %d: records are decoded by Apply, not DecodeCommand", i, j)
			}
		}
		if len(c.Admins) > 0 && !reflect.DeepEqual(got.Admins, c.Admins) {
			t.Errorf("command %d admins %v, want %v", i, got.Admins, c.Admins)
		}
		if again := ledger.EncodeCommand(got); !bytes.Equal(again, b) {
			t.Errorf("command %d: re-encoding differs", i)
		}
	}
}

func TestDecodeCommandRejectsTruncated(t *testing.T) {
	when := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []*ledger.Command{
		{Kind: ledger.CmdRecords, Time: when, Envelopes: admittedEnvelopes(t, 2)},
		{Kind: ledger.CmdGenesis, Time: when, Admins: []common.Address{newKey(t).addr, newKey(t).addr}},
	} {
		b := ledger.EncodeCommand(c)
		for n := 0; n < len(b); n++ {
			if _, err := decode(t, fmt.Sprintf("kind %d cut at %d", c.Kind, n), b[:n]); err == nil {
				t.Errorf("kind %d: %d of %d bytes accepted", c.Kind, n, len(b))
			}
		}
		if _, err := decode(t, "trailing byte", append(append([]byte(nil), b...), 0)); err == nil {
			t.Errorf("kind %d: trailing byte accepted", c.Kind)
		}
	}
}

func TestDecodeCommandRejectsGarbage(t *testing.T) {
	hdr := func(kind byte) []byte { return append([]byte{kind}, make([]byte, 8)...) }
	cases := map[string][]byte{
		"unknown kind":           append(hdr(7), 0),
		"kind zero":              append(hdr(0), 0),
		"count beyond the input": append(hdr(ledger.CmdRecords), 0x7f),
		"varint overflow":        append(hdr(ledger.CmdRecords), bytes.Repeat([]byte{0xff}, 11)...),
		"genesis count too big":  append(hdr(ledger.CmdGenesis), 2, 1, 2, 3),
	}
	// An envelope length so large that length+signature+signer wraps
	// around uint64: a Raft entry corrupted on disk or written by a buggy
	// peer must be an error, not a crash of every node that applies it.
	huge := append(hdr(ledger.CmdRecords), 1)
	huge = binary.AppendUvarint(huge, ^uint64(0)-40)
	huge = append(huge, make([]byte, 100)...)
	cases["envelope length overflows"] = huge
	big := append(hdr(ledger.CmdRecords), 1)
	big = binary.AppendUvarint(big, 1<<62)
	big = append(big, make([]byte, 100)...)
	cases["envelope length beyond the input"] = big

	for name, b := range cases {
		if _, err := decode(t, name, b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A command survives the trip through the log: applying the decoded form
// (whose records Apply decodes itself) gives the same results and root as
// applying the admitted form.
func TestApplyDecodedCommand(t *testing.T) {
	admin, producer := newKey(t), newKey(t)
	reg := withHeaderFor(admin, participantRec(producer.addr, "producer"))
	regAdm, err := ledger.Admit(signRecord(t, admin, reg), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var envs []*ledger.Admitted
	envs = append(envs, regAdm)
	for i := 0; i < 3; i++ {
		rec := withHeaderFor(producer, harvestRec("D1", fmt.Sprint(i+1), "KGM")) // the 2nd and 3rd are refused
		rec["id"] = fmt.Sprintf("d-%d", i)
		adm, err := ledger.Admit(signRecord(t, producer, rec), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, adm)
	}
	envs = append(envs, envs[1]) // a retry inside the same batch
	cmd := &ledger.Command{Kind: ledger.CmdRecords, Time: genesisTime.Add(time.Minute), Envelopes: envs}

	direct := newLedger(t, admin.addr)
	want := direct.apply(cmd)
	decoded, err := ledger.DecodeCommand(ledger.EncodeCommand(cmd))
	if err != nil {
		t.Fatal(err)
	}
	replay := newLedger(t, admin.addr)
	got := replay.apply(decoded)
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Seq != want[i].Seq || got[i].Hash != want[i].Hash || got[i].Existing != want[i].Existing ||
			got[i].Signer != want[i].Signer || (got[i].Err == nil) != (want[i].Err == nil) {
			t.Errorf("result %d: decoded %+v, direct %+v", i, got[i], want[i])
		}
	}
	if !want[4].Existing || want[4].Seq != want[1].Seq {
		t.Errorf("retry in the same batch: %+v, want existing seq %d", want[4], want[1].Seq)
	}
	if direct.head() != replay.head() {
		t.Errorf("heads differ: %+v vs %+v", direct.head(), replay.head())
	}

	// A decoded envelope whose signer field was tampered with is refused by Apply.
	tampered, _ := ledger.DecodeCommand(ledger.EncodeCommand(&ledger.Command{Kind: ledger.CmdRecords, Time: genesisTime,
		Envelopes: []*ledger.Admitted{{Canonical: envs[1].Canonical, Signature: envs[1].Signature, Signer: admin.addr}}}))
	res := replay.apply(tampered)
	if len(res) != 1 || statusOf(t, nil, &res[0]) != 401 {
		t.Errorf("tampered signer: %+v", res)
	}
	// And one whose record does not decode is refused with 400: Apply
	// trusts no logged byte it did not verify.
	junk, _ := ledger.DecodeCommand(ledger.EncodeCommand(&ledger.Command{Kind: ledger.CmdRecords, Time: genesisTime,
		Envelopes: []*ledger.Admitted{{Canonical: []byte(`{"type":"harvest","lot":5}`), Signature: envs[1].Signature, Signer: producer.addr}}}))
	res = replay.apply(junk)
	if len(res) != 1 || statusOf(t, nil, &res[0]) != 400 {
		t.Errorf("undecodable record: %+v", res)
	}
}
