package consumer

import (
	"bytes"
	"encoding/xml"
	"errors"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	gzqr "github.com/makiuchi-d/gozxing/qrcode"
)

// decodeQR reads a QR code from an image with gozxing.
func decodeQR(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gzqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_PURE_BARCODE: false})
	if err != nil {
		t.Fatalf("decode QR: %v", err)
	}
	return res.GetText()
}

var svgRun = regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`)

// rasterSVG paints the runs of a QRSVG drawing, scale pixels per module.
func rasterSVG(t *testing.T, svg []byte, scale int) image.Image {
	t.Helper()
	var doc struct {
		ViewBox string `xml:"viewBox,attr"`
		Path    struct {
			D string `xml:"d,attr"`
		} `xml:"path"`
	}
	if err := xml.Unmarshal(svg, &doc); err != nil {
		t.Fatalf("SVG is not well-formed XML: %v", err)
	}
	f := strings.Fields(doc.ViewBox)
	if len(f) != 4 {
		t.Fatalf("viewBox %q", doc.ViewBox)
	}
	n, _ := strconv.Atoi(f[2])
	img := image.NewGray(image.Rect(0, 0, n*scale, n*scale))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for _, m := range svgRun.FindAllStringSubmatch(doc.Path.D, -1) {
		x, _ := strconv.Atoi(m[1])
		y, _ := strconv.Atoi(m[2])
		w, _ := strconv.Atoi(m[3])
		for py := y * scale; py < (y+1)*scale; py++ {
			for px := x * scale; px < (x+w)*scale; px++ {
				img.SetGray(px, py, color.Gray{})
			}
		}
	}
	return img
}

func TestQRImages(t *testing.T) {
	ds := startDemo(t, nil)
	want := ds.url + lycheePath

	t.Run("png decodes to the digital link", func(t *testing.T) {
		r := ds.get(t, "/qr"+lycheePath+".png")
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "image/png" {
			t.Fatalf("%d %q %s", r.status, r.header.Get("Content-Type"), r.body)
		}
		img, err := png.Decode(strings.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() != DefaultQRSize || b.Dy() != DefaultQRSize {
			t.Errorf("size %v, want %d px", b, DefaultQRSize)
		}
		if got := decodeQR(t, img); got != want {
			t.Errorf("QR holds %q, want %q", got, want)
		}
		if r.header.Get("ETag") == "" {
			t.Error("no ETag")
		}
	})

	t.Run("svg decodes to the digital link", func(t *testing.T) {
		r := ds.get(t, "/qr"+lycheePath+".svg?size=512&margin=2")
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "image/svg+xml" {
			t.Fatalf("%d %q", r.status, r.header.Get("Content-Type"))
		}
		if !strings.Contains(r.body, `width="512"`) {
			t.Error("size not applied")
		}
		if got := decodeQR(t, rasterSVG(t, []byte(r.body), 6)); got != want {
			t.Errorf("QR holds %q, want %q", got, want)
		}
	})

	t.Run("serial and options", func(t *testing.T) {
		r := ds.get(t, "/qr"+lycheePath+"/21/SN%2F7.png?size=300&margin=0")
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.body)
		}
		img, _ := png.Decode(strings.NewReader(r.body))
		// Margin 0 draws no quiet zone of its own: add one for the reader.
		framed := image.NewGray(image.Rect(0, 0, 340, 340))
		for i := range framed.Pix {
			framed.Pix[i] = 0xff
		}
		for y := 0; y < 300; y++ {
			for x := 0; x < 300; x++ {
				framed.Set(x+20, y+20, img.At(x, y))
			}
		}
		if got := decodeQR(t, framed); got != want+"/21/SN%2F7" {
			t.Errorf("QR holds %q", got)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		for path, status := range map[string]int{
			"/qr" + lycheePath + ".png?size=10":        http.StatusBadRequest,
			"/qr" + lycheePath + ".png?size=5000":      http.StatusBadRequest,
			"/qr" + lycheePath + ".png?size=big":       http.StatusBadRequest,
			"/qr" + lycheePath + ".png?margin=-1":      http.StatusBadRequest,
			"/qr" + lycheePath + ".svg?margin=17":      http.StatusBadRequest,
			"/qr" + lycheePath + ".gif":                http.StatusNotFound,
			"/qr/01/08936000100026/10/LNB2606A.png":    http.StatusBadRequest,
			"/qr/01/" + lycheeGTIN + ".png":            http.StatusBadRequest,
			"/qr/01/" + lycheeGTIN + "/10/NOPE.png":    http.StatusNotFound,
			"/qr" + lycheePath + ".png?size=2048":      http.StatusOK,
			"/qr" + lycheePath + ".svg?margin=0":       http.StatusOK,
			"/qr/01/8936000100025/10/LNB2606A.svg":     http.StatusOK,
			"/qr" + lycheePath + ".png?size=64&x=1":    http.StatusOK,
			"/qr" + lycheePath + ".png?17=261231":      http.StatusOK,
			"/qr" + lycheePath + ".png?17=261299":      http.StatusBadRequest,
			"/qr" + lycheePath + "/21/" + "%C3.png":    http.StatusBadRequest,
			"/qr" + lycheePath + "/21/A/10/B.png":      http.StatusBadRequest,
			"/qr" + lycheePath + "/21/" + ".png":       http.StatusBadRequest,
			"/qr" + lycheePath + "/21/" + "%2E%2E.png": http.StatusOK,
		} {
			if r := ds.get(t, path); r.status != status {
				t.Errorf("GET %s: %d, want %d (%s)", path, r.status, status, r.body)
			}
		}
	})

	t.Run("encoders", func(t *testing.T) {
		if _, err := QRPNG("x", 10, 4); !errors.Is(err, ErrQROptions) {
			t.Errorf("QRPNG size 10: %v", err)
		}
		b, err := QRPNG("https://example.org/01/09506000134352/10/LN2606A", 64, 4)
		if err != nil {
			t.Fatal(err)
		}
		img, _ := png.Decode(bytes.NewReader(b))
		if got := decodeQR(t, img); got != "https://example.org/01/09506000134352/10/LN2606A" {
			t.Errorf("small PNG holds %q", got)
		}
	})
}

func TestLabelsPublicURL(t *testing.T) {
	ds := startDemo(t, func(c *Config) { c.PublicURL = "https://truyxuat.example.vn" })
	r := ds.get(t, "/labels"+lycheePath)
	if r.status != http.StatusOK || strings.Contains(r.body, `id="local"`) {
		t.Errorf("a public URL's label sheet warns, or fails: %d", r.status)
	}
	for host, local := range map[string]bool{
		"http://127.0.0.1:8080": true, "http://localhost:8080": true, "http://192.168.1.20": true, "http://10.0.0.5": true,
		"http://[::1]:8080": true, "http://[fe80::1]": true, "http://truyxuat": true, "http://shop.local": true,
		"https://truyxuat.example.vn": false, "http://203.113.1.9": false, "https://[2001:db8::1]": false,
	} {
		if got := unreachableHost(host) != ""; got != local {
			t.Errorf("%s: unreachable %v, want %v", host, got, local)
		}
	}
}

func TestLabels(t *testing.T) {
	ds := startDemo(t, nil)
	r := ds.get(t, "/labels"+lycheePath+"?count=30")
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if n := strings.Count(r.body, `class="label"`); n != 30 {
		t.Errorf("%d labels, want 30", n)
	}
	mustContain(t, "label sheet", r.body, "@page{size:A4", "Vải thiều Lục Ngạn hộp 250 g", "Số lô LNB2606A", `<symbol id="qr"`, `<use href="#qr"/>`)
	if r := ds.get(t, "/labels"+lycheePath); strings.Count(r.body, `class="label"`) != DefaultLabelCount {
		t.Errorf("default count: %d labels", strings.Count(r.body, `class="label"`))
	}
	for path, status := range map[string]int{
		"/labels" + lycheePath + "?count=0":      http.StatusBadRequest,
		"/labels" + lycheePath + "?count=481":    http.StatusBadRequest,
		"/labels" + lycheePath + "?count=x":      http.StatusBadRequest,
		"/labels/01/" + lycheeGTIN + "/10/NOPE":  http.StatusNotFound,
		"/labels/01/08936000100026/10/LNB2606A":  http.StatusBadRequest,
		"/labels" + lycheePath + "?lang=en":      http.StatusOK,
		"/labels" + lycheePath + "?count=480":    http.StatusOK,
		"/labels/01/" + lycheeGTIN + "/21/1/10/": http.StatusBadRequest,
	} {
		if r := ds.get(t, path); r.status != status {
			t.Errorf("GET %s: %d, want %d", path, r.status, status)
		}
	}
	// Vietnamese unless ?lang=en, whatever the printing browser's language.
	en := ds.get(t, "/labels"+lycheePath, "Accept-Language: en-US,en")
	if en.header.Get("Content-Language") != "vi" || !strings.Contains(en.body, `lang="vi"`) || !strings.Contains(en.body, "Quét để truy xuất nguồn gốc") {
		t.Errorf("an English browser's label sheet is %q", en.header.Get("Content-Language"))
	}
	asked := ds.get(t, "/labels"+lycheePath+"?lang=en&count=4", "Accept-Language: vi")
	mustContain(t, "English label sheet", asked.body, `lang="en"`, "Scan to trace the origin", "Luc Ngan lychee, 250 g box",
		`href="/labels`+lycheePath+`?lang=vi&amp;count=4"`)
	// Served from loopback, the sheet warns that its codes will not work outside.
	mustContain(t, "loopback label sheet", r.body, `id="local"`, "chỉ dùng được trong mạng nội bộ", strings.TrimPrefix(ds.url, "http://"))
	mustContain(t, "loopback label sheet (en)", asked.body, "reachable only on a local network")
	// 480 labels share one drawing of the code: the sheet stays small.
	if big := ds.get(t, "/labels"+lycheePath+"?count=480"); len(big.body) > 200_000 {
		t.Errorf("480 labels weigh %d bytes", len(big.body))
	}
}
