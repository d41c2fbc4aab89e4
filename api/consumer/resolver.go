package consumer

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/traceledger/traceledger/api/digitallink"
	"github.com/traceledger/traceledger/api/httpcache"
	"github.com/traceledger/traceledger/ledger"
)

// GS1 link types this resolver answers (GS1 Web Vocabulary, namespace
// https://gs1.org/voc/, written with the gs1: prefix in ?linkType=).
const (
	gs1Voc            = "https://gs1.org/voc/"
	linkLinkset       = "linkset"
	linkAll           = "all" // linkset's older name, still accepted
	linkDefault       = "gs1:defaultLink"
	linkPIP           = "gs1:pip"
	linkTraceability  = "gs1:traceability"
	linkCertification = "gs1:certificationInfo"
	linkRecallStatus  = "gs1:recallStatus"
	linkDescribedBy   = "describedby" // RFC 8288 registered relation
	// jsonLDContextRel is the relation of the Link header that names the
	// linkset's JSON-LD context (JSON-LD 1.1, §6.1).
	jsonLDContextRel    = "http://www.w3.org/ns/json-ld#context"
	mediaHTML           = "text/html"
	mediaJSON           = "application/json"
	mediaLinkset        = "application/linkset+json"
	mediaJSONLD         = "application/ld+json"
	contentTypeHTML     = "text/html; charset=utf-8"
	contentTypeJSON     = "application/json; charset=utf-8"
	contentSecurityHTML = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

// Paths of the resources the resolver redirects to. Each takes the Digital
// Link path after its prefix, so that one parser reads them all.
const (
	pagePrefix    = "/lot"     // /lot/01/{gtin}/10/{lot}[/21/{serial}]: the lot's page
	productPrefix = "/product" // /product/01/{gtin}: the trade item's page
	recallPrefix  = "/recall"  // /recall/01/{gtin}/10/{lot}: recall status, JSON
	contextPath   = "/linkset-context.jsonld"
	// walkUpParam names, on the product page, the lot code that was
	// scanned but is not on the ledger.
	walkUpParam = "lot"
	// maxProductLots bounds the lots read for a product page; the page
	// lists the newest few.
	maxProductLots = 10_000
	recentLots     = 10
)

// resolve answers GET /01/{gtin}[/22/{cpv}][/10/{lot}][/21/{serial}], the
// GS1 Digital Link URI of a trade item (URI Syntax 1.2, §4), as a
// GS1-Conformant resolver (GS1 Digital Link Standard 1.1, resolver
// section) does:
//
//   - a syntactically invalid URI is a 400, with a page that warns the code
//     may be counterfeit; a GTIN-8/12/13 or a path prefix is answered 301
//     to the canonical path (GTIN-14, no prefix), keeping the query; one
//     trailing slash is tolerated;
//   - the links of a lot on the ledger are its own; a lot the ledger does
//     not know, or a bare GTIN, walks up to the GTIN's links (its product
//     page, which warns that the scanned lot code is not on the ledger);
//     a GTIN without any lot is a 404 page that warns of counterfeits;
//   - ?linkType=linkset (or all), or Accept: application/linkset+json
//     without a link type, answers the RFC 9264 linkset itself;
//   - ?linkType=X answers 307 to the target the linkset gives for X, an
//     absolute URL under the public URL; a link type the linkset lacks is
//     a 404;
//   - a plain request answers 307 to the default link (the page), passing
//     the query string on. Accept: application/json is the one exception:
//     it answers the lot's JSON here (as GET /v1/lots/{gtin}/{lot}), so a
//     machine that asked for data needs no second round trip.
//
// Every answer allows CORS and names the linkset in a Link header.
func (c *Consumer) resolve(w http.ResponseWriter, r *http.Request) {
	link, err := digitallink.ParsePath(trimSlash(r.URL.EscapedPath()), r.URL.RawQuery)
	if r.Method == http.MethodOptions && err == nil && link.Canonical() {
		// The preflight answers without a lookup, but it names the
		// linkset of the URI it was asked about, as every answer does.
		w.Header().Set("Link", "<"+c.public+link.Path()+"?linkType="+linkLinkset+`>; rel="linkset"; type="`+mediaLinkset+`"`)
	}
	if corsPreflight(w, r) {
		return
	}
	lang := pickLang(r)
	if err != nil {
		c.badCode(w, r, lang, err)
		return
	}
	if redirectCanonical(w, r, "", link) {
		return
	}
	h := w.Header()
	h.Add("Vary", "Accept")
	var m *model
	if link.Lot != "" {
		m, err = c.lotModel(ledger.LotRef{GTIN: link.GTIN, Lot: link.Lot})
		switch {
		case errors.Is(err, ledger.ErrUnknownLot):
			m = nil
		case err != nil:
			c.internalError(w, r, err)
			return
		}
	}
	var ls *linkset
	if m != nil {
		ls = c.lotLinks(link, m)
	} else {
		p, err := c.productModel(link.GTIN)
		if err != nil {
			c.internalError(w, r, err)
			return
		}
		if p == nil {
			c.unknownCode(w, r, lang, link, c.texts[lang].NotFoundBody)
			return
		}
		ls = c.productLinks(link.GTIN, p)
	}
	h.Set("Link", "<"+ls.Anchor+"?linkType="+linkLinkset+`>; rel="linkset"; type="`+mediaLinkset+`"`)

	accept := negotiate(r.Header.Get("Accept"))
	lt := normalizeLinkType(link.Params.Get("linkType"))
	switch {
	case lt == linkLinkset || lt == linkAll || (lt == "" && accept == mediaLinkset):
		c.serveLinkset(w, r, ls)
		return
	case lt == "" && accept == mediaJSON:
		if m == nil {
			c.unknownCode(w, r, lang, link, c.texts[lang].NotFoundBody)
			return
		}
		c.serveLotJSON(w, r, m)
		return
	case lt == "":
		lt = linkDefault
	}
	target, ok := ls.target(lt)
	if !ok {
		c.codeError(w, r, lang, http.StatusNotFound, "unknown_link_type", c.texts[lang].NoLinkTitle,
			c.texts[lang].NoLinkBody, "linkType "+strconv.Quote(link.Params.Get("linkType")), false)
		return
	}
	q := passOn(r.URL.RawQuery)
	if m == nil && link.Lot != "" {
		q = joinQuery(q, walkUpParam+"="+url.QueryEscape(link.Lot))
	}
	if m != nil {
		// A lot on the ledger stays there: where its links lead never
		// changes, so a phone may keep the redirect and skip a round trip
		// on the next scan. A walk-up changes once the lot is written.
		h.Set("Cache-Control", c.cacheControl)
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("Location", withQuery(target, q))
	w.WriteHeader(http.StatusTemporaryRedirect)
}

// trimSlash drops one trailing slash after a path element: GS1 resolvers
// tolerate /01/{gtin}/10/{lot}/ as the URI without it.
func trimSlash(p string) string {
	if len(p) > 1 && strings.HasSuffix(p, "/") && !strings.HasSuffix(p, "//") {
		return p[:len(p)-1]
	}
	return p
}

// passOn is the query string a redirect passes on: everything but the
// linkType that chose the link.
func passOn(raw string) string {
	if raw == "" {
		return ""
	}
	var keep []string
	for _, kv := range strings.Split(raw, "&") {
		if kv == "" || kv == "linkType" || strings.HasPrefix(kv, "linkType=") {
			continue
		}
		keep = append(keep, kv)
	}
	return strings.Join(keep, "&")
}

func joinQuery(a, b string) string {
	if a == "" {
		return b
	}
	return a + "&" + b
}

// withQuery puts a query string into a URL, before its fragment.
func withQuery(target, q string) string {
	if q == "" {
		return target
	}
	base, frag, hasFrag := strings.Cut(target, "#")
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	base += sep + q
	if hasFrag {
		base += "#" + frag
	}
	return base
}

// lotPage answers GET /lot/01/{gtin}/10/{lot}[/21/{serial}]: the lot's
// page, the default link of its Digital Link.
func (c *Consumer) lotPage(w http.ResponseWriter, r *http.Request) {
	lang := pickLang(r)
	link, err := digitallink.ParsePath(trimSlash(strings.TrimPrefix(r.URL.EscapedPath(), pagePrefix)), r.URL.RawQuery)
	if err == nil && link.Lot == "" {
		err = digitallink.ErrNeedLot()
	}
	if err != nil {
		c.badCode(w, r, lang, err)
		return
	}
	if redirectCanonical(w, r, pagePrefix, link) {
		return
	}
	m, err := c.lotModel(ledger.LotRef{GTIN: link.GTIN, Lot: link.Lot})
	switch {
	case errors.Is(err, ledger.ErrUnknownLot):
		c.unknownCode(w, r, lang, link, c.texts[lang].NotFoundBody)
		return
	case err != nil:
		c.internalError(w, r, err)
		return
	}
	w.Header().Set("Link", "<"+c.public+link.Path()+"?linkType="+linkLinkset+`>; rel="linkset"; type="`+mediaLinkset+`"`)
	w.Header().Add("Vary", "Accept-Language")
	c.servePage(w, r, lang, link, m)
}

// recallStatus answers GET /recall/01/{gtin}/10/{lot}, the target of
// gs1:recallStatus: whether the lot is recalled, by which entry, and why.
func (c *Consumer) recallStatus(w http.ResponseWriter, r *http.Request) {
	if corsPreflight(w, r) {
		return
	}
	link, err := digitallink.ParsePath(trimSlash(strings.TrimPrefix(r.URL.EscapedPath(), recallPrefix)), r.URL.RawQuery)
	if err == nil && link.Lot == "" {
		err = digitallink.ErrNeedLot()
	}
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "invalid_digital_link", err.Error())
		return
	}
	m, err := c.lotModel(ledger.LotRef{GTIN: link.GTIN, Lot: link.Lot})
	switch {
	case errors.Is(err, ledger.ErrUnknownLot):
		writeJSONError(w, http.StatusNotFound, "unknown_lot", "GTIN "+link.GTIN+", lot "+strconv.Quote(link.Lot))
		return
	case err != nil:
		c.internalError(w, r, err)
		return
	}
	c.serveRecallStatus(w, r, m)
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
	switchURL := pagePrefix + link.Path() + "?lang=" + c.texts[lang].Other
	cp := c.checkpointState(m)
	if link.Serial != "" {
		h.Set("Cache-Control", "private, no-cache")
		body, err := c.render("page", c.pageData(lang, switchURL, link, m, cp, c.countScan(r, link)))
		if err != nil {
			c.internalError(w, r, err)
			return
		}
		write(w, http.StatusOK, contentTypeHTML, body)
		return
	}
	etag := c.etag("page", lang, m.fingerprint, cp.String(), c.today())
	b, ok := c.pages.get(etag)
	if !ok {
		page, err := c.render("page", c.pageData(lang, switchURL, link, m, cp, nil))
		if err != nil {
			c.internalError(w, r, err)
			return
		}
		b = httpcache.NewBody(page)
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
	if r.Method == http.MethodGet && !link.Params.Has("lang") && c.countable(r, now) {
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
// GET /v1/lots/{gtin}/{lot} does (ledger.LotView).
func (c *Consumer) serveLotJSON(w http.ResponseWriter, r *http.Request, m *model) {
	etag := c.etag("json", m.fingerprint)
	key := modelKey{m.Ref, m.Lot.UpdatedSeq}
	b, ok := c.lotJSON.get(key)
	if !ok {
		var view ledger.LotView
		err := c.cfg.Store.View(func(rd ledger.Reader) (err error) {
			view, err = ledger.ReadLotPage(rd, m.Ref, ledger.LotPage{})
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
		b = httpcache.NewBody(append(body, '\n'))
		c.lotJSON.put(key, b)
	}
	c.serveCached(w, r, etag, contentTypeJSON, b)
}

// linkTarget is one target of a linkset (RFC 9264 §4.2.4). GS1's linkset
// schema requires a title on every target and allows no other members
// than these.
type linkTarget struct {
	Href     string   `json:"href"`
	Title    string   `json:"title"`
	Type     string   `json:"type,omitempty"`
	Hreflang []string `json:"hreflang,omitempty"`
}

// linkset is the one link context of an identified item: its anchor (the
// canonical Digital Link URI), a description, and its targets by link
// type (gs1:… or a registered relation such as describedby).
type linkset struct {
	Anchor      string
	Description string
	Links       map[string][]linkTarget
}

// target is where a request for a link type is redirected: the first
// target the linkset gives for it.
func (ls *linkset) target(lt string) (string, bool) {
	t := ls.Links[lt]
	if len(t) == 0 {
		return "", false
	}
	return t[0].Href, true
}

// MarshalJSON writes the linkset as RFC 9264 §4.2 JSON, in the form GS1's
// linkset schema validates: gs1: link types written as full URIs.
func (ls *linkset) MarshalJSON() ([]byte, error) {
	ctx := map[string]any{"anchor": ls.Anchor, "itemDescription": ls.Description}
	for lt, t := range ls.Links {
		if rest, ok := strings.CutPrefix(lt, "gs1:"); ok {
			lt = gs1Voc + rest
		}
		ctx[lt] = t
	}
	return json.Marshal(map[string]any{"linkset": []any{ctx}})
}

// lotLinks is the linkset of a lot on the ledger (or one serialised unit
// of it). Every href is absolute, under the public URL, and is exactly
// where ?linkType= redirects.
func (c *Consumer) lotLinks(link *digitallink.Link, m *model) *linkset {
	page := c.public + pagePrefix + link.Path()
	lotPath := digitallink.FormatPath(m.Ref.GTIN, "", m.Ref.Lot, "")
	api := c.public + "/v1/lots/" + m.Ref.GTIN + "/" + digitallink.EscapeValue(m.Ref.Lot)
	title := m.Lot.Product.Name
	desc := title + ", lô " + m.Ref.Lot
	if link.Serial != "" {
		desc += ", số sê-ri " + link.Serial
	}
	return &linkset{Anchor: c.public + link.Path(), Description: desc, Links: map[string][]linkTarget{
		linkDefault:       {{Href: page, Title: title}},
		linkPIP:           {{Href: page, Title: title, Type: mediaHTML, Hreflang: []string{langVI, langEN}}},
		linkTraceability:  {{Href: api + "/provenance", Title: "Provenance bundle: entries, signatures, inclusion proofs", Type: mediaJSON}},
		linkCertification: {{Href: page + "#certificates", Title: "Certificates", Type: mediaHTML, Hreflang: []string{langVI, langEN}}},
		linkRecallStatus:  {{Href: c.public + recallPrefix + lotPath, Title: "Recall status", Type: mediaJSON}},
		linkDescribedBy:   {{Href: api, Title: "Lot state and entries", Type: mediaJSON}},
	}}
}

// productLinks is the linkset of a GTIN: the links a lot the ledger does
// not know walks up to.
func (c *Consumer) productLinks(gtin string, p *productModel) *linkset {
	page := c.public + productPrefix + digitallink.FormatPath(gtin, "", "", "")
	title := p.Product.Name
	return &linkset{Anchor: c.public + digitallink.FormatPath(gtin, "", "", ""), Description: title, Links: map[string][]linkTarget{
		linkDefault: {{Href: page, Title: title}},
		linkPIP:     {{Href: page, Title: title, Type: mediaHTML, Hreflang: []string{langVI, langEN}}},
	}}
}

// serveLinkset answers the RFC 9264 JSON linkset itself, with a Link
// header naming its JSON-LD context.
func (c *Consumer) serveLinkset(w http.ResponseWriter, r *http.Request, ls *linkset) {
	body, err := json.Marshal(ls)
	if err != nil {
		c.internalError(w, r, fmt.Errorf("linkset of %s: %w", ls.Anchor, err))
		return
	}
	h := w.Header()
	h.Add("Link", "<"+c.public+contextPath+`>; rel="`+jsonLDContextRel+`"; type="`+mediaJSONLD+`"`)
	c.serveCached(w, r, c.etag("linkset", string(body)), mediaLinkset, httpcache.Body{Plain: append(body, '\n')})
}

// linksetContextDoc maps a linkset's members to Linked Data: the linkset
// is a graph, each context's anchor its subject, each target's href an
// IRI, and gs1: link types the GS1 Web Vocabulary's.
const linksetContextDoc = `{"@context":{"@version":1.1,"gs1":"https://gs1.org/voc/","linkset":"@graph","anchor":"@id","href":"@id","itemDescription":"gs1:productDescription","title":"http://purl.org/dc/terms/title","type":"http://purl.org/dc/terms/format","hreflang":"http://purl.org/dc/terms/language","describedby":{"@id":"http://www.w3.org/2007/05/powder-s#describedby"}}}
`

// linksetContext answers the JSON-LD context the linkset's Link header
// names.
func (c *Consumer) linksetContext(w http.ResponseWriter, r *http.Request) {
	if corsPreflight(w, r) {
		return
	}
	c.serveCached(w, r, c.etag("context"), mediaJSONLD, httpcache.Body{Plain: []byte(linksetContextDoc)})
}

// serveRecallStatus answers gs1:recallStatus: whether the lot is
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
		"linkTypes":                   []string{linkDefault, linkPIP, linkTraceability, linkCertification, linkRecallStatus, linkDescribedBy},
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
	detail := digitallink.Message(err, lang) // one sentence in the page's language
	if m := negotiate(r.Header.Get("Accept")); m == mediaJSON || m == mediaLinkset {
		detail = err.Error() // the same sentence, in English, for a machine
	}
	c.codeError(w, r, lang, http.StatusBadRequest, "invalid_digital_link", c.texts[lang].BadTitle, c.texts[lang].BadBody, detail, true)
}

// unknownCode answers a valid code the ledger does not know: 404.
func (c *Consumer) unknownCode(w http.ResponseWriter, r *http.Request, lang string, link *digitallink.Link, body string) {
	c.codeError(w, r, lang, http.StatusNotFound, "unknown_lot", c.texts[lang].NotFoundTitle, body, "GTIN "+link.GTIN+", lot "+strconv.Quote(link.Lot), true)
}

// codeError answers an error as a page, or as the API's JSON error for a
// client that asks for JSON; counterfeit adds the advice for a shopper
// holding a product whose code the ledger refuses.
func (c *Consumer) codeError(w http.ResponseWriter, r *http.Request, lang string, status int, code, title, body, detail string, counterfeit bool) {
	h := w.Header()
	h.Set("Cache-Control", c.cacheControl)
	h.Add("Vary", "Accept, Accept-Language")
	if m := negotiate(r.Header.Get("Accept")); m == mediaJSON || m == mediaLinkset {
		writeJSONError(w, status, code, body+" ("+detail+")")
		return
	}
	ev := &errorView{view: c.baseView(lang, r.URL.EscapedPath()+"?lang="+c.texts[lang].Other),
		Title: title, Body: body, Code: r.URL.EscapedPath(), Detail: detail, Counterfeit: counterfeit}
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

// redirectCanonical answers a code in a non-canonical spelling (a short
// GTIN, lower-case hex …) with a 301 to its canonical path under prefix,
// keeping the query; it reports whether it did.
func redirectCanonical(w http.ResponseWriter, r *http.Request, prefix string, link *digitallink.Link) bool {
	if link.Canonical() {
		return false
	}
	target := prefix + link.Path()
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, target, http.StatusMovedPermanently)
	return true
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
