package consumer

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/traceledger/traceledger/api/digitallink"
	"github.com/traceledger/traceledger/ledger"
)

// productModel is what the product page shows about a GTIN: the trade
// item, who made its lots, and its newest lots.
type productModel struct {
	GTIN      string
	Product   ledger.Product // of the newest lot
	Producers []*party
	Lots      []*ledger.Lot // newest first, at most recentLots
	Total     int           // lots read (at most maxProductLots)
}

// productModel reads the lots of a GTIN; it returns nil when the ledger
// has none.
func (c *Consumer) productModel(gtin string) (*productModel, error) {
	var p *productModel
	err := c.cfg.Store.View(func(rd ledger.Reader) error {
		var lots []*ledger.Lot
		err := ledger.LotsOfGTIN(rd, gtin, func(l *ledger.Lot) bool {
			lots = append(lots, l)
			return len(lots) < maxProductLots
		})
		if err != nil {
			return fmt.Errorf("lots of GTIN %s: %w", gtin, err)
		}
		if len(lots) == 0 {
			return nil
		}
		slices.SortFunc(lots, func(a, b *ledger.Lot) int { return cmp.Compare(b.CreatedSeq, a.CreatedSeq) })
		p = &productModel{GTIN: gtin, Product: lots[0].Product, Total: len(lots), Lots: lots[:min(recentLots, len(lots))]}
		seen := map[string]bool{}
		for _, l := range lots {
			if seen[l.Creator] || len(p.Producers) == 5 {
				continue
			}
			seen[l.Creator] = true
			who, err := readParty(rd, l.Creator)
			if err != nil {
				return err
			}
			p.Producers = append(p.Producers, who)
		}
		return nil
	})
	return p, err
}

// readParty names a participant as the pages do.
func readParty(rd ledger.Reader, addr string) (*party, error) {
	p := &party{Address: addr, Name: shortAddress(addr)}
	a, err := ledger.ParseAddress(addr)
	if err != nil {
		return p, nil
	}
	info, err := ledger.GetParticipant(rd, a)
	if err != nil {
		return nil, fmt.Errorf("participant %s: %w", addr, err)
	}
	if info != nil {
		p.Name, p.Registered = info.Name, true
		if info.Location != nil {
			p.Town = joinNonEmpty(info.Location.Name, info.Location.Province)
		}
	}
	return p, nil
}

// productView is the data of the product page.
type productView struct {
	view
	P         *productModel
	Unknown   string // the scanned lot code the ledger does not hold, if any
	Canonical string
}

// ProductName is the product in the page's language.
func (p *productView) ProductName() string { return p.Name(p.P.Product) }

// LotURL is the page of one of the product's lots.
func (p *productView) LotURL(l *ledger.Lot) string {
	return pagePrefix + digitallink.FormatPath(l.GTIN, "", l.Lot, "")
}

// productPage answers GET /product/01/{gtin}[?lot=CODE]: the trade item's
// page, where a Digital Link walks up to when the ledger holds the GTIN
// but not the lot scanned. With ?lot= naming a lot code the ledger does
// not hold, the page warns first that the product may be counterfeit.
func (c *Consumer) productPage(w http.ResponseWriter, r *http.Request) {
	lang := pickLang(r)
	link, err := digitallink.ParsePath(trimSlash(strings.TrimPrefix(r.URL.EscapedPath(), productPrefix)), r.URL.RawQuery)
	if err == nil && (link.Lot != "" || link.Serial != "" || link.Variant != "") {
		err = digitallink.ErrGTINOnly()
	}
	if err != nil {
		c.badCode(w, r, lang, err)
		return
	}
	if redirectCanonical(w, r, productPrefix, link) {
		return
	}
	p, err := c.productModel(link.GTIN)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	if p == nil {
		c.unknownCode(w, r, lang, link, c.texts[lang].NotFoundBody)
		return
	}
	v := &productView{P: p, Canonical: c.public + productPrefix + link.Path()}
	switchQ := "?lang=" + c.texts[lang].Other
	if scanned := link.Params.Get(walkUpParam); scanned != "" {
		switchQ += "&" + walkUpParam + "=" + url.QueryEscape(scanned)
		var known *ledger.Lot
		if ledger.CheckLot(scanned) == nil {
			err = c.cfg.Store.View(func(rd ledger.Reader) (err error) {
				known, err = ledger.GetLot(rd, ledger.LotRef{GTIN: link.GTIN, Lot: scanned})
				return err
			})
			if err != nil {
				c.internalError(w, r, err)
				return
			}
		}
		if known == nil {
			v.Unknown = scanned
		}
	}
	v.view = c.baseView(lang, productPrefix+link.Path()+switchQ)
	body, err := c.render("product", v)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Language", lang)
	h.Set("Content-Security-Policy", contentSecurityHTML)
	h.Set("Cache-Control", c.cacheControl)
	h.Add("Vary", "Accept-Language")
	write(w, http.StatusOK, contentTypeHTML, body)
}
