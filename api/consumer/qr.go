package consumer

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/traceledger/traceledger/api/digitallink"
	"github.com/traceledger/traceledger/ledger"
)

// QR image options and their bounds. The quiet zone is counted in modules;
// ISO/IEC 18004 asks for 4, which is the default, but a label designer who
// draws their own white border may want less.
const (
	DefaultQRSize   = 256
	MinQRSize       = 64
	MaxQRSize       = 2048
	DefaultQRMargin = 4
	MaxQRMargin     = 16
)

// ErrQROptions reports a size or margin out of bounds.
var ErrQROptions = errors.New("consumer: invalid QR options")

// qrModules encodes content at error-correction level M (about 15 % of the
// symbol may be damaged or covered and still read: a scuffed jar label)
// and returns its modules, bitmap[y][x] true for dark, with margin modules
// of quiet zone on every side.
func qrModules(content string, margin int) ([][]bool, error) {
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("encode QR code: %w", err)
	}
	q.DisableBorder = true
	bm := q.Bitmap()
	n := len(bm) + 2*margin
	out := make([][]bool, n)
	for y := range out {
		out[y] = make([]bool, n)
		if sy := y - margin; sy >= 0 && sy < len(bm) {
			copy(out[y][margin:], bm[sy])
		}
	}
	return out, nil
}

func checkQROptions(size, margin int) error {
	if size < MinQRSize || size > MaxQRSize {
		return fmt.Errorf("%w: size %d is outside %d–%d pixels", ErrQROptions, size, MinQRSize, MaxQRSize)
	}
	if margin < 0 || margin > MaxQRMargin {
		return fmt.Errorf("%w: margin %d is outside 0–%d modules", ErrQROptions, margin, MaxQRMargin)
	}
	return nil
}

// QRPNG draws content as a size×size pixel PNG QR code with a quiet zone
// of margin modules. Each module is a whole number of pixels, so the code
// stays sharp; the pixels left over are shared out as extra white border.
// If size is smaller than the symbol needs, the image is one pixel per
// module.
func QRPNG(content string, size, margin int) ([]byte, error) {
	if err := checkQROptions(size, margin); err != nil {
		return nil, err
	}
	mods, err := qrModules(content, margin)
	if err != nil {
		return nil, err
	}
	n := len(mods)
	scale := max(size/n, 1)
	px := max(size, n*scale)
	off := (px - n*scale) / 2
	img := image.NewPaletted(image.Rect(0, 0, px, px), color.Palette{color.White, color.Black})
	for y, row := range mods {
		for x, dark := range row {
			if !dark {
				continue
			}
			for dy := 0; dy < scale; dy++ {
				line := img.Pix[(off+y*scale+dy)*img.Stride:]
				for dx := 0; dx < scale; dx++ {
					line[off+x*scale+dx] = 1
				}
			}
		}
	}
	var b bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&b, img); err != nil {
		return nil, fmt.Errorf("encode PNG: %w", err)
	}
	return b.Bytes(), nil
}

// qrPath returns the SVG path data of the dark modules, one subpath per
// horizontal run, in module units ("M3 0h7v1h-7z…").
func qrPath(mods [][]bool) string {
	var b strings.Builder
	for y, row := range mods {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			start := x
			for x < len(row) && row[x] {
				x++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", start, y, x-start, x-start)
		}
	}
	return b.String()
}

// QRSVG draws content as an SVG QR code, size pixels wide, with a quiet
// zone of margin modules; the drawing is in module units, so it scales to
// any print size without blur.
func QRSVG(content string, size, margin int) ([]byte, error) {
	if err := checkQROptions(size, margin); err != nil {
		return nil, err
	}
	mods, err := qrModules(content, margin)
	if err != nil {
		return nil, err
	}
	n := len(mods)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" shape-rendering="crispEdges">`, size, size, n, n)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="%s"/></svg>`, n, n, qrPath(mods))
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// imageKey identifies a generated image in the cache.
type imageKey struct {
	content, format string
	size, margin    int
}

// qrImage answers GET /qr/01/{gtin}/10/{lot}[/21/{serial}].png and .svg:
// the QR code carrying the item's canonical Digital Link URI under the
// public URL. ?size= is the width in pixels (64–2048, default 256),
// ?margin= the quiet zone in modules (0–16, default 4).
func (c *Consumer) qrImage(w http.ResponseWriter, r *http.Request) {
	if corsPreflight(w, r) {
		return
	}
	p := strings.TrimPrefix(r.URL.EscapedPath(), "/qr")
	format, mediaType := "", ""
	switch {
	case strings.HasSuffix(p, ".png"):
		format, mediaType = "png", "image/png"
	case strings.HasSuffix(p, ".svg"):
		format, mediaType = "svg", "image/svg+xml"
	default:
		writeJSONError(w, http.StatusNotFound, "not_found", "a QR image path ends in .png or .svg")
		return
	}
	link, err := digitallink.ParsePath(strings.TrimSuffix(p, "."+format), r.URL.RawQuery)
	if err == nil && link.Lot == "" {
		err = digitallink.ErrNeedLot()
	}
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "invalid_digital_link", err.Error())
		return
	}
	size, margin, err := qrOptions(link.Params)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "invalid_qr_options", err.Error())
		return
	}
	ref := ledger.LotRef{GTIN: link.GTIN, Lot: link.Lot}
	exists := false
	err = c.cfg.Store.View(func(rd ledger.Reader) error {
		l, err := ledger.GetLot(rd, ref)
		exists = l != nil
		return err
	})
	if err != nil {
		c.internalError(w, r, fmt.Errorf("read lot %s: %w", ref, err))
		return
	}
	if !exists {
		writeJSONError(w, http.StatusNotFound, "unknown_lot", "unknown lot: "+ref.String())
		return
	}
	key := imageKey{content: c.public + link.Path(), format: format, size: size, margin: margin}
	etag := c.etag("qr", key.format, key.content, strconv.Itoa(size), strconv.Itoa(margin))
	c.setCaching(w, etag)
	if notModified(r, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body, ok := c.images.get(key)
	if !ok {
		if format == "png" {
			body, err = QRPNG(key.content, size, margin)
		} else {
			body, err = QRSVG(key.content, size, margin)
		}
		if err != nil {
			c.internalError(w, r, err)
			return
		}
		c.images.put(key, body)
	}
	write(w, http.StatusOK, mediaType, body)
}

// qrOptions reads ?size= and ?margin=.
func qrOptions(q url.Values) (size, margin int, err error) {
	size, margin = DefaultQRSize, DefaultQRMargin
	if s := q.Get("size"); s != "" {
		if size, err = strconv.Atoi(s); err != nil {
			return 0, 0, fmt.Errorf("%w: size %q is not a whole number of pixels", ErrQROptions, s)
		}
	}
	if s := q.Get("margin"); s != "" {
		if margin, err = strconv.Atoi(s); err != nil {
			return 0, 0, fmt.Errorf("%w: margin %q is not a whole number of modules", ErrQROptions, s)
		}
	}
	return size, margin, checkQROptions(size, margin)
}
