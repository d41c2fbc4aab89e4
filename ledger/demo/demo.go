// Package demo is a sample ledger history: six specialty products of
// Vietnam, from the cooperatives that grow them to the shops that sell
// them, signed by deterministic demo keys. serve --dev, the testnet and
// the tests seed it. It links no test harness: a production binary
// carries it for --dev only.
package demo

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/traceledger/traceledger/ledger"
)

// The demo history: six products from the seeds of the project, with the
// cooperatives that grow them, the workshops that process them, two
// distributors, two shops and two inspectors. Every participant's key is
// derived from its name, and signatures are deterministic (RFC 6979), so the
// demo envelopes are byte-identical on every run: seeding a ledger twice
// changes nothing (the second run is answered 200, entry for entry).

// Key derives a demo participant's key from a label. Demo keys are
// public knowledge: never use them outside a demo.
func Key(label string) *ecdsa.PrivateKey {
	seed := sha256.Sum256([]byte("traceledger demo key: " + label))
	k, err := crypto.ToECDSA(seed[:])
	if err != nil {
		panic(fmt.Sprintf("demo key %q: %v", label, err)) // unreachable for SHA-256 output in practice
	}
	return k
}

// Lot is a lot of the demo worth showing.
type Lot struct {
	GTIN, Lot, What string
}

// demoParticipant is a participant of the demo history.
type demoParticipant struct {
	label    string
	name     string
	roles    []string
	location ledger.Place
}

var demoParticipants = []demoParticipant{
	{"phidien", "Hợp tác xã Vải thiều Phì Điền", []string{"producer"}, ledger.Place{Name: "Phì Điền, Lục Ngạn", Province: "Bắc Giang", Geo: "21.387,106.556"}},
	{"bgfood", "Công ty Chế biến Nông sản Bắc Giang", []string{"processor"}, ledger.Place{Name: "KCN Đình Trám, Việt Yên", Province: "Bắc Giang", Geo: "21.262,106.118"}},
	{"cathai", "Cơ sở Nước mắm Cát Hải", []string{"producer", "processor"}, ledger.Place{Name: "Thị trấn Cát Hải", Province: "Hải Phòng", Geo: "20.798,106.893"}},
	{"haiha", "Hợp tác xã Chè hoa vàng Hải Hà", []string{"producer", "processor"}, ledger.Place{Name: "Quảng Long, Hải Hà", Province: "Quảng Ninh", Geo: "21.452,107.752"}},
	{"hungyen", "Hợp tác xã Sen Hưng Yên", []string{"producer", "processor"}, ledger.Place{Name: "Phường An Tảo", Province: "Hưng Yên", Geo: "20.662,106.056"}},
	{"laichau", "Hợp tác xã Sâm Lai Châu", []string{"producer", "processor"}, ledger.Place{Name: "Tả Lèng, Tam Đường", Province: "Lai Châu", Geo: "22.355,103.474"}},
	{"hagiang", "Hợp tác xã Ong mật Mèo Vạc", []string{"producer", "processor"}, ledger.Place{Name: "Pả Vi, Mèo Vạc", Province: "Hà Giang", Geo: "23.161,105.409"}},
	{"dist-hp", "Công ty Phân phối Nông sản Hải Phòng", []string{"distributor"}, ledger.Place{Name: "Quận Hồng Bàng", Province: "Hải Phòng", Geo: "20.861,106.680"}},
	{"dist-hn", "Công ty Phân phối Đặc sản Hà Nội", []string{"distributor"}, ledger.Place{Name: "Quận Long Biên", Province: "Hà Nội", Geo: "21.047,105.888"}},
	{"shop-hn", "Siêu thị Hà Nội – Cầu Giấy", []string{"retailer"}, ledger.Place{Name: "Quận Cầu Giấy", Province: "Hà Nội", Geo: "21.036,105.790"}},
	{"shop-tht", "Cửa hàng Tự hào hàng Việt", []string{"retailer"}, ledger.Place{Name: "Quận Hoàn Kiếm", Province: "Hà Nội", Geo: "21.028,105.852"}},
	{"qa-bg", "Chi cục Quản lý chất lượng Nông lâm sản Bắc Giang", []string{"inspector"}, ledger.Place{Name: "TP Bắc Giang", Province: "Bắc Giang"}},
	{"cert", "Trung tâm Chứng nhận VietGAP và OCOP", []string{"inspector"}, ledger.Place{Name: "Quận Ba Đình", Province: "Hà Nội"}},
}

// gtin completes a 13-digit body with its GS1 check digit.
func gtin(body string) string { return body + string(ledger.CheckDigit(body)) }

// Demo GTINs (GS1 Vietnam prefix 893).
var (
	gtinLycheeFresh = gtin("0893600010001")
	gtinLycheeBox   = gtin("0893600010002")
	gtinAnchovy     = gtin("0893600020001")
	gtinFishSauce   = gtin("0893600020002")
	gtinTeaFlower   = gtin("0893600030001")
	gtinTeaBox      = gtin("0893600030002")
	gtinLotusFresh  = gtin("0893600040001")
	gtinLotusDried  = gtin("0893600040002")
	gtinGinsengLeaf = gtin("0893600050001")
	gtinGinsengTea  = gtin("0893600050002")
	gtinHoneyRaw    = gtin("0893600060001")
	gtinHoneyJar    = gtin("0893600060002")
)

// Lots lists the lots worth opening after seeding.
func Lots() []Lot {
	return []Lot{
		{gtinLycheeBox, "LNB2606A", "Vải thiều Lục Ngạn, hộp 250 g (harvest → boxing → 3 hand-overs → shop)"},
		{gtinFishSauce, "CH2603N", "Nước mắm Cát Hải 40°N, chai 500 ml (OCOP 4★)"},
		{gtinTeaBox, "HH2611T", "Chè hoa vàng Hải Hà, hộp 50 g (OCOP 5★)"},
		{gtinLotusDried, "HY2607S", "Hạt sen sấy Hưng Yên"},
		{gtinGinsengTea, "LC2605G", "Trà sâm Lai Châu"},
		{gtinHoneyJar, "HG2604M", "Mật ong bạc hà Hà Giang, hũ 500 g"},
		{gtinHoneyJar, "HG2607R", "Mật ong bạc hà Hà Giang — RECALLED batch"},
	}
}

type demoBuilder struct {
	origin string // the ledger each record names; empty: none
	keys   map[string]*ecdsa.PrivateKey
	out    []ledger.Envelope
	n      int
	err    error
}

func (b *demoBuilder) addr(label string) string {
	return crypto.PubkeyToAddress(b.keys[label].PublicKey).Hex()
}

func (b *demoBuilder) sign(label, typ, when string, fields map[string]any) {
	if b.err != nil {
		return
	}
	b.n++
	rec := map[string]any{"type": typ, "id": fmt.Sprintf("demo/%s-%03d", typ, b.n), "time": when, "signer": b.addr(label)}
	if b.origin != "" {
		rec["ledger"] = b.origin
	}
	for k, v := range fields {
		rec[k] = v
	}
	env, err := SignRecord(b.keys[label], rec)
	if err != nil {
		b.err = err
		return
	}
	b.out = append(b.out, env)
}

// SignRecord marshals a record and signs it (see ledger.SignEnvelope).
func SignRecord(key *ecdsa.PrivateKey, rec any) (ledger.Envelope, error) {
	raw, err := json.Marshal(rec)
	if err != nil {
		return ledger.Envelope{}, err
	}
	return ledger.SignEnvelope(key, raw)
}

func lot(g, l string) map[string]string { return map[string]string{"gtin": g, "lot": l} }

func qty(amount any, unit string) map[string]any {
	return map[string]any{"amount": amount, "unit": unit}
}

func (b *demoBuilder) move(lotRef map[string]string, from, to, sent, received string) {
	b.sign(from, "transfer", sent, map[string]any{"lot": lotRef, "to": b.addr(to)})
	b.sign(to, "receive", received, map[string]any{"lot": lotRef})
}

// Envelopes returns the signed demo history, in the order it must be
// submitted, for a ledger whose genesis admin is admin.
func Envelopes(admin *ecdsa.PrivateKey) ([]ledger.Envelope, error) {
	return EnvelopesFor(admin, "")
}

// EnvelopesFor is Envelopes with every record bound to the ledger
// named origin (its "ledger" field), as a careful client signs them. The
// envelopes stay deterministic for one ledger, so seeding it again is
// answered idempotently.
func EnvelopesFor(admin *ecdsa.PrivateKey, origin string) ([]ledger.Envelope, error) {
	b := &demoBuilder{origin: origin, keys: map[string]*ecdsa.PrivateKey{"admin": admin}}
	for _, p := range demoParticipants {
		b.keys[p.label] = Key(p.label)
	}
	for _, p := range demoParticipants {
		b.sign("admin", "participant", "2026-03-01T08:00:00+07:00", map[string]any{
			"address": b.addr(p.label), "name": p.name, "roles": p.roles, "location": p.location})
	}
	vietgap := func(n string) map[string]any {
		return map[string]any{"scheme": "VietGAP", "number": n, "issuer": "Trung tâm Chứng nhận VietGAP", "valid_from": "2025-01-15", "valid_until": "2028-01-14"}
	}
	ocop := func(stars int, n string) map[string]any {
		return map[string]any{"scheme": "OCOP", "stars": stars, "number": n, "issuer": "UBND tỉnh", "valid_from": "2025-06-01", "valid_until": "2028-05-31"}
	}

	// Lục Ngạn lychee: harvest, inspection, to the packing plant, boxing,
	// then distributor → shop.
	fresh := lot(gtinLycheeFresh, "LN2606A")
	b.sign("phidien", "harvest", "2026-06-12T05:30:00+07:00", map[string]any{
		"lot": fresh, "product": map[string]any{"name": "Vải thiều Lục Ngạn", "name_en": "Luc Ngan lychee", "variety": "Vải thiều Thanh Hà"},
		"quantity":     qty(2000, "KGM"),
		"place":        map[string]any{"name": "Vườn vải Phì Điền, Lục Ngạn", "province": "Bắc Giang", "geo": "21.387,106.556", "growing_area_code": "VN-BGLN-0012"},
		"certificates": []any{vietgap("VG-BG-2025-0457")}})
	b.sign("qa-bg", "inspect", "2026-06-12T10:00:00+07:00", map[string]any{"lot": fresh, "result": "pass",
		"note": "Dư lượng thuốc BVTV dưới ngưỡng cho phép", "certificate": vietgap("VG-BG-2025-0457")})
	b.move(fresh, "phidien", "bgfood", "2026-06-12T13:00:00+07:00", "2026-06-12T16:30:00+07:00")
	boxes := lot(gtinLycheeBox, "LNB2606A")
	b.sign("bgfood", "transform", "2026-06-13T07:00:00+07:00", map[string]any{
		"inputs":  []any{map[string]any{"lot": fresh, "quantity": qty(500, "KGM")}},
		"outputs": []any{map[string]any{"lot": boxes, "product": map[string]any{"name": "Vải thiều Lục Ngạn hộp 250 g", "name_en": "Luc Ngan lychee, 250 g box"}, "quantity": qty(2000, "XBX")}},
		"process": "Sơ chế, phân loại, đóng hộp 250 g", "place": map[string]any{"name": "Xưởng đóng gói Đình Trám", "province": "Bắc Giang"}})
	b.move(boxes, "bgfood", "dist-hn", "2026-06-13T14:00:00+07:00", "2026-06-13T19:45:00+07:00")
	b.move(boxes, "dist-hn", "shop-hn", "2026-06-14T06:00:00+07:00", "2026-06-14T08:10:00+07:00")

	// Cát Hải fish sauce: anchovy catch, fermentation and bottling.
	anchovy := lot(gtinAnchovy, "CH2509C")
	b.sign("cathai", "harvest", "2025-09-20T04:00:00+07:00", map[string]any{
		"lot": anchovy, "product": map[string]any{"name": "Cá cơm than tươi", "name_en": "Fresh anchovy"},
		"quantity": qty(3000, "KGM"), "place": map[string]any{"name": "Ngư trường Bạch Long Vĩ – Cát Hải", "province": "Hải Phòng", "geo": "20.798,106.893"}})
	sauce := lot(gtinFishSauce, "CH2603N")
	b.sign("cathai", "transform", "2026-03-20T08:00:00+07:00", map[string]any{
		"inputs":  []any{map[string]any{"lot": anchovy, "quantity": qty(3000, "KGM")}},
		"outputs": []any{map[string]any{"lot": sauce, "product": map[string]any{"name": "Nước mắm Cát Hải 40°N chai 500 ml", "name_en": "Cat Hai fish sauce 40°N, 500 ml"}, "quantity": qty(2400, "XBO")}},
		"process": "Ủ chượp 6 tháng trong thùng gỗ, lọc, đóng chai"})
	b.sign("cert", "inspect", "2026-03-25T09:00:00+07:00", map[string]any{"lot": sauce, "result": "pass", "certificate": ocop(4, "OCOP-HP-2025-031")})
	b.move(sauce, "cathai", "dist-hp", "2026-04-02T07:00:00+07:00", "2026-04-02T11:00:00+07:00")
	b.move(sauce, "dist-hp", "shop-tht", "2026-04-05T06:30:00+07:00", "2026-04-05T15:00:00+07:00")

	// Hải Hà golden-camellia tea: flowers, drying, boxing.
	flowers := lot(gtinTeaFlower, "HH2611F")
	b.sign("haiha", "harvest", "2026-01-10T07:00:00+07:00", map[string]any{
		"lot": flowers, "product": map[string]any{"name": "Hoa trà hoa vàng tươi", "name_en": "Fresh golden camellia flowers"},
		"quantity": qty(200, "KGM"), "place": map[string]any{"name": "Đồi chè Quảng Long", "province": "Quảng Ninh", "geo": "21.452,107.752"}})
	tea := lot(gtinTeaBox, "HH2611T")
	b.sign("haiha", "transform", "2026-01-15T08:00:00+07:00", map[string]any{
		"inputs":  []any{map[string]any{"lot": flowers, "quantity": qty(200, "KGM")}},
		"outputs": []any{map[string]any{"lot": tea, "product": map[string]any{"name": "Chè hoa vàng Hải Hà hộp 50 g", "name_en": "Hai Ha golden camellia tea, 50 g box"}, "quantity": qty(400, "XBX")}},
		"process": "Sấy lạnh, đóng hộp 50 g"})
	b.sign("cert", "inspect", "2026-01-20T09:00:00+07:00", map[string]any{"lot": tea, "result": "pass", "certificate": ocop(5, "OCOP-QN-2025-007")})
	b.move(tea, "haiha", "dist-hn", "2026-02-01T07:00:00+07:00", "2026-02-01T17:00:00+07:00")

	// Hưng Yên lotus seeds: harvest and drying.
	lotus := lot(gtinLotusFresh, "HY2607L")
	b.sign("hungyen", "harvest", "2026-07-05T06:00:00+07:00", map[string]any{
		"lot": lotus, "product": map[string]any{"name": "Hạt sen tươi", "name_en": "Fresh lotus seeds"},
		"quantity": qty(1000, "KGM"), "place": map[string]any{"name": "Đầm sen An Tảo", "province": "Hưng Yên", "geo": "20.662,106.056"}})
	dried := lot(gtinLotusDried, "HY2607S")
	b.sign("hungyen", "transform", "2026-07-08T08:00:00+07:00", map[string]any{
		"inputs":  []any{map[string]any{"lot": lotus, "quantity": qty(1000, "KGM")}},
		"outputs": []any{map[string]any{"lot": dried, "product": map[string]any{"name": "Hạt sen sấy Hưng Yên", "name_en": "Hung Yen dried lotus seeds"}, "quantity": qty(400, "KGM")}},
		"process": "Tách vỏ, sấy khô"})
	b.move(dried, "hungyen", "dist-hn", "2026-07-10T07:00:00+07:00", "2026-07-10T10:00:00+07:00")

	// Lai Châu ginseng tea.
	leaves := lot(gtinGinsengLeaf, "LC2605L")
	b.sign("laichau", "harvest", "2026-05-03T07:30:00+07:00", map[string]any{
		"lot": leaves, "product": map[string]any{"name": "Lá sâm Lai Châu", "name_en": "Lai Chau ginseng leaves"},
		"quantity": qty(50, "KGM"), "place": map[string]any{"name": "Vườn sâm Tả Lèng", "province": "Lai Châu", "geo": "22.355,103.474"}})
	gtea := lot(gtinGinsengTea, "LC2605G")
	b.sign("laichau", "transform", "2026-05-06T08:00:00+07:00", map[string]any{
		"inputs":  []any{map[string]any{"lot": leaves, "quantity": qty(50, "KGM")}},
		"outputs": []any{map[string]any{"lot": gtea, "product": map[string]any{"name": "Trà sâm Lai Châu hộp 100 g", "name_en": "Lai Chau ginseng tea, 100 g box"}, "quantity": qty(500, "XBX")}},
		"process": "Sao, sấy, đóng hộp"})
	b.move(gtea, "laichau", "shop-tht", "2026-05-12T07:00:00+07:00", "2026-05-13T09:00:00+07:00")

	// Hà Giang honey: a good batch through two hand-overs, and a batch that
	// failed inspection and was recalled.
	honey := lot(gtinHoneyRaw, "HG2604R")
	b.sign("hagiang", "harvest", "2026-04-10T06:00:00+07:00", map[string]any{
		"lot": honey, "product": map[string]any{"name": "Mật ong bạc hà thô", "name_en": "Raw mint-flower honey"},
		"quantity": qty(800, "KGM"), "place": map[string]any{"name": "Đàn ong Pả Vi, Mèo Vạc", "province": "Hà Giang", "geo": "23.161,105.409"}})
	jars := lot(gtinHoneyJar, "HG2604M")
	b.sign("hagiang", "transform", "2026-04-15T08:00:00+07:00", map[string]any{
		"inputs":  []any{map[string]any{"lot": honey, "quantity": qty(800, "KGM")}},
		"outputs": []any{map[string]any{"lot": jars, "product": map[string]any{"name": "Mật ong bạc hà Hà Giang hũ 500 g", "name_en": "Ha Giang mint-flower honey, 500 g jar"}, "quantity": qty(1600, "XJR")}},
		"process": "Lọc, đóng hũ"})
	b.sign("cert", "inspect", "2026-04-18T09:00:00+07:00", map[string]any{"lot": jars, "result": "pass", "certificate": ocop(4, "OCOP-HG-2025-012")})
	b.move(jars, "hagiang", "dist-hn", "2026-04-20T06:00:00+07:00", "2026-04-21T14:00:00+07:00")
	b.move(jars, "dist-hn", "shop-hn", "2026-04-23T07:00:00+07:00", "2026-04-23T09:30:00+07:00")

	honey2 := lot(gtinHoneyRaw, "HG2607B")
	b.sign("hagiang", "harvest", "2026-07-02T06:00:00+07:00", map[string]any{
		"lot": honey2, "product": map[string]any{"name": "Mật ong bạc hà thô", "name_en": "Raw mint-flower honey"},
		"quantity": qty(200, "KGM"), "place": map[string]any{"name": "Đàn ong Pả Vi, Mèo Vạc", "province": "Hà Giang", "geo": "23.161,105.409"}})
	jars2 := lot(gtinHoneyJar, "HG2607R")
	b.sign("hagiang", "transform", "2026-07-05T08:00:00+07:00", map[string]any{
		"inputs":  []any{map[string]any{"lot": honey2, "quantity": qty(200, "KGM")}},
		"outputs": []any{map[string]any{"lot": jars2, "product": map[string]any{"name": "Mật ong bạc hà Hà Giang hũ 500 g", "name_en": "Ha Giang mint-flower honey, 500 g jar"}, "quantity": qty(400, "XJR")}},
		"process": "Lọc, đóng hũ"})
	b.sign("cert", "inspect", "2026-07-09T09:00:00+07:00", map[string]any{"lot": jars2, "result": "fail",
		"note": "Độ ẩm 21,5 %, vượt giới hạn 20 % của TCVN 12605:2019"})
	b.sign("hagiang", "recall", "2026-07-09T15:00:00+07:00", map[string]any{"lot": honey2,
		"reason": "Độ ẩm vượt chuẩn TCVN 12605:2019; đề nghị không sử dụng và trả lại nơi mua"})
	return b.out, b.err
}
