package consumer

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Languages of the consumer pages. Vietnamese is the default: the products
// are sold in Vietnam, and a phone whose browser asks for neither language
// gets the one on the label.
const (
	langVI = "vi"
	langEN = "en"
)

// pickLang chooses the page language: ?lang=vi|en wins (the visible switch
// link sets it), then the first of vi or en in Accept-Language by q-value
// (RFC 9110 §12.5.4), then Vietnamese.
func pickLang(r *http.Request) string {
	switch r.URL.Query().Get("lang") {
	case langVI:
		return langVI
	case langEN:
		return langEN
	}
	best, bestQ := langVI, 0.0
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		base, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if (base == langVI || base == langEN) && q > bestQ {
			best, bestQ = base, q
		}
	}
	return best
}

// vietnamZone is Asia/Ho_Chi_Minh: the zone of the ledger's places, in
// which times without one are shown and certificate dates are compared
// with today. Vietnam has kept UTC+7 without daylight saving since 1975,
// so a fixed zone is exact, and the binary needs no tzdata (the container
// image has no zoneinfo).
func vietnamZone() *time.Location { return time.FixedZone("ICT", vietnamOffset) }

const vietnamOffset = 7 * 3600

// texts is one language's strings for the pages. Strings with verbs are
// fed to the template's printf, whose result html/template escapes.
type texts struct {
	Lang, Other, OtherName string

	Title, Product, GTIN, Lot, Serial, Variety, Status, Holder        string
	StatusActive, StatusInTransit, StatusConsumed, StatusRecalled     string
	RecallTitle, RecallDo, RecallOrigin, RecallReason, RecallDate     string
	Producer, Harvest, HarvestPlace, HarvestDate, Map, GrowingArea    string
	Quantity, Journey, JourneyNote, Handover, From, To, Sent          string
	Received, InTransit, Processing, MadeFrom, MadeInto, Inspection   string
	Pass, Fail, Recall, By, LotLabel, Certificates, NoCertificates    string
	Valid, ValidFrom, ValidUntil, CertValid, CertExpired, CertNotYet  string
	Stars, Number, Issuer, Note, Verification, SigAllOK, SigBad       string
	Registered, Unregistered, CheckpointOK, CheckpointPending         string
	CheckpointNone, RawData, ScanInfo, ScanWarn, ScanNote, Truncated  string
	NotFoundTitle, NotFoundBody, BadTitle, BadBody, Advice, Detail    string
	NoLot, Footer, LabelScan, LabelsTitle, LabelsPrint, ScanUncounted string
	NoLinkTitle, NoLinkBody, WalkUpTitle, WalkUpBody, RecentLots      string
	TimeZone, LabelsLocal                                             string
	Catch, CatchPlace, CatchDate, Origin, OperatedBy, Contact         string
	SigPlain, SigPlainBad, CheckpointPlain, CheckpointPlainPending    string
	CheckpointPlainNone, Details                                      string
	LotsOnLedger                                                      string
	OlderSteps                                                        string

	Units  map[string]string
	Months [12]string
}

// catalog returns the strings of both languages. It builds fresh values:
// the package keeps no mutable state of its own.
func catalog() map[string]*texts {
	vi := &texts{
		Lang: langVI, Other: langEN, OtherName: "English",
		Title: "Truy xuất nguồn gốc", Product: "Sản phẩm", GTIN: "Mã GTIN", Lot: "Số lô", Serial: "Số sê-ri",
		Variety: "Giống", Status: "Trạng thái", Holder: "Đơn vị đang giữ",
		StatusActive: "Đang lưu hành", StatusInTransit: "Đang vận chuyển", StatusConsumed: "Đã dùng hết", StatusRecalled: "Đã thu hồi",
		RecallTitle:  "CẢNH BÁO: SẢN PHẨM BỊ THU HỒI",
		RecallDo:     "Không ăn, không sử dụng sản phẩm này. Hãy mang trả lại nơi mua.",
		RecallOrigin: "Lô nguyên liệu %s (%s) đã bị thu hồi; lô này được làm từ lô đó.",
		RecallReason: "Lý do", RecallDate: "Ngày thu hồi",
		Producer: "Nhà sản xuất", Harvest: "Thu hoạch", HarvestPlace: "Nơi thu hoạch", HarvestDate: "Ngày thu hoạch",
		Map: "Xem bản đồ", GrowingArea: "Mã vùng trồng", Quantity: "Số lượng",
		Journey:     "Hành trình sản phẩm",
		JourneyNote: "Từ nơi sản xuất đến cửa hàng. Mỗi bước do chính người thực hiện ký số.",
		Handover:    "Bàn giao", From: "Từ", To: "Đến", Sent: "Gửi đi", Received: "Đã nhận", InTransit: "Đang vận chuyển",
		Processing: "Chế biến", MadeFrom: "Nguyên liệu", MadeInto: "Thành phẩm", Inspection: "Kiểm định",
		Pass: "Đạt", Fail: "Không đạt", Recall: "Thu hồi", By: "Thực hiện", LotLabel: "Lô",
		Certificates: "Chứng nhận", NoCertificates: "Chưa có chứng nhận nào được ghi cho sản phẩm này.",
		Valid: "Hiệu lực", ValidFrom: "từ", ValidUntil: "đến",
		CertValid: "Còn hiệu lực", CertExpired: "Hết hiệu lực", CertNotYet: "Chưa có hiệu lực",
		Stars: "sao", Number: "Số", Issuer: "Cấp bởi", Note: "Ghi chú",
		Verification:      "Kiểm chứng",
		SigAllOK:          "Đã kiểm tra lại %d/%d chữ ký số (EIP-191, secp256k1) ngay khi tạo trang: tất cả hợp lệ và đúng người ký.",
		SigBad:            "CẢNH BÁO: %d/%d chữ ký số không hợp lệ. Dữ liệu có thể đã bị sửa; đừng tin trang này.",
		Registered:        "Mọi người ký đều là thành viên đã đăng ký trong sổ cái.",
		Unregistered:      "Có người ký không còn đăng ký trong sổ cái.",
		CheckpointOK:      "Mọi bước đều nằm trong checkpoint mới nhất của sổ cái, được %d/%d nút ký.",
		CheckpointPending: "Các bước mới nhất chưa nằm trong checkpoint đã ký của sổ cái; hãy tải lại sau ít phút.",
		CheckpointNone:    "Chưa có trên nút này: checkpoint đồng ký của sổ cái và bằng chứng Merkle (RFC 6962) cho từng bước. Các chữ ký số ở trên vẫn được kiểm tra đầy đủ.",
		RawData:           "Dữ liệu gốc (JSON)",
		ScanInfo:          "Quét lần đầu: %s · đã quét %d lần",
		ScanWarn:          "Mã này đã được quét %d lần. Mã có thể đã bị sao chép: hãy kiểm tra kỹ sản phẩm và hỏi cửa hàng.",
		ScanNote:          "Số lần quét do máy chủ này đếm.",
		ScanUncounted:     "Lần quét này không được đếm (quá nhiều lượt quét từ mạng của bạn).",
		Truncated:         "Lịch sử rất dài: chỉ hiển thị %d bước.",
		OlderSteps:        "Các bước cũ hơn (JSON)",
		NotFoundTitle:     "Không tìm thấy sản phẩm",
		NotFoundBody:      "Mã này không có trong sổ cái truy xuất nguồn gốc. Sản phẩm có thể là hàng giả.",
		BadTitle:          "Mã không hợp lệ",
		BadBody:           "Mã QR này không đúng chuẩn GS1 Digital Link. Sản phẩm có thể là hàng giả.",
		Advice:            "Nếu nghi ngờ, đừng sử dụng sản phẩm; hãy báo cho cửa hàng hoặc cơ quan quản lý thị trường.",
		Detail:            "Chi tiết kỹ thuật",
		NoLot:             "Mã này chỉ có GTIN, không có số lô; sổ cái truy xuất theo từng lô hàng.",
		Footer:            "Sổ cái truy xuất nguồn gốc traceledger: dữ liệu được ký số và không thể bị sửa một cách âm thầm.",
		TimeZone:          "Giờ hiển thị là giờ Việt Nam (UTC+7), trừ khi ghi khác.",
		Catch:             "Đánh bắt", CatchPlace: "Nơi đánh bắt", CatchDate: "Ngày đánh bắt", Origin: "Nguồn gốc",
		OperatedBy: "Đơn vị vận hành", Contact: "Liên hệ",
		SigPlain:               "Mọi chữ ký đều hợp lệ: từng bước do đúng người thực hiện ký, và không ai sửa được mà không bị phát hiện.",
		SigPlainBad:            "Có chữ ký không hợp lệ: dữ liệu có thể đã bị sửa.",
		CheckpointPlain:        "Sổ cái được %d/%d máy chủ xác nhận.",
		CheckpointPlainPending: "Các bước mới nhất đang chờ máy chủ xác nhận; hãy tải lại sau ít phút.",
		CheckpointPlainNone:    "Máy chủ này chưa có xác nhận chéo từ các máy chủ khác.",
		Details:                "chi tiết",
		NoLinkTitle:            "Không có liên kết này",
		NoLinkBody:             "Sổ cái không có loại liên kết được hỏi cho mã này.",
		WalkUpTitle:            "Số lô không có trong sổ cái",
		WalkUpBody:             "Số lô %s không có trong sổ cái truy xuất nguồn gốc. Sản phẩm có thể là hàng giả.",
		RecentLots:             "Các lô gần đây",
		LotsOnLedger:           "%d lô trong sổ cái",
		LabelScan:              "Quét để truy xuất nguồn gốc",
		LabelsTitle:            "Tem QR",
		LabelsPrint:            "In trên giấy A4, tỉ lệ 100 %.",
		LabelsLocal:            "Chú ý: mã QR trên tem trỏ tới %s, một địa chỉ chỉ dùng được trong mạng nội bộ. Điện thoại của người mua ở ngoài sẽ không mở được. Hãy chạy máy chủ với --public-url là địa chỉ công khai trước khi in.",
		Units: map[string]string{"H87": "cái", "C62": "đơn vị", "XBX": "hộp", "XBO": "chai", "XJR": "hũ", "XBG": "túi",
			"XCT": "thùng", "XSA": "bao", "XPK": "gói", "XPA": "gói", "XCN": "lon", "XTN": "hộp thiếc", "XCR": "két",
			"XPX": "pallet", "XBK": "giỏ", "XPO": "túi", "NBB": "chai", "DZN": "tá", "PR": "đôi", "SET": "bộ"},
		Months: [12]string{"01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12"},
	}
	en := &texts{
		Lang: langEN, Other: langVI, OtherName: "Tiếng Việt",
		Title: "Product origin", Product: "Product", GTIN: "GTIN", Lot: "Lot", Serial: "Serial number",
		Variety: "Variety", Status: "Status", Holder: "Now held by",
		StatusActive: "Available", StatusInTransit: "In transit", StatusConsumed: "Used up", StatusRecalled: "Recalled",
		RecallTitle:  "WARNING: THIS PRODUCT HAS BEEN RECALLED",
		RecallDo:     "Do not eat or use this product. Return it to the shop where you bought it.",
		RecallOrigin: "Ingredient lot %s (%s) was recalled, and this lot was made from it.",
		RecallReason: "Reason", RecallDate: "Recalled on",
		Producer: "Producer", Harvest: "Harvest", HarvestPlace: "Harvested at", HarvestDate: "Harvested on",
		Map: "View on map", GrowingArea: "Growing area code", Quantity: "Quantity",
		Journey:     "Journey of this product",
		JourneyNote: "From where it was made to the shop. Each step is digitally signed by whoever did it.",
		Handover:    "Hand-over", From: "From", To: "To", Sent: "Sent", Received: "Received", InTransit: "In transit",
		Processing: "Processing", MadeFrom: "Made from", MadeInto: "Made into", Inspection: "Inspection",
		Pass: "Passed", Fail: "Failed", Recall: "Recall", By: "By", LotLabel: "Lot",
		Certificates: "Certificates", NoCertificates: "No certificate has been recorded for this product.",
		Valid: "Valid", ValidFrom: "from", ValidUntil: "until",
		CertValid: "Valid", CertExpired: "Expired", CertNotYet: "Not yet valid",
		Stars: "stars", Number: "No.", Issuer: "Issued by", Note: "Note",
		Verification:      "Verification",
		SigAllOK:          "%d of %d digital signatures (EIP-191, secp256k1) were re-checked when this page was made: all are valid and from the stated signers.",
		SigBad:            "WARNING: %d of %d digital signatures are invalid. The data may have been altered; do not trust this page.",
		Registered:        "Every signer is a participant registered in the ledger.",
		Unregistered:      "A signer is no longer registered in the ledger.",
		CheckpointOK:      "Every step is included in the ledger's latest checkpoint, signed by %d of %d nodes.",
		CheckpointPending: "The newest steps are not yet in a signed checkpoint of the ledger; reload in a few minutes.",
		CheckpointNone:    "Not yet available on this node: the ledger's cosigned checkpoint and the Merkle inclusion proofs (RFC 6962) for each step. The signatures above are still checked in full.",
		RawData:           "Raw data (JSON)",
		ScanInfo:          "First scanned on %s · scanned %d times",
		ScanWarn:          "This code has been scanned %d times. It may have been copied: check the product carefully and ask the shop.",
		ScanNote:          "Scans are counted by this server.",
		ScanUncounted:     "This scan was not counted (too many scans from your network).",
		Truncated:         "Very long history: only %d steps are shown.",
		OlderSteps:        "Older steps (JSON)",
		NotFoundTitle:     "Product not found",
		NotFoundBody:      "This code is not in the traceability ledger. The product may be counterfeit.",
		BadTitle:          "Invalid code",
		BadBody:           "This QR code is not a valid GS1 Digital Link. The product may be counterfeit.",
		Advice:            "If in doubt, do not use the product; tell the shop or the market surveillance authority.",
		Detail:            "Technical detail",
		NoLot:             "This code has a GTIN but no lot number; the ledger traces lots.",
		Footer:            "traceledger provenance ledger: signed data that cannot be changed silently.",
		TimeZone:          "Times are Vietnam time (UTC+7) unless marked otherwise.",
		Catch:             "Catch", CatchPlace: "Caught at", CatchDate: "Caught on", Origin: "Origin",
		OperatedBy: "Operated by", Contact: "Contact",
		SigPlain:               "Every signature is valid: each step was signed by whoever did it, and nobody can change it unnoticed.",
		SigPlainBad:            "Some signatures are invalid: the data may have been altered.",
		CheckpointPlain:        "The ledger is confirmed by %d/%d servers.",
		CheckpointPlainPending: "The newest steps are waiting for the servers' confirmation; reload in a few minutes.",
		CheckpointPlainNone:    "This server has no cross-confirmation from the other servers yet.",
		Details:                "details",
		NoLinkTitle:            "No such link",
		NoLinkBody:             "The ledger has no link of the requested type for this code.",
		WalkUpTitle:            "Lot code not on the ledger",
		WalkUpBody:             "Lot code %s is not in the traceability ledger. The product may be counterfeit.",
		RecentLots:             "Recent lots",
		LotsOnLedger:           "%d lots in the ledger",
		LabelScan:              "Scan to trace the origin",
		LabelsTitle:            "QR labels",
		LabelsPrint:            "Print on A4 paper at 100 % scale.",
		LabelsLocal:            "Warning: the QR codes on these labels point to %s, an address reachable only on a local network. A shopper's phone outside it cannot open them. Run the server with --public-url set to a public address before printing.",
		Units: map[string]string{"H87": "pieces", "C62": "units", "XBX": "boxes", "XBO": "bottles", "XJR": "jars",
			"XBG": "bags", "XCT": "cartons", "XSA": "sacks", "XPK": "packs", "XPA": "packets", "XCN": "cans",
			"XTN": "tins", "XCR": "crates", "XPX": "pallets", "XBK": "baskets", "XPO": "pouches", "NBB": "bottles"},
		Months: [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"},
	}
	return map[string]*texts{langVI: vi, langEN: en}
}

// formatTime shows a field time on the clock of the place where it
// happened: a time written with an offset keeps it (the record says where
// it was), a time in UTC ("Z", as a device in UTC writes it) is shown in
// Vietnam, where the ledger's places are. A time off Vietnam's clock
// carries its offset; Vietnam's own is named once on the page (TimeZone).
// E.g. "12/06/2026 05:30" or "12 Jun 2026, 05:30 (UTC+9)".
func (t *texts) formatTime(tm time.Time) string {
	if tm.IsZero() {
		return ""
	}
	if _, off := tm.Zone(); off == 0 {
		tm = tm.In(vietnamZone())
	}
	var s string
	if t.Lang == langVI {
		s = tm.Format("02/01/2006 15:04")
	} else {
		s = tm.Format("2 ") + t.Months[tm.Month()-1] + tm.Format(" 2006, 15:04")
	}
	if _, off := tm.Zone(); off != vietnamOffset {
		s += " (" + utcOffset(off) + ")"
	}
	return s
}

// utcOffset writes an offset as "UTC+7", "UTC+5:30", "UTC-3".
func utcOffset(off int) string {
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	s := "UTC" + sign + strconv.Itoa(off/3600)
	if m := off % 3600 / 60; m != 0 {
		s += fmt.Sprintf(":%02d", m)
	}
	return s
}

// formatDay shows a YYYY-MM-DD date; anything else is shown as written.
func (t *texts) formatDay(s string) string {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return s
	}
	if t.Lang == langVI {
		return d.Format("02/01/2006")
	}
	return d.Format("2 ") + t.Months[d.Month()-1] + d.Format(" 2006")
}

// formatAmount groups the integer digits of a decimal amount in thousands:
// "2.000" in Vietnamese, "2,000" in English, "12,5" / "12.5" for decimals.
func (t *texts) formatAmount(a string) string {
	intPart, frac, hasFrac := strings.Cut(a, ".")
	sign := ""
	if strings.HasPrefix(intPart, "-") {
		sign, intPart = "-", intPart[1:]
	}
	group, point := ",", "."
	if t.Lang == langVI {
		group, point = ".", ","
	}
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteString(group)
		}
		b.WriteRune(c)
	}
	out := sign + b.String()
	if hasFrac {
		out += point + frac
	}
	return out
}
