package fieldapp

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/traceledger/traceledger/api/consumer"
	"github.com/traceledger/traceledger/api/digitallink"
	"github.com/traceledger/traceledger/ledger"
)

// addressQR answers GET /app/qr/{address}.svg: the address as a QR code,
// for a new participant to show the admin who registers them. It depends
// on nothing but the address, so it may be cached for good (the service
// worker keeps it for offline use).
func (a *App) addressQR(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, Prefix+"qr/")
	s, ok := strings.CutSuffix(name, ".svg")
	if !ok {
		http.Error(w, "want /app/qr/0xADDRESS.svg", http.StatusNotFound)
		return
	}
	addr, err := ledger.ParseAddress(s)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	svg, err := consumer.QRSVG(addr.Hex(), 256, consumer.DefaultQRMargin)
	if err != nil {
		a.cfg.Logger.Error("address QR code", "err", err)
		http.Error(w, "cannot draw the QR code", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Write(svg)
}

// landingData is what the landing page shows.
type landingData struct {
	OperatorName, OperatorURL string
	Code, Error, ErrorVI      string
}

// errCode is a lot code the landing page cannot read.
var errCode = errors.New("not a lot code")

// serveLanding answers GET /: what this ledger is and who runs it, a box
// for a lot code, and the way to the field app. GET /?code=… opens the
// lot's page (303) when the code names a lot, and shows the page again
// with the reason (400) when it does not.
func (a *App) serveLanding(w http.ResponseWriter, r *http.Request) {
	d := landingData{OperatorName: a.cfg.OperatorName, OperatorURL: a.cfg.OperatorURL}
	status := http.StatusOK
	if code := strings.TrimSpace(r.URL.Query().Get("code")); code != "" {
		p, err := LotPath(code)
		if err == nil {
			http.Redirect(w, r, p, http.StatusSeeOther)
			return
		}
		d.Code, d.Error = code, err.Error()
		d.ErrorVI = "Không đọc được mã lô: hãy nhập địa chỉ trong mã QR, hoặc GTIN và số lô cách nhau bởi dấu /."
		status = http.StatusBadRequest
	}
	var b bytes.Buffer
	if err := a.landing.Execute(&b, d); err != nil {
		a.cfg.Logger.Error("landing page", "err", err)
		http.Error(w, "cannot render the page", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// LotPath reads what a person types or scans for a lot and returns the
// lot's canonical Digital Link path (/01/{gtin}/10/{lot}): a Digital Link
// URI (a QR code's content), such a path, or a GTIN and a lot code
// separated by "/" or white space.
func LotPath(code string) (string, error) {
	var l *digitallink.Link
	var err error
	switch lower := strings.ToLower(code); {
	case strings.HasPrefix(lower, "http://"), strings.HasPrefix(lower, "https://"):
		l, err = digitallink.Parse(code)
	case strings.HasPrefix(code, "/"):
		l, err = digitallink.ParsePath(code, "")
	default:
		gtin, lot, ok := strings.Cut(strings.Join(strings.Fields(code), " "), " ")
		if !ok {
			gtin, lot, ok = strings.Cut(code, "/")
		}
		if !ok {
			return "", fmt.Errorf("%w: want a Digital Link, or a GTIN and a lot code separated by / or a space", errCode)
		}
		g, err := ledger.NormalizeGTIN(strings.TrimSpace(gtin))
		if err != nil {
			return "", fmt.Errorf("%w: %w", errCode, err)
		}
		lot = strings.TrimSpace(lot)
		if err := ledger.CheckLot(lot); err != nil {
			return "", fmt.Errorf("%w: %w", errCode, err)
		}
		return digitallink.FormatPath(g, "", lot, ""), nil
	}
	if err != nil {
		return "", fmt.Errorf("%w: %w", errCode, err)
	}
	if l.Lot == "" {
		return "", fmt.Errorf("%w: %w", errCode, digitallink.ErrNeedLot())
	}
	return digitallink.FormatPath(l.GTIN, "", l.Lot, ""), nil
}
