package httpcache

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCacheByteBudget(t *testing.T) {
	c := New[string](10, 100, func(b []byte) int64 { return int64(len(b)) })
	c.Put("a", make([]byte, 40))
	c.Put("b", make([]byte, 40))
	c.Get("a") // a is now more recently used than b
	c.Put("c", make([]byte, 40))
	if _, ok := c.Get("b"); ok {
		t.Error("b, the least recently used, should have been evicted to stay within 100 bytes")
	}
	for _, k := range []string{"a", "c"} {
		if _, ok := c.Get(k); !ok {
			t.Errorf("%s evicted", k)
		}
	}
	if c.Bytes() != 80 || c.Len() != 2 {
		t.Errorf("bytes %d, len %d; want 80, 2", c.Bytes(), c.Len())
	}
	// A value larger than the budget is not kept, and drops the older one.
	c.Put("a", make([]byte, 101))
	if _, ok := c.Get("a"); ok || c.Bytes() != 40 {
		t.Errorf("oversized value kept (or bytes %d, want 40)", c.Bytes())
	}
	// Replacing a value re-measures it.
	c.Update("c", func(old []byte, ok bool) []byte { return old[:10] })
	if c.Bytes() != 10 {
		t.Errorf("bytes %d after shrinking c, want 10", c.Bytes())
	}
}

func TestCacheEntryBound(t *testing.T) {
	c := New[int, int](2, 0, nil)
	for i := range 3 {
		c.Put(i, i)
	}
	if _, ok := c.Get(0); ok || c.Len() != 2 {
		t.Errorf("len %d, oldest kept %v", c.Len(), ok)
	}
}

func TestServe(t *testing.T) {
	plain := []byte(strings.Repeat(`{"entry":"Vải thiều Lục Ngạn"},`, 50))
	b := NewBody(plain)
	if b.Gzip == nil || b.Size() != int64(len(plain)+len(b.Gzip)) {
		t.Fatalf("NewBody: gzip %d bytes, size %d", len(b.Gzip), b.Size())
	}
	etag := ETag("lot", "08934567890120/L1", "7")
	if etag == ETag("lot", "08934567890120/L1", "8") || etag == ETag("lot", "08934567890120/L17") {
		t.Fatal("different parts give the same tag")
	}
	serve := func(headers ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		for _, h := range headers {
			k, v, _ := strings.Cut(h, ": ")
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		Serve(w, r, etag, "public, max-age=60", "application/json", b)
		return w
	}
	if w := serve(); w.Code != 200 || !bytes.Equal(w.Body.Bytes(), plain) || w.Header().Get("ETag") != etag || w.Header().Get("Cache-Control") != "public, max-age=60" {
		t.Errorf("plain: %d, ETag %q, %d bytes", w.Code, w.Header().Get("ETag"), w.Body.Len())
	}
	w := serve("Accept-Encoding: br, gzip")
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(zr)
	if w.Header().Get("Content-Encoding") != "gzip" || w.Header().Get("ETag") != GzipETag(etag) || !bytes.Equal(got, plain) {
		t.Errorf("gzip: encoding %q, ETag %q, body matches %v", w.Header().Get("Content-Encoding"), w.Header().Get("ETag"), bytes.Equal(got, plain))
	}
	for _, inm := range []string{etag, `"a", ` + etag, "W/" + etag, "*"} {
		if w := serve("If-None-Match: " + inm); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
			t.Errorf("If-None-Match %s: %d with %d bytes, want 304 and none", inm, w.Code, w.Body.Len())
		}
	}
	if w := serve("If-None-Match: " + GzipETag(etag)); w.Code != http.StatusOK {
		t.Errorf("the gzip tag for the plain representation: %d, want 200", w.Code)
	}
	if w := serve("Accept-Encoding: gzip;q=0"); w.Header().Get("Content-Encoding") != "" {
		t.Error("gzip;q=0 got gzip")
	}
}
