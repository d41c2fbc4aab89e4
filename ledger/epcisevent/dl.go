package epcisevent

import (
	"regexp"
	"strconv"
	"strings"
)

// Canonical GS1 Digital Link form of identifiers, as the event hash
// algorithm (GS1 EPCIS 2.0 §8.9, and its reference implementation
// "epcis-event-hash-generator", dl_normaliser.py) defines it: an EPC URI,
// EPC class URI, EPC pattern URI or GS1 Digital Link URI naming a GS1 key
// is rewritten as the constrained canonical Digital Link URI on
// https://id.gs1.org, at the lowest level of identification and without
// key qualifiers (CPV), data attributes or query string. The patterns are
// those of the reference implementation, so that every conforming
// implementation writes one pre-hash string for one event.

// urnChar is one character of the EPC URI serial alphabet (TDS §5 Table
// I.3.1-1), escaped or plain.
const urnChar = `(\%2[125-9A-Fa-f]|\%3[0-9A-Fa-f]|\%4[1-9A-Fa-f]|\%5[0-9AaFf]|\%6[1-9A-Fa-f]|\%7[0-9Aa]|[!\')(*+,.0-9:;=A-Za-z_-])`

// cpiChar is one character of a CPI component reference.
const cpiChar = `(\%2[3dfDF]|\%3[0-9]|\%4[1-9A-Fa-f]|\%5[0-9Aa]|[0-9A-Z-])`

// dlChar is one character of a canonical Digital Link path value as the
// normaliser accepts it.
const dlChar = `[\x22\x27\x2D\x2E\x30-\x39\x3B-\x3F\x41-\x5A\x5F\x61-\x7A]`

// partitions lists (company prefix, reference) digit-count pairs whose sum
// is total, as alternatives of a regular expression; an empty reference
// is written with refEmpty (the schemes differ in how they spell it).
func partitions(total int, refEmpty string) string {
	var alts []string
	for cp := 6; cp <= 12; cp++ {
		ref := total - cp
		if ref == 0 {
			alts = append(alts, `(\d{12}\.`+refEmpty+`)`)
			continue
		}
		alts = append(alts, `(\d{`+strconv.Itoa(cp)+`}\.\d{`+strconv.Itoa(ref)+`})`)
	}
	return "(" + strings.Join(alts, "|") + ")"
}

// freeRef is a company prefix followed by a free-text reference of at most
// total-cp characters of alphabet ch.
func freeRef(total int, ch string) string {
	var alts []string
	for cp := 6; cp <= 12; cp++ {
		alts = append(alts, `(\d{`+strconv.Itoa(cp)+`}\.`+ch+`{1,`+strconv.Itoa(total-cp)+`})`)
	}
	return "(" + strings.Join(alts, "|") + ")"
}

var (
	reSGTIN   = regexp.MustCompile(`^urn:epc:id:sgtin:` + partitions(13, "") + `\.` + urnChar + `{1,20}$`)
	reSSCC    = regexp.MustCompile(`^urn:epc:id:sscc:` + partitions(17, "") + `$`)
	reSGLN    = regexp.MustCompile(`^urn:epc:id:sgln:` + partitions(12, "") + `\.` + urnChar + `{1,20}$`)
	reGRAI    = regexp.MustCompile(`^urn:epc:id:grai:` + partitions(12, `\.`) + `\.` + urnChar + `{1,16}$`)
	reGIAI    = regexp.MustCompile(`^urn:epc:id:giai:` + freeRef(30, urnChar) + `$`)
	reGSRN    = regexp.MustCompile(`^urn:epc:id:gsrn:` + partitions(17, "") + `$`)
	reGSRNP   = regexp.MustCompile(`^urn:epc:id:gsrnp:` + partitions(17, "") + `$`)
	reGDTI    = regexp.MustCompile(`^urn:epc:id:gdti:` + partitions(12, `\.`) + urnChar + `{1,20}$`)
	reCPI     = regexp.MustCompile(`^urn:epc:id:cpi:` + freeRef(30, cpiChar) + `\.\d{1,12}$`)
	reSGCN    = regexp.MustCompile(`^urn:epc:id:sgcn:` + partitions(12, "") + `\.\d{1,12}$`)
	reGINC    = regexp.MustCompile(`^urn:epc:id:ginc:` + freeRef(30, urnChar) + `$`)
	reGSIN    = regexp.MustCompile(`^urn:epc:id:gsin:` + partitions(16, "") + `$`)
	reITIP    = regexp.MustCompile(`^urn:epc:id:itip:` + partitions(13, "") + `\.\d{2}\.\d{2}\.` + urnChar + `{1,20}$`)
	reUPUI    = regexp.MustCompile(`^urn:epc:id:upui:` + partitions(13, "") + `\.` + urnChar + `{1,28}$`)
	rePGLN    = regexp.MustCompile(`^urn:epc:id:pgln:` + partitions(12, "") + `$`)
	reLGTIN   = regexp.MustCompile(`^urn:epc:class:lgtin:` + partitions(13, "") + `\.` + urnChar + `{1,20}$`)
	rePatGTIN = regexp.MustCompile(`^urn:epc:idpat:sgtin:` + partitions(13, "") + `\.\*$`)
	rePatGRAI = regexp.MustCompile(`^urn:epc:idpat:grai:` + partitions(12, `\.`) + `\.\*$`)
	rePatGDTI = regexp.MustCompile(`^urn:epc:idpat:gdti:` + partitions(12, `\.`) + `\.\*$`)
	rePatSGCN = regexp.MustCompile(`^urn:epc:idpat:sgcn:` + partitions(12, `\.`) + `\.\*$`)
	rePatCPI  = regexp.MustCompile(`^urn:epc:idpat:cpi:` + freeRef(30, cpiChar) + `\.\*$`)
	rePatITIP = regexp.MustCompile(`^urn:epc:idpat:itip:` + partitions(13, "") + `\.\d{2}\.\d{2}\.\*$`)
	rePatUPUI = regexp.MustCompile(`^urn:epc:idpat:upui:` + partitions(13, "") + `\.\*$`)

	reDLAny   = regexp.MustCompile(`^https?:(\/\/((([^\/?#]*)@)?([^\/?#:]*)(:([^\/?#]*))?))?((([^?#]*)(\/(01|gtin|8006|itip|8010|cpid|414|gln|417|party|8017|gsrnp|8018|gsrn|255|gcn|00|sscc|253|gdti|401|ginc|402|gsin|8003|grai|8004|giai)\/)(\d{4}[^\/]+)(\/[^/]+\/[^/]+)?[/]?(\?([^?\n]*))?(#([^\n]*))?)|(\/[A-Za-z_-]{10}$))`)
	reDLGS1   = regexp.MustCompile(`^https:\/\/id\.gs1\.org\/(01|8006|8010|414|417|8017|8018|255|00|253|401|402|8003|8004)\/(\d{4}[^\/]+)(\/[^\/]+\/[^\/]+)?[\/]?(\?([^?\n]*))?(#([^\n]*))?`)
	reGTIN14  = regexp.MustCompile(`^https:\/\/id\.gs1\.org\/01\/\d{14}`)
	reGTIN13  = regexp.MustCompile(`^https:\/\/id\.gs1\.org\/01\/\d{13}`)
	reGTIN12  = regexp.MustCompile(`^https:\/\/id\.gs1\.org\/01\/\d{12}`)
	reGTIN8   = regexp.MustCompile(`^https:\/\/id\.gs1\.org\/01\/\d{8}`)
	reCPVLast = regexp.MustCompile(`^https:\/\/id\.gs1\.org\/(8006\/\d{18}|01\/\d{14})\/22\/(` + dlChar + `{0,20})$`)
	reCPVMid  = regexp.MustCompile(`^https:\/\/id\.gs1\.org\/(8006\/\d{18}|01\/\d{14})\/22\/([\x2F\x22\x27\x2D\x2E\x30-\x39\x3B-\x3F\x41-\x5A\x5F\x61-\x7A]{0,20})$`)
	reLotSer  = regexp.MustCompile(`^https:\/\/id\.gs1\.org\/(8006\/\d{18}|01\/(\d{14}))\/10\/(` + dlChar + `{0,20})\/21\/(` + dlChar + `{0,20})$`)
	reDLFinal = regexp.MustCompile(`^https:\/\/id\.gs1\.org\/(` + strings.Join([]string{
		`00\/\d{18}`,
		`01\/\d{14}\/21\/` + dlChar + `{0,20}`,
		`01\/\d{14}\/10\/` + dlChar + `{0,20}`,
		`01\/\d{14}`,
		`01\/\d{14}\/235\/` + dlChar + `{0,28}`,
		`253\/\d{13}` + dlChar + `{0,17}`,
		`255\/\d{13}\d{0,12}`,
		`401\/` + dlChar + `{0,30}`,
		`402\/\d{17}`,
		`414\/\d{13}`,
		`414\/\d{13}\/254\/` + dlChar + `{0,20}`,
		`417\/\d{13}`,
		`8003\/\d{14}` + dlChar + `{0,16}`,
		`8004\/` + dlChar + `{0,30}`,
		`8006\/\d{18}\/21\/` + dlChar + `{0,20}`,
		`8006\/\d{18}\/10\/` + dlChar + `{0,20}`,
		`8006\/\d{18}`,
		`8010\/[\x23\x2D\x2F\x30-\x39\x41-\x5A]{0,30}\/8011/\d{0,12}`,
		`8010\/[\x23\x2D\x2F\x30-\x39\x41-\x5A]{0,30}`,
		`8017\/\d{18}`,
		`8018\/\d{18}`,
	}, "|") + `)$`)
)

// dlKeyNames maps the long path names of GS1 Digital Link 1.0 to their AIs.
var dlKeyNames = strings.NewReplacer(
	"/gtin/", "/01/", "/itip/", "/8006/", "/cpid/", "/8010/", "/gln/", "/414/",
	"/party/", "/417/", "/gsrnp/", "/8017/", "/gsrn/", "/8018/", "/gcn/", "/255/",
	"/sscc/", "/00/", "/gdti/", "/253/", "/ginc/", "/401/", "/gsin/", "/402/",
	"/grai/", "/8003/", "/giai/", "/8004/", "/cpv/", "/22/", "/lot/", "/10/", "/ser/", "/21/")

// dlRehost lists the key paths looked for, in this order, when a Digital
// Link URI is on another domain than id.gs1.org.
var dlRehost = []string{"/00/", "/01/", "/253/", "/255/", "/401/", "/402/", "/414/", "/417/",
	"/8003/", "/8004/", "/8006/", "/8010/", "/8017/", "/8018/"}

// webEscape percent-encodes the characters GS1 Digital Link 1.2 Table 7-1
// requires escaped that EPC URIs may carry unescaped.
var webEscape = strings.NewReplacer("!", "%21", "(", "%28", ")", "%29", "*", "%2A",
	"+", "%2B", ",", "%2C", ":", "%3A")

// CheckDigit returns the GS1 mod-10 check digit (GS1 General
// Specifications §7.9.1) for the digits in body: weights 3 and 1 alternate
// from the rightmost digit. (ledger.CheckDigit is this one.)
func CheckDigit(body string) byte {
	sum := 0
	for i := 0; i < len(body); i++ {
		d := int(body[len(body)-1-i] - '0')
		if i%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

// checkDigit is CheckDigit as a string, to append to a key.
func checkDigit(body string) string { return string(CheckDigit(body)) }

// gtinOf rebuilds the 13 digits of a GTIN without its check digit from a
// company prefix and an item reference whose first digit is the indicator.
func gtinOf(cp, itemref string) string { return itemref[:1] + cp + itemref[1:] }

// CanonicalDL returns the constrained canonical GS1 Digital Link URI of an
// EPC URI, EPC class or pattern URI, or Digital Link URI, and false when
// uri names no GS1 key the normaliser knows.
func CanonicalDL(uri string) (string, bool) {
	if strings.IndexByte(uri, '.') < 0 {
		return "", false
	}
	if !strings.HasPrefix(uri, "urn:epc:") {
		if strings.HasPrefix(uri, "http") {
			return canonicalWebURI(uri)
		}
		return "", false
	}
	const gs1 = "https://id.gs1.org/"
	// parts splits the text after a scheme prefix at its dots.
	parts := func(prefix string) []string { return strings.Split(uri[len(prefix):], ".") }
	switch {
	case reSGTIN.MatchString(uri):
		p := parts("urn:epc:id:sgtin:")
		g := gtinOf(p[0], p[1])
		return gs1 + "01/" + g + checkDigit(g) + "/21/" + webEscape.Replace(strings.Join(p[2:], ".")), true
	case reSSCC.MatchString(uri):
		p := parts("urn:epc:id:sscc:")
		s := p[1][:1] + p[0] + p[1][1:]
		return gs1 + "00/" + s + checkDigit(s), true
	case reSGLN.MatchString(uri):
		p := parts("urn:epc:id:sgln:")
		g := p[0] + p[1]
		ext := strings.Join(p[2:], ".")
		if ext == "0" {
			return gs1 + "414/" + g + checkDigit(g), true
		}
		return gs1 + "414/" + g + checkDigit(g) + "/254/" + webEscape.Replace(ext), true
	case reGRAI.MatchString(uri):
		p := parts("urn:epc:id:grai:")
		g := "0" + p[0] + p[1]
		return gs1 + "8003/" + g + checkDigit(g) + webEscape.Replace(strings.Join(p[2:], ".")), true
	case reGIAI.MatchString(uri):
		rest := uri[len("urn:epc:id:giai:"):]
		i := strings.IndexByte(rest, '.')
		return gs1 + "8004/" + rest[:i] + webEscape.Replace(rest[i+1:]), true
	case reGSRN.MatchString(uri):
		p := parts("urn:epc:id:gsrn:")
		g := p[0] + p[1]
		return gs1 + "8018/" + g + checkDigit(g), true
	case reGSRNP.MatchString(uri):
		p := parts("urn:epc:id:gsrnp:")
		g := p[0] + p[1]
		return gs1 + "8017/" + g + checkDigit(g), true
	case reGDTI.MatchString(uri):
		p := parts("urn:epc:id:gdti:")
		g := p[0] + p[1]
		return gs1 + "253/" + g + checkDigit(g) + webEscape.Replace(strings.Join(p[2:], ".")), true
	case reCPI.MatchString(uri):
		rest := uri[len("urn:epc:id:cpi:"):]
		i, j := strings.IndexByte(rest, '.'), strings.LastIndexByte(rest, '.')
		return gs1 + "8010/" + webEscape.Replace(rest[:i]+rest[i+1:j]) + "/8011/" + rest[j+1:], true
	case reSGCN.MatchString(uri):
		p := parts("urn:epc:id:sgcn:")
		g := p[0] + p[1]
		return gs1 + "255/" + g + checkDigit(g) + p[2], true
	case reGINC.MatchString(uri):
		rest := uri[len("urn:epc:id:ginc:"):]
		i := strings.IndexByte(rest, '.')
		return gs1 + "401/" + rest[:i] + webEscape.Replace(rest[i+1:]), true
	case reGSIN.MatchString(uri):
		p := parts("urn:epc:id:gsin:")
		g := p[0] + p[1]
		return gs1 + "402/" + g + checkDigit(g), true
	case reITIP.MatchString(uri):
		p := parts("urn:epc:id:itip:")
		g := gtinOf(p[0], p[1])
		return gs1 + "8006/" + g + checkDigit(g) + p[2] + p[3] + "/21/" + webEscape.Replace(strings.Join(p[4:], ".")), true
	case reUPUI.MatchString(uri):
		p := parts("urn:epc:id:upui:")
		g := gtinOf(p[0], p[1])
		return gs1 + "01/" + g + checkDigit(g) + "/235/" + webEscape.Replace(strings.Join(p[2:], ".")), true
	case rePGLN.MatchString(uri):
		p := parts("urn:epc:id:pgln:")
		g := p[0] + p[1]
		return gs1 + "417/" + g + checkDigit(g), true
	case reLGTIN.MatchString(uri):
		p := parts("urn:epc:class:lgtin:")
		g := gtinOf(p[0], p[1])
		return gs1 + "01/" + g + checkDigit(g) + "/10/" + webEscape.Replace(strings.Join(p[2:], ".")), true
	case rePatGTIN.MatchString(uri):
		p := parts("urn:epc:idpat:sgtin:")
		g := gtinOf(p[0], p[1])
		return gs1 + "01/" + g + checkDigit(g), true
	case rePatGRAI.MatchString(uri):
		p := parts("urn:epc:idpat:grai:")
		g := "0" + p[0] + p[1]
		return gs1 + "8003/" + g + checkDigit(g), true
	case rePatGDTI.MatchString(uri):
		p := parts("urn:epc:idpat:gdti:")
		g := p[0] + p[1]
		return gs1 + "253/" + g + checkDigit(g), true
	case rePatSGCN.MatchString(uri):
		p := parts("urn:epc:idpat:sgcn:")
		g := p[0] + p[1]
		return gs1 + "255/" + g + checkDigit(g), true
	case rePatCPI.MatchString(uri):
		rest := uri[len("urn:epc:idpat:cpi:"):]
		i, j := strings.IndexByte(rest, '.'), strings.LastIndexByte(rest, '.')
		return gs1 + "8010/" + webEscape.Replace(rest[:i]+rest[i+1:j]), true
	case rePatITIP.MatchString(uri):
		p := parts("urn:epc:idpat:itip:")
		g := gtinOf(p[0], p[1])
		return gs1 + "8006/" + g + checkDigit(g) + p[2] + p[3], true
	case rePatUPUI.MatchString(uri):
		p := parts("urn:epc:idpat:upui:")
		g := gtinOf(p[0], p[1])
		return gs1 + "01/" + g + checkDigit(g), true
	}
	return canonicalWebURI(uri)
}

// canonicalWebURI is CanonicalDL for a Digital Link URI.
func canonicalWebURI(uri string) (string, bool) {
	if !reDLAny.MatchString(uri) {
		return "", false
	}
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		uri = uri[:i]
	}
	uri = dlKeyNames.Replace(uri)
	if !reDLGS1.MatchString(uri) {
		for _, k := range dlRehost {
			if i := strings.Index(uri, k); i >= 0 {
				uri = "https://id.gs1.org" + uri[i:]
				break
			}
		}
	}
	if !reGTIN14.MatchString(uri) {
		switch {
		case reGTIN13.MatchString(uri):
			uri = strings.Replace(uri, "/01/", "/01/0", -1)
		case reGTIN12.MatchString(uri):
			uri = strings.Replace(uri, "/01/", "/01/00", -1)
		case reGTIN8.MatchString(uri):
			uri = strings.Replace(uri, "/01/", "/01/000000", -1)
		}
	}
	// A key qualifier (CPV, AI 22) is dropped, and so is a lot (AI 10)
	// before a serial (AI 21): the serial alone is the lowest level.
	if m := reCPVLast.FindStringSubmatchIndex(uri); m != nil {
		uri = uri[:strings.Index(uri, "/22/")]
	} else if reCPVMid.MatchString(uri) {
		i := strings.Index(uri, "/22/")
		x := uri[i+4:]
		uri = uri[:i] + x[strings.IndexByte(x, '/'):]
	}
	if reLotSer.MatchString(uri) {
		i := strings.Index(uri, "/10/")
		y := uri[i+4:]
		uri = uri[:i] + y[strings.IndexByte(y, '/'):]
	}
	if !reDLFinal.MatchString(uri) {
		return "", false
	}
	return uri, true
}
