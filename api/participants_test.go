package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/traceledger/traceledger/api"
	"github.com/traceledger/traceledger/ledger"
)

func TestListParticipants(t *testing.T) {
	f := startNode(t)
	list := func(query string) api.ParticipantList {
		t.Helper()
		st, body := f.get("/v1/participants" + query)
		if st != http.StatusOK {
			t.Fatalf("GET /v1/participants%s: %d %s", query, st, body)
		}
		var l api.ParticipantList
		mustDecode(t, body, &l)
		return l
	}
	all := list("")
	// The genesis admin and the four the fixture registers.
	if len(all.Participants) != 5 || all.Next != "" {
		t.Fatalf("all: %d participants, next %q", len(all.Participants), all.Next)
	}
	for i := 1; i < len(all.Participants); i++ {
		if strings.ToLower(all.Participants[i-1].Address) >= strings.ToLower(all.Participants[i].Address) {
			t.Fatalf("not in address order: %s then %s", all.Participants[i-1].Address, all.Participants[i].Address)
		}
	}
	if l := list("?role=distributor"); len(l.Participants) != 1 || l.Participants[0].Address != addr(f.distributor) {
		t.Errorf("role=distributor: %+v", l.Participants)
	}
	if l := list("?role=producer&q=" + strings.ToLower(addr(f.producer)[2:10])); len(l.Participants) != 1 {
		t.Errorf("q by address: %+v", l.Participants)
	}
	if l := list("?q=nobody-is-called-this"); len(l.Participants) != 0 || l.Participants == nil {
		t.Errorf("no match: %+v", l)
	}
	// Pages of two cover everyone once.
	var seen []string
	for after := ""; ; {
		q := "?limit=2"
		if after != "" {
			q += "&after=" + after
		}
		l := list(q)
		for _, p := range l.Participants {
			seen = append(seen, p.Address)
		}
		if l.Next == "" {
			break
		}
		after = l.Next
	}
	if len(seen) != 5 {
		t.Errorf("paging saw %d participants: %v", len(seen), seen)
	}
	for _, bad := range []string{"?role=farmer", "?limit=0", "?limit=501", "?limit=x", "?after=0x12", "?q=" + strings.Repeat("a", 101)} {
		st, body := f.get("/v1/participants" + bad)
		if st != http.StatusBadRequest || !strings.Contains(string(body), ledger.ErrInvalidField.Code) && !strings.Contains(string(body), "invalid_address") {
			t.Errorf("GET /v1/participants%s: %d %s, want 400", bad, st, body)
		}
	}
}

func TestParticipantLots(t *testing.T) {
	f := startNode(t)
	g := gtin14("0893600040001")
	f.accept(f.harvest(f.producer, g, "MINE1"))
	f.accept(f.harvest(f.producer, g, "SENT1"))
	f.accept(f.transfer(f.producer, g, "SENT1", f.distributor))
	f.accept(f.harvest(f.producer, g, "GONE1"))
	f.accept(f.transfer(f.producer, g, "GONE1", f.distributor))
	f.accept(sign(t, f.distributor, f.record(f.distributor, "receive", map[string]any{"lot": lotRef(g, "GONE1")})))
	lots := func(k string) api.ParticipantLots {
		t.Helper()
		st, body := f.get("/v1/participants/" + k + "/lots")
		if st != http.StatusOK {
			t.Fatalf("lots of %s: %d %s", k, st, body)
		}
		var v api.ParticipantLots
		mustDecode(t, body, &v)
		return v
	}
	names := func(ls []*ledger.Lot) (out []string) {
		for _, l := range ls {
			out = append(out, l.Lot)
		}
		return out
	}
	p := lots(addr(f.producer))
	// The sender holds a lot in transit until it is received.
	if got := strings.Join(names(p.Held), ","); got != "MINE1,SENT1" || len(p.Incoming) != 0 || !p.Complete {
		t.Errorf("producer holds %q, incoming %v", got, names(p.Incoming))
	}
	d := lots(addr(f.distributor))
	if got := strings.Join(names(d.Held), ","); got != "GONE1" || strings.Join(names(d.Incoming), ",") != "SENT1" {
		t.Errorf("distributor holds %q, incoming %v", got, names(d.Incoming))
	}
	if st, _ := f.get("/v1/participants/" + addr(newKey(t)) + "/lots"); st != http.StatusNotFound {
		t.Errorf("lots of a stranger: %d, want 404", st)
	}
	if st, _ := f.get("/v1/participants/0x12/lots"); st != http.StatusBadRequest {
		t.Errorf("lots of a bad address: %d, want 400", st)
	}
}
