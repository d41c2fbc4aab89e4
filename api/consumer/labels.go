package consumer

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/traceledger/traceledger/api/digitallink"
	"github.com/traceledger/traceledger/ledger"
)

// Label sheet bounds: 24 labels fill one A4 page (4 columns × 6 rows of
// about 48 × 46 mm); a sheet may run to 20 pages.
const (
	DefaultLabelCount = 24
	MaxLabelCount     = 480
)

// labelsView is the data of the label sheet.
type labelsView struct {
	view
	Product, Lot, GTIN, URL string
	Modules                 int
	Path                    template.HTMLAttr // d="…" of the QR code, built by qrPath from numbers only
	Labels                  []int
	// Unreachable is the public host when phones outside cannot reach it.
	Unreachable string
}

// unreachableHost returns the public URL's host when it names loopback,
// a private or link-local address or a local name, "" otherwise.
func unreachableHost(public string) string {
	u, err := url.Parse(public)
	if err != nil {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || strings.HasSuffix(host, ".local") || strings.HasSuffix(host, ".internal") || !strings.Contains(host, ".") && !strings.Contains(host, ":") {
		return u.Host
	}
	if ip, err := netip.ParseAddr(host); err == nil && (ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified()) {
		return u.Host
	}
	return ""
}

// labels answers GET /labels/01/{gtin}/10/{lot}?count=N: an HTML sheet of
// N identical labels for printing on A4, each a QR code of the item's
// Digital Link URI with the product name and lot beneath. The QR code is
// drawn once as an SVG symbol and reused, so a sheet of hundreds of labels
// stays small.
//
// The sheet is in Vietnamese unless ?lang=en asks otherwise: labels go on
// a Vietnamese shelf whatever the language of the browser that prints
// them. When the public URL is one a shopper's phone cannot reach
// (loopback, a private or link-local address, localhost), the sheet warns
// on screen that its codes will not work outside.
func (c *Consumer) labels(w http.ResponseWriter, r *http.Request) {
	lang := langVI
	if r.URL.Query().Get("lang") == langEN {
		lang = langEN
	}
	link, err := digitallink.ParsePath(strings.TrimPrefix(r.URL.EscapedPath(), "/labels"), r.URL.RawQuery)
	if err == nil && link.Lot == "" {
		err = digitallink.ErrNeedLot()
	}
	if err != nil {
		c.badCode(w, r, lang, err)
		return
	}
	count := DefaultLabelCount
	if s := link.Params.Get("count"); s != "" {
		if count, err = strconv.Atoi(s); err != nil || count < 1 || count > MaxLabelCount {
			c.codeError(w, r, lang, http.StatusBadRequest, "invalid_count", c.texts[lang].LabelsTitle,
				fmt.Sprintf("count=%s: 1–%d", s, MaxLabelCount), "count must be a whole number from 1 to "+strconv.Itoa(MaxLabelCount), false)
			return
		}
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
	target := c.public + link.Path()
	mods, err := qrModules(target, DefaultQRMargin)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	v := &labelsView{
		view:    c.baseView(lang, "/labels"+link.Path()+"?lang="+c.texts[lang].Other+"&count="+strconv.Itoa(count)),
		Product: m.Lot.Product.Name, Lot: m.Ref.Lot, GTIN: m.Ref.GTIN, URL: target,
		Modules: len(mods), Path: template.HTMLAttr(`d="` + qrPath(mods) + `"`), Labels: make([]int, count),
		Unreachable: unreachableHost(c.public),
	}
	if lang == langEN && m.Lot.Product.NameEN != "" {
		v.Product = m.Lot.Product.NameEN
	}
	body, err := c.render("labels", v)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Language", lang)
	h.Set("Content-Security-Policy", contentSecurityHTML)
	h.Set("Cache-Control", "private, max-age=300")
	write(w, http.StatusOK, contentTypeHTML, body)
}
