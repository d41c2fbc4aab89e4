package consumer

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/traceledger/traceledger/api/digitallink"
	"github.com/traceledger/traceledger/ledger"
)

// templateFiles holds the page templates. It is read-only (embed.FS).
//
//go:embed templates/*.html
var templateFiles embed.FS

// parseTemplates parses the embedded templates and returns them with a
// digest of their text: a new release changes the digest, hence every
// ETag, so no cache keeps serving the old page design.
func parseTemplates() (*template.Template, string, error) {
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, "", fmt.Errorf("consumer: list templates: %w", err)
	}
	h := sha256.New()
	for _, n := range names {
		b, err := templateFiles.ReadFile(n)
		if err != nil {
			return nil, "", fmt.Errorf("consumer: read %s: %w", n, err)
		}
		h.Write(b)
	}
	t, err := template.New("").ParseFS(templateFiles, "templates/*.html")
	if err != nil {
		return nil, "", fmt.Errorf("consumer: parse templates: %w", err)
	}
	return t, hex.EncodeToString(h.Sum(nil)[:8]), nil
}

func (c *Consumer) render(name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := c.tmpl.ExecuteTemplate(&b, name, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// cpState is what the verification panel says about checkpoints.
type cpState struct {
	OK, Covered   bool
	Signed, Total int
	Heads         headState
}

// String is the state as it goes into an ETag.
func (s cpState) String() string {
	if !s.OK {
		return "none"
	}
	return strconv.FormatBool(s.Covered) + "/" + strconv.Itoa(s.Signed) + "/" + strconv.Itoa(s.Total) + "/" + s.Heads.String()
}

func (c *Consumer) checkpointState(m *model) cpState {
	if c.cfg.Checkpoints == nil {
		return cpState{}
	}
	size, signed, total, ok := c.cfg.Checkpoints.Latest()
	if !ok {
		return cpState{}
	}
	st := cpState{OK: true, Covered: size > m.MaxSeq, Signed: signed, Total: total}
	if h, ok := m.cachedHeads(size); ok {
		st.Heads = h
		return st
	}
	err := c.cfg.Store.View(func(rd ledger.Reader) error {
		cp, _, ok, err := ledger.LatestCheckpoint(rd)
		if err != nil || !ok {
			return err
		}
		if st.Heads, err = checkHeads(rd, cp, m); err == nil {
			m.keepHeads(cp.Size, st.Heads)
		}
		return err
	})
	if err != nil {
		st.Heads.Broken = true
		c.log.Error("lot heads of the verification panel", "lot", m.Ref, "err", err)
	}
	return st
}

// scanView is the scan line of a serialised unit's page.
type scanView struct {
	First     time.Time
	Count     int
	Counted   bool // this request was counted (not rate limited)
	Threshold int
}

// Suspicious reports whether the count passed the threshold.
func (s *scanView) Suspicious() bool { return s.Count > s.Threshold }

// view is shared by every template: the language's strings and helpers
// that format in that language.
type view struct {
	T         *texts
	SwitchURL string // the same page in the other language
	Today     string // YYYY-MM-DD in Vietnam
	Op        operator
}

// operator is who runs the ledger, as the header and footer show it.
type operator struct {
	Name, URL, Phone string
	Tel              template.URL // tel: URI of Phone, digits and "+" only
}

func newOperator(cfg *Config) operator {
	op := operator{Name: cfg.OperatorName, URL: cfg.OperatorURL, Phone: cfg.OperatorPhone}
	var b strings.Builder
	for i, r := range cfg.OperatorPhone {
		if r >= '0' && r <= '9' || r == '+' && i == 0 {
			b.WriteRune(r)
		}
	}
	if b.Len() > 0 {
		op.Tel = template.URL("tel:" + b.String())
	}
	return op
}

// When formats a field time.
func (v *view) When(t time.Time) string { return v.T.formatTime(t) }

// Day formats a YYYY-MM-DD date.
func (v *view) Day(s string) string { return v.T.formatDay(s) }

// Name is a product's name in the page's language.
func (v *view) Name(p ledger.Product) string {
	if v.T.Lang == langEN && p.NameEN != "" {
		return p.NameEN
	}
	return p.Name
}

// Qty formats a quantity: "2.000 kg", "400 hũ", "400 jars".
func (v *view) Qty(q ledger.Quantity) string {
	if q.Amount == "" {
		return ""
	}
	unit, ok := v.T.Units[q.Unit]
	if !ok {
		unit = ledger.UnitSymbol(q.Unit)
	}
	return v.T.formatAmount(q.Amount.String()) + " " + unit
}

// Stars draws an OCOP rating.
func (v *view) Stars(n int) string {
	if n <= 0 || n > 5 {
		return ""
	}
	return strings.Repeat("★", n) + strings.Repeat("☆", 5-n)
}

// CertState is "valid", "expired" or "notyet" for today in Vietnam.
func (v *view) CertState(ci *certInfo) string {
	switch {
	case ci.ValidUntil != "" && ci.ValidUntil < v.Today:
		return "expired"
	case ci.ValidFrom != "" && ci.ValidFrom > v.Today:
		return "notyet"
	}
	return "valid"
}

// CertStateText is CertState in words.
func (v *view) CertStateText(ci *certInfo) string {
	switch v.CertState(ci) {
	case "expired":
		return v.T.CertExpired
	case "notyet":
		return v.T.CertNotYet
	}
	return v.T.CertValid
}

// StatusOf is a lot status in words.
func (v *view) StatusOf(status string) string {
	switch status {
	case ledger.StatusRecalled:
		return v.T.StatusRecalled
	case ledger.StatusInTransit:
		return v.T.StatusInTransit
	case ledger.StatusConsumed:
		return v.T.StatusConsumed
	}
	return v.T.StatusActive
}

// PlaceWord labels where a harvest was taken: "Nơi thu hoạch" or "Nơi
// đánh bắt".
func (v *view) PlaceWord(take string) string {
	if take == takeCatch {
		return v.T.CatchPlace
	}
	return v.T.HarvestPlace
}

// DateWord labels when a harvest was taken.
func (v *view) DateWord(take string) string {
	if take == takeCatch {
		return v.T.CatchDate
	}
	return v.T.HarvestDate
}

// pageView is the data of the lot page.
type pageView struct {
	view
	M         *model
	Serial    string
	Scan      *scanView
	CP        cpState
	JSONURL   string
	Canonical string // absolute canonical URL of the page
}

// ProductName is the page's product in its language.
func (p *pageView) ProductName() string { return p.Name(p.M.Lot.Product) }

// Description is the page's summary for link previews (Open Graph): the
// lot, where it was grown or made, and a recall first when there is one.
func (p *pageView) Description() string {
	parts := []string{p.T.Lot + " " + p.M.Ref.Lot}
	if p.M.Recall != nil {
		parts = []string{p.T.RecallTitle, parts[0]}
	}
	for _, h := range p.M.Harvests {
		if t := h.Place.Text(); t != "" {
			parts = append(parts, p.PlaceWord(h.Kind)+": "+t)
			break
		}
	}
	if len(p.M.Harvests) > 0 {
		parts = append(parts, p.T.Producer+": "+p.M.Harvests[0].Producer.Name)
	}
	return strings.Join(parts, " · ")
}

// SigOK reports whether every signature verified.
func (p *pageView) SigOK() bool { return len(p.M.Verify.Bad) == 0 }

// StatusText is the lot's status in words.
func (p *pageView) StatusText() string { return p.StatusOf(p.M.Lot.Status) }

// EventTitle names a journey event.
func (p *pageView) EventTitle(ev *event) string {
	switch ev.Kind {
	case kindHarvest:
		if ev.Take == takeCatch {
			return p.T.Catch
		}
		return p.T.Harvest
	case kindHandover:
		return p.T.Handover
	case kindTransform:
		return p.T.Processing
	case kindInspect:
		if ev.Cert != nil {
			return p.T.Inspection + " · " + ev.Cert.Scheme
		}
		return p.T.Inspection
	case kindRecall:
		return p.T.Recall
	case kindPartner:
		return p.T.PartnerEvent
	}
	return ev.Kind
}

// errorView is the data of the "not found" and "invalid code" pages.
type errorView struct {
	view
	Title, Body string
	Code        string // the path as scanned
	Detail      string // why it was refused, for the curious
	Counterfeit bool
}

// pageData assembles a lot page's view.
func (c *Consumer) pageData(lang, switchURL string, link *digitallink.Link, m *model, cp cpState, scan *scanView) *pageView {
	return &pageView{
		view:      c.baseView(lang, switchURL),
		M:         m,
		Serial:    link.Serial,
		Scan:      scan,
		CP:        cp,
		JSONURL:   "/v1/lots/" + m.Ref.GTIN + "/" + digitallink.EscapeValue(m.Ref.Lot),
		Canonical: c.public + pagePrefix + link.Path(),
	}
}

func (c *Consumer) baseView(lang, switchURL string) view {
	return view{T: c.texts[lang], SwitchURL: switchURL, Today: c.today(), Op: newOperator(&c.cfg)}
}

// today is the date in Vietnam, against which certificates are valid.
func (c *Consumer) today() string {
	return c.cfg.Clock().In(vietnamZone()).Format(time.DateOnly)
}
