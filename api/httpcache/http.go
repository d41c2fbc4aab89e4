package httpcache

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
)

// Body is a response body kept both plain and gzip-compressed, so that a
// cached answer costs no compression. A page of a dozen steps shrinks
// about threefold, a provenance bundle about fivefold: what a phone on a
// weak 3G link downloads.
type Body struct {
	Plain, Gzip []byte // Gzip is nil when compression does not pay
}

// bigBody is the size past which NewBody compresses at gzip's default
// level rather than its best: best compression of a 5 MB bundle costs
// seconds for a few per cent, the default level a fraction of a second
// (a 5 001-entry bundle: 5.5 MiB plain, 840 KiB at the default level, 907
// KiB at the fastest).
const bigBody = 256 << 10

// NewBody compresses plain once.
func NewBody(plain []byte) Body {
	level := gzip.BestCompression
	if len(plain) > bigBody {
		level = gzip.DefaultCompression
	}
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, level)
	if err == nil {
		zw.Write(plain)
		err = zw.Close()
	}
	if err != nil || b.Len() >= len(plain) {
		return Body{Plain: plain}
	}
	return Body{Plain: plain, Gzip: b.Bytes()}
}

// Size is the memory the body holds, the measure of Cache's byte budget.
func (b Body) Size() int64 { return int64(len(b.Plain) + len(b.Gzip)) }

// ETag derives a strong entity tag (RFC 9110 §8.8.3) from everything a
// response depends on: a version of the code that renders it, the kind of
// answer, its parameters and the state it was built from. Two answers with
// the same parts are the same bytes; any other part gives another tag.
func ETag(parts ...string) string {
	h := sha256.New()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write([]byte(p))
	}
	var sum [sha256.Size]byte
	return `"` + hex.EncodeToString(h.Sum(sum[:0])[:12]) + `"`
}

// GzipETag is the entity tag of the gzip-encoded representation: a strong
// tag names one byte sequence, so the two encodings need two tags.
func GzipETag(etag string) string { return strings.TrimSuffix(etag, `"`) + `-gz"` }

// NotModified reports whether the request's If-None-Match matches etag
// (RFC 9110 §13.1.2, weak comparison, as that section requires).
func NotModified(r *http.Request, etag string) bool {
	inm := r.Header.Get("If-None-Match")
	if inm == "" {
		return false
	}
	for _, t := range strings.Split(inm, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// AcceptsGzip reports whether Accept-Encoding allows gzip (RFC 9110
// §12.5.3): listed, or covered by "*", with a q-value above 0.
func AcceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "*" {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

// Serve answers a cacheable body under etag, gzip-encoded when the client
// accepts it, or 304 Not Modified with no body when the client holds it
// already. cacheControl may be "" to leave Cache-Control unset.
func Serve(w http.ResponseWriter, r *http.Request, etag, cacheControl, contentType string, b Body) {
	h := w.Header()
	h.Add("Vary", "Accept-Encoding")
	body := b.Plain
	if b.Gzip != nil && AcceptsGzip(r) {
		etag, body = GzipETag(etag), b.Gzip
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("ETag", etag)
	if cacheControl != "" {
		h.Set("Cache-Control", cacheControl)
	}
	if NotModified(r, etag) {
		h.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	Write(w, http.StatusOK, contentType, body)
}

// Write sends a complete body with its length. A write error means the
// client went away; there is nobody left to tell.
func Write(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(body)
}
