package consumer

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/traceledger/traceledger/api"
	"github.com/traceledger/traceledger/api/digitallink"
	"github.com/traceledger/traceledger/ledger"
)

// GS1 link types this resolver answers (GS1 Web Vocabulary, namespace
// https://gs1.org/voc/, written with the gs1: prefix in ?linkType=).
const (
	gs1Voc              = "https://gs1.org/voc/"
	linkAll             = "all"
	linkDefault         = "gs1:defaultLink"
	linkPIP             = "gs1:pip"
	linkTraceability    = "gs1:traceability"
	linkCertification   = "gs1:certificationInfo"
	linkRecallStatus    = "gs1:recallStatus"
	mediaHTML           = "text/html"
	mediaJSON           = "application/json"
	mediaLinkset        = "application/linkset+json"
	contentTypeHTML     = "text/html; charset=utf-8"
	contentTypeJSON     = "application/json; charset=utf-8"
	contentSecurityHTML = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

// resolve answers GET /01/{gtin}[/22/{cpv}][/10/{lot}][/21/{serial}], the
// GS1 Digital Link URI of a trade item (URI Syntax 1.2, §4), following the
// GS1 resolver conventions:
//
//   - a syntactically invalid URI is a 400, with a page that warns the code
//     may be counterfeit; a GTIN-8/12/13 or a path prefix is answered 301
//     to the canonical path (GTIN-14, no prefix), keeping the query;
//   - an unknown lot is a 404 page with the same warning;
//   - ?linkType=all, or Accept: application/linkset+json, returns the
//     RFC 9264 linkset; ?linkType=gs1:… is answered 307 to the link's
//     target (gs1:recallStatus is answered directly, as JSON); an unknown
//     link type redirects to the default link, the page;
//   - otherwise the content is negotiated: the HTML page by default, the
//     lot's JSON (as GET /v1/lots/{gtin}/{lot}) for Accept: application/json.
//
// Every answer allows CORS, as the resolver conventions require.
func (c *Consumer) resolve(w http.ResponseWriter, r *http.Request) {
	if corsPreflight(w, r) {
		return
	}
	lang := pickLang(r)
	link, err := digitallink.ParsePath(r.URL.EscapedPath(), r.URL.RawQuery)
	if err != nil {
		c.badCode(w, r, lang, err)
		return
	}
	if !link.Canonical() {
		target := link.Path()
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, target, http.StatusMovedPermanently)
		return
	}
	if link.Lot == "" {
		c.unknownCode(w, r, lang, link, c.texts[lang].NoLot)
		return
	}
	ref := ledger.LotRef{GTIN: link.GTIN, Lot: link.Lot}
	m, err := c.lotModel(ref)
	switch {
	case errors.Is(err, ledger.ErrUnknownLot):
		c.unknownCode(w, r, lang, link, c.texts[lang].NotFoundBody)
		return
	case err != nil:
		c.internalError(w, r, err)
		return
	}
	w.Header().Set("Link", "<"+c.public+link.Path()+"?linkType=all>; rel=\"linkset\"; type=\""+mediaLinkset+"\"")

	switch lt := normalizeLinkType(link.Params.Get("linkType")); lt {
	case "":
	case linkAll:
		c.serveLinkset(w, r, link, m)
		return
	case linkTraceability:
		redirect307(w, "/v1/lots/"+ref.GTIN+"/"+url.PathEscape(ref.Lot)+"/provenance")
		return
	case linkCertification:
		redirect307(w, link.Path()+langQuery(link)+"#certificates")
		return
	case linkRecallStatus:
		c.serveRecallStatus(w, r, m)
		return
	default: // gs1:pip, gs1:defaultLink, and link types this resolver lacks
		redirect307(w, link.Path()+langQuery(link))
		return
	}

	w.Header().Add("Vary", "Accept, Accept-Language")
	switch negotiate(r.Header.Get("Accept")) {
	case mediaLinkset:
		c.serveLinkset(w, r, link, m)
	case mediaJSON:
		c.serveLotJSON(w, r, m)
	default:
		c.servePage(w, r, lang, link, m)
	}
}

// servePage answers the HTML page. A page without a serial is the same for
// everyone who asks in the same language, so it is rendered once per
// ETag and cached; a serialised unit's page carries its scan count and is
// rendered for each request, never cached by others (every scan must reach
// the server to be counted).
func (c *Consumer) servePage(w http.ResponseWriter, r *http.Request, lang string, link *digitallink.Link, m *model) {
	h := w.Header()
	h.Set("Content-Language", lang)
	h.Set("Content-Security-Policy", contentSecurityHTML)
	switchURL := link.Path() + "?lang=" + c.texts[lang].Other
	if link.Serial != "" {
		h.Set("Cache-Control", "private, no-cache")
		body, err := c.render("page", c.pageData(lang, switchURL, link, m, c.countScan(r, link)))
		if err != nil {
			c.internalError(w, r, err)
			return
		}
		write(w, http.StatusOK, contentTypeHTML, body)
		return
	}
	cp := c.checkpointState(m)
	etag := c.etag("page", lang, m.fingerprint, cp.String(), c.today())
	b, ok := c.pages.get(etag)
	if !ok {
		page, err := c.render("page", c.pageData(lang, switchURL, link, m, nil))
		if err != nil {
			c.internalError(w, r, err)
			return
		}
		b = newCachedBody(page)
		c.pages.put(etag, b)
	}
	c.serveCached(w, r, etag, contentTypeHTML, b)
}

// countScan counts a scan of a serialised unit and returns what the page
// says about its scans. Only a plain GET counts: a HEAD, or a request
// following the page's own language link (?lang=), is not a scan.
func (c *Consumer) countScan(r *http.Request, link *digitallink.Link) *scanView {
	key := serialKey{lot: ledger.LotRef{GTIN: link.GTIN, Lot: link.Lot}, serial: link.Serial}
	now := c.cfg.Clock()
	var rec scanRecord
	counted := false
	if r.Method == http.MethodGet && !link.Params.Has("lang") && c.limiter.allow(c.cfg.ClientIP(r), now) {
		rec, counted = c.scans.record(key, now), true
	} else {
		rec = c.scans.peek(key)
	}
	if rec.count == 0 {
		return nil
	}
	return &scanView{First: rec.first.In(vietnamZone()), Count: rec.count, Counted: counted, Threshold: c.cfg.ScanThreshold}
}

// serveLotJSON answers the lot's state and entries exactly as
// GET /v1/lots/{gtin}/{lot} does (api.LotView).
func (c *Consumer) serveLotJSON(w http.ResponseWriter, r *http.Request, m *model) {
	etag := c.etag("json", m.fingerprint)
	key := modelKey{m.Ref, m.Lot.UpdatedSeq}
	b, ok := c.lotJSON.get(key)
	if !ok {
		var view api.LotView
		err := c.cfg.Store.View(func(rd ledger.Reader) (err error) {
			view, err = api.ReadLotView(rd, m.Ref, 0)
			return err
		})
		var body []byte
		if err == nil {
			body, err = json.Marshal(view)
		}
		if err != nil {
			c.internalError(w, r, fmt.Errorf("lot JSON of %s: %w", m.Ref, err))
			return
		}
		b = newCachedBody(append(body, '\n'))
		c.lotJSON.put(key, b)
	}
	c.serveCached(w, r, etag, contentTypeJSON, b)
}

// linkTarget is one target of a linkset (RFC 9264 §4.2.4).
type linkTarget struct {
	Href     string   `json:"href"`
	Type     string   `json:"type,omitempty"`
	Title    string   `json:"title,omitempty"`
	Hreflang []string `json:"hreflang,omitempty"`
}

// serveLinkset answers the RFC 9264 JSON linkset of the item: one context
// (the canonical Digital Link URI) and a target per GS1 link type, the
// link relation types written as full gs1.org/voc URIs.
func (c *Consumer) serveLinkset(w http.ResponseWriter, r *http.Request, link *digitallink.Link, m *model) {
	page := c.public + link.Path()
	title := m.Lot.Product.Name
	ctx := map[string]any{
		"anchor":                     page,
		gs1Voc + "pip":               []linkTarget{{Href: page, Type: mediaHTML, Title: title, Hreflang: []string{langVI, langEN}}},
		gs1Voc + "defaultLink":       []linkTarget{{Href: page, Type: mediaHTML, Title: title, Hreflang: []string{langVI, langEN}}},
		gs1Voc + "traceability":      []linkTarget{{Href: c.public + "/v1/lots/" + m.Ref.GTIN + "/" + url.PathEscape(m.Ref.Lot) + "/provenance", Type: mediaJSON, Title: "Provenance bundle: entries, signatures, inclusion proofs"}},
		gs1Voc + "certificationInfo": []linkTarget{{Href: page + "#certificates", Type: mediaHTML, Title: "Certificates"}},
		gs1Voc + "recallStatus":      []linkTarget{{Href: page + "?linkType=" + linkRecallStatus, Type: mediaJSON, Title: "Recall status"}},
		"describedby":                []linkTarget{{Href: c.public + "/v1/lots/" + m.Ref.GTIN + "/" + url.PathEscape(m.Ref.Lot), Type: mediaJSON, Title: "Lot state and entries"}},
	}
	body, err := json.Marshal(map[string]any{"linkset": []any{ctx}})
	if err != nil {
		c.internalError(w, r, fmt.Errorf("linkset of %s: %w", m.Ref, err))
		return
	}
	c.setCaching(w, c.etag("linkset", link.Path(), c.public))
	write(w, http.StatusOK, mediaLinkset, append(body, '\n'))
}

// serveRecallStatus answers gs1:recallStatus directly: whether the lot is
// recalled, by which entry, and why.
func (c *Consumer) serveRecallStatus(w http.ResponseWriter, r *http.Request, m *model) {
	ans := map[string]any{"gtin": m.Ref.GTIN, "lot": m.Ref.Lot, "status": m.Lot.Status, "recalled": m.Lot.Recalled != nil}
	if rc := m.Lot.Recalled; rc != nil {
		ans["recall"] = rc
	}
	body, err := json.Marshal(ans)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	etag := c.etag("recall", m.fingerprint)
	c.setCaching(w, etag)
	if notModified(r, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	write(w, http.StatusOK, contentTypeJSON, append(body, '\n'))
}

// wellKnown answers /.well-known/gs1resolver: the resolver description
// file of the GS1 resolver conventions.
func (c *Consumer) wellKnown(w http.ResponseWriter, r *http.Request) {
	if corsPreflight(w, r) {
		return
	}
	desc := map[string]any{
		"name":                        "traceledger GS1 Digital Link resolver",
		"resolverRoot":                c.public,
		"supportedPrimaryKeys":        []string{"01"},
		"supportedLinkType":           []map[string]string{{"namespace": gs1Voc, "prefix": "gs1:"}},
		"linkTypes":                   []string{linkDefault, linkPIP, linkTraceability, linkCertification, linkRecallStatus},
		"linkTypeDefaultCanBeLinkset": false,
		"linkTypeDefaultCanBeAll":     false,
		"supportedLanguages":          []string{langVI, langEN},
	}
	body, err := json.Marshal(desc)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	c.setCaching(w, c.etag("wellknown", c.public))
	write(w, http.StatusOK, contentTypeJSON, append(body, '\n'))
}

// badCode answers a URI that is not a valid Digital Link: 400, with a page
// that warns the code may be counterfeit (or a JSON error for machines).
func (c *Consumer) badCode(w http.ResponseWriter, r *http.Request, lang string, err error) {
	c.codeError(w, r, lang, http.StatusBadRequest, "invalid_digital_link", c.texts[lang].BadTitle, c.texts[lang].BadBody, digitallink.Message(err, lang))
}

// unknownCode answers a valid code the ledger does not know: 404.
func (c *Consumer) unknownCode(w http.ResponseWriter, r *http.Request, lang string, link *digitallink.Link, body string) {
	c.codeError(w, r, lang, http.StatusNotFound, "unknown_lot", c.texts[lang].NotFoundTitle, body, "GTIN "+link.GTIN+", lot "+strconv.Quote(link.Lot))
}

func (c *Consumer) codeError(w http.ResponseWriter, r *http.Request, lang string, status int, code, title, body, detail string) {
	h := w.Header()
	h.Set("Cache-Control", c.cacheControl)
	h.Add("Vary", "Accept, Accept-Language")
	if m := negotiate(r.Header.Get("Accept")); m == mediaJSON || m == mediaLinkset {
		writeJSONError(w, status, code, body+" ("+detail+")")
		return
	}
	ev := &errorView{view: c.baseView(lang, r.URL.EscapedPath()+"?lang="+c.texts[lang].Other),
		Title: title, Body: body, Code: r.URL.EscapedPath(), Detail: detail, Counterfeit: true}
	page, err := c.render("error", ev)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	h.Set("Content-Language", lang)
	h.Set("Content-Security-Policy", contentSecurityHTML)
	write(w, status, contentTypeHTML, page)
}

// internalError logs a failure that is not the client's doing and answers
// 500 without its detail.
func (c *Consumer) internalError(w http.ResponseWriter, r *http.Request, err error) {
	c.log.Error("consumer request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeJSONError(w, http.StatusInternalServerError, "internal", "internal error")
}

// writeJSONError writes the API's one error shape (DESIGN §3.4).
func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	body, _ := json.Marshal(map[string]map[string]string{"error": {"code": code, "message": msg}})
	write(w, status, contentTypeJSON, append(body, '\n'))
}

func redirect307(w http.ResponseWriter, target string) {
	w.Header().Set("Location", target)
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusTemporaryRedirect)
}

// langQuery keeps an explicit ?lang= across a link-type redirect.
func langQuery(link *digitallink.Link) string {
	if l := link.Params.Get("lang"); l == langVI || l == langEN {
		return "?lang=" + l
	}
	return ""
}

// normalizeLinkType accepts a link type as gs1:name or as its full URI.
func normalizeLinkType(lt string) string {
	for _, p := range []string{gs1Voc, "http://gs1.org/voc/"} {
		if rest, ok := strings.CutPrefix(lt, p); ok {
			return "gs1:" + rest
		}
	}
	return lt
}

// negotiate picks the answer's media type from an Accept header (RFC 9110
// §12.5.1): the acceptable type with the highest q-value among HTML, JSON
// and linkset JSON, HTML on a tie, for */* and when nothing matches.
func negotiate(accept string) string {
	best, bestQ := mediaHTML, -1.0
	for _, part := range strings.Split(accept, ",") {
		mt, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), "q="); ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					q = f
				}
			}
		}
		var cand string
		switch mt {
		case mediaHTML, "application/xhtml+xml", "text/*", "*/*":
			cand = mediaHTML
		case mediaJSON:
			cand = mediaJSON
		case mediaLinkset:
			cand = mediaLinkset
		default:
			continue
		}
		if q > 0 && (q > bestQ || (q == bestQ && cand == mediaHTML)) {
			best, bestQ = cand, q
		}
	}
	return best
}

// corsPreflight sets the CORS headers every resolver answer carries and
// answers a preflight OPTIONS request; it returns true when it answered.
func corsPreflight(w http.ResponseWriter, r *http.Request) bool {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "Link, ETag, Location")
	if r.Method != http.MethodOptions {
		return false
	}
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Accept, Accept-Language, If-None-Match")
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
	return true
}
