// Stateless checks of a record before it is signed: the same rules, codes
// and English messages as ledger/validate.go, ledger/gs1.go and
// ledger/decode.go, with a Vietnamese sentence beside each, so that a
// producer hours away from signal learns at once what the server would
// answer 400. The browser tests compare these messages with the Go code's.

const UNITS = 'KGM GRM MGM TNE DTN HGM LTR MLT CLT DLT HLT MTQ CMQ H87 C62 NAR DZN PR SET NPR NMP NBB MTR CMT KMT MTK HAR ARE XBX XBO XBG XCT XJR XSA XPK XPA XCN XTN XBA XCR XPX XTU XVI XJY XBK XPO'.split(' ');
const ROLES = ['admin', 'producer', 'processor', 'distributor', 'retailer', 'inspector'];

// BASE holds each error code's English sentence (ledger/errors.go) and its Vietnamese one.
const BASE = {
  missing_field: ['missing field', 'thiếu trường'],
  invalid_field: ['invalid field', 'trường không hợp lệ'],
  unknown_type: ['unknown record type', 'loại bản ghi không xác định'],
  invalid_gtin: ['invalid GTIN', 'mã GTIN không hợp lệ'],
  invalid_lot: ['invalid lot code', 'số lô không hợp lệ'],
  invalid_unit: ['unit is not a UN/ECE Recommendation 20 code', 'đơn vị không phải mã UN/ECE Khuyến nghị 20'],
  invalid_quantity: ['invalid quantity', 'số lượng không hợp lệ'],
  invalid_time: ['invalid time', 'thời gian không hợp lệ'],
  invalid_address: ['invalid address', 'địa chỉ không hợp lệ'],
  forbidden_character: ['string contains a control or bidirectional formatting character', 'chuỗi chứa ký tự điều khiển hoặc ký tự định hướng'],
};

/** RecordError is a refusal: code as the server's, message in English and Vietnamese. */
export class RecordError extends Error {
  constructor(code, en, vi) { super(en); this.code = code; this.en = en; this.vi = vi; }
  in(field) { return new RecordError(this.code, field + ': ' + this.en, field + ': ' + this.vi); }
}

const q = s => JSON.stringify(String(s));
const fail = (code, en, vi) => new RecordError(code, BASE[code][0] + ': ' + en, BASE[code][1] + ': ' + (vi ?? en));

const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

function checkTime(s) {
  if (!TIME_RE.test(s) || Number.isNaN(Date.parse(s))) {
    return fail('invalid_time', `${q(s)} is not an RFC 3339 time with an offset, e.g. 2026-06-01T06:15:00+07:00`,
      `${q(s)} không phải thời gian RFC 3339 có múi giờ, ví dụ 2026-06-01T06:15:00+07:00`);
  }
}

/** checkAddress is ledger.ParseAddress: 0x and 40 hex digits; mixed case must be EIP-55. */
export function checkAddress(s, checksum) {
  if (typeof s !== 'string' || s.length !== 42 || !/^0[xX]/.test(s)) {
    return fail('invalid_address', `${q(s)} is not a 0x-prefixed 20-byte hex address`, `${q(s)} không phải địa chỉ 20 byte dạng 0x…`);
  }
  const body = s.slice(2);
  if (/[^0-9a-fA-F]/.test(body)) return fail('invalid_address', `${q(s)} is not hex`, `${q(s)} không phải hệ 16`);
  if (body !== body.toLowerCase() && body !== body.toUpperCase() && checksum && checksum(body.toLowerCase()) !== s) {
    return fail('invalid_address', `${q(s)} has a wrong EIP-55 checksum`, `${q(s)} sai mã kiểm tra EIP-55`);
  }
}

/** checkDigit is the GS1 mod-10 check digit of body. */
export function checkDigit(body) {
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let d = body.charCodeAt(body.length - 1 - i) - 48;
    if (i % 2 === 0) d *= 3;
    sum += d;
  }
  return String((10 - sum % 10) % 10);
}

/** normalizeGTIN returns the 14-digit form of a GTIN-8/12/13/14, or throws. */
export function normalizeGTIN(s) {
  if (![8, 12, 13, 14].includes(s.length)) throw fail('invalid_gtin', `${q(s)} has ${s.length} digits, want 8, 12, 13 or 14`, `${q(s)} có ${s.length} chữ số, cần 8, 12, 13 hoặc 14`);
  if (!/^[0-9]+$/.test(s)) throw fail('invalid_gtin', `${q(s)} is not all digits`, `${q(s)} không chỉ gồm chữ số`);
  const g = s.padStart(14, '0'), want = checkDigit(g.slice(0, 13));
  if (g[13] !== want) throw fail('invalid_gtin', `${q(s)} has a wrong check digit (want ${want})`, `${q(s)} sai số kiểm tra (phải là ${want})`);
  return g;
}

const CSET82 = /^[A-Za-z0-9!"%&'()*+,\-./:;<=>?_]$/;

/** checkLot is ledger.CheckLot: 1–20 characters of GS1 CSET 82. */
export function checkLot(s) {
  if (!s) return fail('invalid_lot', 'empty', 'trống');
  for (const c of s) {
    if (!CSET82.test(c)) {
      return fail('invalid_lot', `${q(s)}: character ${goRune(c)} is outside GS1 CSET 82 (ASCII letters, digits and !"%&'()*+,-./:;<=>?_ only)`,
        `${q(s)}: ký tự ${goRune(c)} nằm ngoài bộ GS1 CSET 82 (chỉ chữ cái ASCII không dấu, chữ số và !"%&'()*+,-./:;<=>?_)`);
    }
  }
  if (s.length > 20) return fail('invalid_lot', `${q(s)} is longer than 20 characters`, `${q(s)} dài hơn 20 ký tự`);
}

const goRune = c => c === "'" ? "'\\''" : `'${c}'`;

/** checkAmount is ledger.parseAmount on the amount as written. */
export function checkAmount(s) {
  s = String(s);
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return fail('invalid_quantity', `${q(s)} is not a decimal number`, `${q(s)} không phải số thập phân`);
  const v = Number(s);
  if (!(v > 0)) return fail('invalid_quantity', `${s}: must be positive`, `${s}: phải lớn hơn 0`);
  if (v > 1e12) return fail('invalid_quantity', `${s}: larger than 10^12`, `${s}: lớn hơn 10^12`);
  const m = /^[+-]?(\d*)\.?(\d*)(?:[eE]([+-]?\d+))?$/.exec(s);
  const decimals = m[2].replace(/0+$/, '').length - Number(m[3] || 0);
  if (decimals > 6) return fail('invalid_quantity', `${s}: more than 6 decimal places`, `${s}: quá 6 chữ số thập phân`);
}

function text(field, s, required, max) {
  if (s === undefined || s === '') return required ? fail('missing_field', field, field) : undefined;
  if (String(s).trim() === '') return fail('invalid_field', `${field} is blank`, `${field} để trống`);
  const n = [...String(s)].length;
  if (n > max) return fail('invalid_field', `${field} is ${n} characters, at most ${max}`, `${field} có ${n} ký tự, tối đa ${max}`);
}

function lotRef(field, r) {
  if (!r || !r.gtin) return fail('missing_field', field + '.gtin');
  try { normalizeGTIN(r.gtin); } catch (e) { return e.in(field + '.gtin'); }
  const e = checkLot(r.lot || '');
  if (e) return e.in(field + '.lot');
}

function quantity(field, qt) {
  if (!qt || qt.amount === undefined || qt.amount === '') return fail('missing_field', field + '.amount');
  let e = checkAmount(qt.amount);
  if (e) return e.in(field + '.amount');
  if (!qt.unit) return fail('missing_field', field + '.unit');
  if (!UNITS.includes(qt.unit)) {
    return fail('invalid_unit', `${q(qt.unit)} (use e.g. KGM, GRM, LTR, H87)`, `${q(qt.unit)} (dùng ví dụ KGM, GRM, LTR, H87)`).in(field + '.unit');
  }
}

function product(field, p) {
  p = p || {};
  for (const [name, req, max] of [['name', true, 200], ['name_en', false, 200], ['variety', false, 200], ['grade', false, 100], ['description', false, 2000], ['image', false, 500]]) {
    const e = text(field + '.' + name, p[name], req, max);
    if (e) return e;
  }
}

function degrees(s, intDigits, limit) {
  const m = /^-?(\d+)(?:\.(\d*))?$/.exec(s);
  if (!m || m[1].length > intDigits || (m[2] !== undefined && (m[2].length === 0 || m[2].length > 8))) return false;
  const f = Number(s);
  return f >= -limit && f <= limit;
}

/** checkGeo is "latitude,longitude" in decimal degrees, up to 8 decimals. */
export function checkGeo(s) {
  const i = s.indexOf(',');
  if (i < 0) return false;
  return degrees(s.slice(0, i), 2, 90) && degrees(s.slice(i + 1).replace(/^ /, ''), 3, 180);
}

function place(field, p) {
  if (!p) return;
  let e = text(field + '.name', p.name, true, 200);
  if (e) return e;
  if (p.geo && !checkGeo(p.geo)) {
    return fail('invalid_field', `${field}.geo: ${q(p.geo)} is not "latitude,longitude" in decimal degrees`, `${field}.geo: ${q(p.geo)} không phải "vĩ độ,kinh độ" dạng thập phân`);
  }
  for (const name of ['province', 'address', 'growing_area_code', 'gln', 'country']) {
    if ((e = text(field + '.' + name, p[name], false, 200))) return e;
  }
}

function certificate(field, c) {
  if (!c) return;
  let e = text(field + '.scheme', c.scheme, true, 100);
  if (e) return e;
  for (const name of ['number', 'issuer']) if ((e = text(field + '.' + name, c[name], false, 200))) return e;
  if (c.stars !== undefined && (c.stars < 0 || c.stars > 5)) return fail('invalid_field', `${field}.stars: ${c.stars}, want 1–5`, `${field}.stars: ${c.stars}, cần 1–5`);
  for (const name of ['valid_from', 'valid_until']) {
    const d = c[name];
    if (d && (!DATE_RE.test(d) || Number.isNaN(Date.parse(d)))) return fail('invalid_time', `${field}.${name}: ${q(d)} is not a YYYY-MM-DD date`, `${field}.${name}: ${q(d)} không phải ngày YYYY-MM-DD`);
  }
  if (c.valid_from && c.valid_until && c.valid_until < c.valid_from) return fail('invalid_field', `${field}: valid_until is before valid_from`, `${field}: valid_until trước valid_from`);
}

function after(a) {
  if (a === undefined) return;
  if (a.length !== 64) return fail('invalid_field', `after: want the SHA-256 of the lot's latest record as 64 lowercase hex digits, got ${a.length} characters`, `after: cần SHA-256 của bản ghi mới nhất của lô, 64 chữ số hex thường, nhận ${a.length} ký tự`);
  if (!/^[0-9a-f]{64}$/.test(a)) return fail('invalid_field', 'after: want 64 lowercase hex digits (no 0x prefix)', 'after: cần 64 chữ số hex thường (không có 0x)');
}

function forbidden(v, path) {
  if (typeof v === 'string') {
    for (const c of v) {
      const n = c.codePointAt(0);
      if ((n < 0x20 && n !== 9 && n !== 10) || (n >= 0x202a && n <= 0x202e) || (n >= 0x2066 && n <= 0x2069)) {
        const u = 'U+' + n.toString(16).toUpperCase().padStart(4, '0');
        return fail('forbidden_character', `${path} contains ${u}`, `${path} chứa ${u}`);
      }
    }
  } else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      const e = forbidden(x, Array.isArray(v) ? `${path}[${k}]` : (path === 'record' ? k : `${path}.${k}`));
      if (e) return e;
    }
  }
}

const BY_TYPE = {
  participant(r, checksum) {
    if (!r.address) return fail('missing_field', 'address');
    let e = checkAddress(r.address, checksum);
    if (e) return e.in('address');
    if ((e = text('name', r.name, true, 200))) return e;
    if (!r.roles || !r.roles.length) return fail('missing_field', 'roles');
    const seen = new Set();
    for (const role of r.roles) {
      if (!ROLES.includes(role)) return fail('invalid_field', `roles: ${q(role)} is not one of admin, producer, processor, distributor, retailer, inspector`, `roles: ${q(role)} không phải một trong admin, producer, processor, distributor, retailer, inspector`);
      if (seen.has(role)) return fail('invalid_field', `roles: ${q(role)} listed twice`, `roles: ${q(role)} lặp lại`);
      seen.add(role);
    }
    if (r.gln) {
      if (r.gln.length !== 13) return fail('invalid_field', `gln: ${q(r.gln)} is not 13 digits`, `gln: ${q(r.gln)} không phải 13 chữ số`);
      try { normalizeGTIN(r.gln); } catch { return fail('invalid_field', `gln: ${q(r.gln)} has a wrong check digit`, `gln: ${q(r.gln)} sai số kiểm tra`); }
    }
    return text('tax_code', r.tax_code, false, 20) || place('location', r.location);
  },
  harvest(r) {
    return lotRef('lot', r.lot) || product('product', r.product) || quantity('quantity', r.quantity) ||
      (r.place ? place('place', r.place) : fail('missing_field', 'place.name')) ||
      (r.certificates || []).map((c, i) => certificate(`certificates[${i}]`, c)).find(Boolean);
  },
  transfer(r, checksum) {
    let e = lotRef('lot', r.lot);
    if (e) return e;
    if (!r.to) return fail('missing_field', 'to');
    if ((e = checkAddress(r.to, checksum))) return e.in('to');
    if (r.to.toLowerCase() === String(r.signer).toLowerCase()) return fail('invalid_field', 'to: a lot cannot be transferred to its sender', 'to: không thể chuyển lô cho chính người gửi');
    return after(r.after) || place('place', r.place);
  },
  receive(r) { return lotRef('lot', r.lot) || after(r.after) || place('place', r.place); },
  transform(r) {
    if (!r.inputs || !r.inputs.length) return fail('missing_field', 'inputs');
    if (!r.outputs || !r.outputs.length) return fail('missing_field', 'outputs');
    const seen = new Map();
    const dup = (f, l) => {
      const key = l.gtin.padStart(14, '0') + '/' + l.lot;
      if (seen.has(key)) return fail('invalid_field', `${f}.lot: ${key} already named in ${seen.get(key)}`, `${f}.lot: ${key} đã có ở ${seen.get(key)}`);
      seen.set(key, f);
    };
    for (const [i, x] of r.inputs.entries()) {
      const f = `inputs[${i}]`, e = lotRef(f + '.lot', x.lot) || quantity(f + '.quantity', x.quantity) || dup(f, x.lot);
      if (e) return e;
    }
    for (const [i, x] of r.outputs.entries()) {
      const f = `outputs[${i}]`, e = lotRef(f + '.lot', x.lot) || product(f + '.product', x.product) || quantity(f + '.quantity', x.quantity) || dup(f, x.lot);
      if (e) return e;
    }
    return text('process', r.process, false, 200) || place('place', r.place);
  },
  inspect(r) {
    const e = lotRef('lot', r.lot);
    if (e) return e;
    if (!r.result) return fail('missing_field', 'result');
    if (r.result !== 'pass' && r.result !== 'fail') return fail('invalid_field', `result: ${q(r.result)}, want pass or fail`, `result: ${q(r.result)}, cần pass hoặc fail`);
    return certificate('certificate', r.certificate) || text('note', r.note, false, 2000) || place('place', r.place);
  },
  recall(r) { return lotRef('lot', r.lot) || text('reason', r.reason, true, 2000); },
};

/**
 * checkRecord runs the server's stateless checks on a record object and
 * returns the first failure as a RecordError, or undefined when the record
 * would pass them. checksum(lowerHex) returns the EIP-55 form of an address.
 */
export function checkRecord(r, checksum) {
  let e = forbidden(r, 'record');
  if (e) return e;
  if (!r.type) return fail('missing_field', 'type');
  const byType = BY_TYPE[r.type];
  if (!byType) return fail('unknown_type', `${q(r.type)} (want participant, harvest, transfer, receive, transform, inspect, recall or epcis)`, `${q(r.type)} (cần participant, harvest, transfer, receive, transform, inspect, recall hoặc epcis)`);
  if (!r.id) return fail('missing_field', 'id');
  const n = [...r.id].length;
  if (n > 64) return fail('invalid_field', `id is ${n} characters, at most 64`, `id có ${n} ký tự, tối đa 64`);
  if (!r.signer) return fail('missing_field', 'signer');
  if ((e = checkAddress(r.signer, checksum))) return e.in('signer');
  if (!r.time) return fail('missing_field', 'time');
  if ((e = checkTime(r.time))) return e;
  return byType(r, checksum);
}
