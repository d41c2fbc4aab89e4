package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"unicode/utf8"

	"github.com/traceledger/traceledger/ledger"
)

// readJSONBody enforces the content type, the body size limit and UTF-8.
// Every handler that takes a JSON body reads it here.
func (s *Server) readJSONBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || (mt != "application/json" && mt != "application/ld+json") {
		return nil, errMediaType.with("send Content-Type: application/json")
	}
	if cs, ok := params["charset"]; ok && !equalFold(cs, "utf-8") {
		return nil, errMediaType.with("JSON must be UTF-8")
	}
	// The body guard (bodybudget.go) has reserved the body's budget and
	// times its arrival; the per-request limit stays here as well.
	body, err := readAllSized(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes), r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		var he *httpError
		switch {
		case errors.As(err, &mbe):
			stopReading(w)
			return nil, errTooLarge.with("the request body is larger than " + sizeText(s.cfg.MaxBodyBytes))
		case errors.As(err, &he): // refused by the body guard
			return nil, he
		}
		return nil, errBadRequest.with("cannot read the request body")
	}
	if !utf8.Valid(body) {
		return nil, ledger.ErrMalformed.Detail("the request body is not valid UTF-8")
	}
	return body, nil
}

func equalFold(a, b string) bool { return bytes.EqualFold([]byte(a), []byte(b)) }

// decodeStrict decodes one JSON value into v, refusing unknown fields,
// trailing data and nesting deeper than ledger.MaxDepth.
func decodeStrict(data []byte, v any) error {
	if err := ledger.CheckDepth(data, ledger.MaxDepth); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return ledger.ErrMalformed.Detail("%s: wrong JSON type", te.Field)
		}
		return ledger.ErrMalformed.Detail("%v", err)
	}
	if dec.More() {
		return ledger.ErrMalformed.Detail("trailing data after the JSON value")
	}
	return nil
}
