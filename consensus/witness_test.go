package consensus

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAddCheckpointAnswers checks the request AddCheckpoint makes
// (c2sp.org/tlog-witness) and how it reads each answer the protocol
// defines, and answers it does not.
func TestAddCheckpointAnswers(t *testing.T) {
	const msg = "traceledger/0011223344556677\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— traceledger-n1 AAAA\n"
	var status int
	var ctype, answer, got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = r.Method + " " + r.URL.Path + "\n" + string(b)
		if ctype != "" {
			w.Header().Set("Content-Type", ctype)
		}
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	defer srv.Close()
	ctx := context.Background()
	for _, c := range []struct {
		name          string
		status        int
		ctype, answer string
		known         int64
		err           error // nil: a cosignature
		conflict      bool
	}{
		{name: "cosigned", status: 200, answer: "— w.example/w1 AAAA\n", known: 3},
		{name: "conflict", status: 409, ctype: "text/x.tlog.size", answer: "7\n", known: 7, conflict: true},
		{name: "conflict without a size", status: 409, answer: "07\n", known: -1, err: ErrWitness},
		{name: "bad proof", status: 422, answer: "bad consistency proof\n", known: -1, err: ErrWitnessFork},
		{name: "unknown keys", status: 403, answer: "invalid signature\n", known: -1, err: ErrWitness},
		{name: "unknown origin", status: 404, known: -1, err: ErrWitness},
		{name: "200 without signatures", status: 200, answer: "ok\n", known: -1, err: ErrWitness},
		{name: "server error", status: 500, answer: "boom\n", known: -1, err: ErrWitness},
	} {
		status, ctype, answer = c.status, c.ctype, c.answer
		sigs, known, err := AddCheckpoint(ctx, srv.Client(), srv.URL+"/", 3, []string{"p1=", "p2="}, []byte(msg))
		var conflict *WitnessConflictError
		switch {
		case c.conflict:
			if !errors.As(err, &conflict) || conflict.Known != c.known || known != c.known {
				t.Errorf("%s: %v, known %d; want a conflict at %d", c.name, err, known, c.known)
			}
		case c.err != nil:
			if !errors.Is(err, c.err) || known != c.known || sigs != nil {
				t.Errorf("%s: %q, %d, %v; want %v", c.name, sigs, known, err, c.err)
			}
		default:
			if err != nil || string(sigs) != c.answer || known != c.known {
				t.Errorf("%s: %q, %d, %v", c.name, sigs, known, err)
			}
		}
	}
	if want := "POST /add-checkpoint\nold 3\np1=\np2=\n\n" + msg; got != want {
		t.Errorf("request:\n%s\nwant:\n%s", got, want)
	}
	if _, _, err := AddCheckpoint(ctx, srv.Client(), "http://127.0.0.1:1", 0, nil, []byte(msg)); err == nil || strings.Contains(err.Error(), "fork") {
		t.Errorf("unreachable witness: %v", err)
	}
}
