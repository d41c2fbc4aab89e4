// Signer for traceledger records, in the browser, with no dependencies.
//
// It produces exactly the bytes the Go code in ledger/ verifies:
//   canonical bytes = RFC 8785 (JSON Canonicalization Scheme) of the record;
//   signature       = EIP-191 personal_sign: secp256k1 over
//                     keccak256("\x19Ethereum Signed Message:\n" + len + bytes),
//                     r‖s‖v, deterministic k (RFC 6979, HMAC-SHA-256), low-S
//                     (EIP-2), v ∈ {27, 28} — what ledger.Sign returns.
// The browser tests check it against every vector in testdata/ and against
// signatures made by the Go code with the same key.
//
// Field arithmetic uses BigInt. Point multiplication is plain double-and-add:
// it is not constant-time, which is acceptable for a key that lives on the
// user's own phone and signs a few records a day, not for a server.

const P = 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2fn;
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_N = N >> 1n;
const G = [0x79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798n,
  0x483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8n, 1n];

// ---- Keccak-256 (the original Keccak padding 0x01, as Ethereum uses) ----

const M64 = (1n << 64n) - 1n;
const RC = [0x1n, 0x8082n, 0x800000000000808an, 0x8000000080008000n, 0x808bn, 0x80000001n,
  0x8000000080008081n, 0x8000000000008009n, 0x8an, 0x88n, 0x80008009n, 0x8000000an,
  0x8000808bn, 0x800000000000008bn, 0x8000000000008089n, 0x8000000000008003n,
  0x8000000000008002n, 0x8000000000000080n, 0x800an, 0x800000008000000an,
  0x8000000080008081n, 0x8000000000008080n, 0x80000001n, 0x8000000080008008n];
// ROT[x][y]: the ρ offsets of lane (x, y).
const ROT = [[0, 36, 3, 41, 18], [1, 44, 10, 45, 2], [62, 6, 43, 15, 61], [28, 55, 25, 21, 56], [27, 20, 39, 8, 14]]
  .map(r => r.map(BigInt));

const rotl = (a, n) => n === 0n ? a : ((a << n) | (a >> (64n - n))) & M64;

function keccakF(A) {
  const C = new Array(5), B = new Array(25);
  for (let round = 0; round < 24; round++) {
    for (let x = 0; x < 5; x++) C[x] = A[x] ^ A[x + 5] ^ A[x + 10] ^ A[x + 15] ^ A[x + 20];
    for (let x = 0; x < 5; x++) {
      const d = C[(x + 4) % 5] ^ rotl(C[(x + 1) % 5], 1n);
      for (let y = 0; y < 25; y += 5) A[x + y] ^= d;
    }
    for (let x = 0; x < 5; x++) for (let y = 0; y < 5; y++) B[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(A[x + 5 * y], ROT[x][y]);
    for (let y = 0; y < 25; y += 5) for (let x = 0; x < 5; x++) A[x + y] = B[x + y] ^ ((B[(x + 1) % 5 + y] ^ M64) & B[(x + 2) % 5 + y]);
    A[0] ^= RC[round];
  }
}

/** keccak256 returns the 32-byte Keccak-256 digest of bytes (a Uint8Array). */
export function keccak256(bytes) {
  const rate = 136;
  const padded = new Uint8Array((Math.floor(bytes.length / rate) + 1) * rate);
  padded.set(bytes);
  padded[bytes.length] ^= 0x01;
  padded[padded.length - 1] ^= 0x80;
  const A = new Array(25).fill(0n);
  for (let off = 0; off < padded.length; off += rate) {
    for (let i = 0; i < rate / 8; i++) {
      let lane = 0n;
      for (let b = 7; b >= 0; b--) lane = (lane << 8n) | BigInt(padded[off + 8 * i + b]);
      A[i] ^= lane;
    }
    keccakF(A);
  }
  const out = new Uint8Array(32);
  for (let i = 0; i < 4; i++) for (let b = 0; b < 8; b++) out[8 * i + b] = Number((A[i] >> BigInt(8 * b)) & 0xffn);
  return out;
}

// ---- bytes and numbers ----

const enc = new TextEncoder();
export const utf8 = s => enc.encode(s);

export function toHex(bytes) {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

export function fromHex(hex) {
  const h = hex.startsWith('0x') || hex.startsWith('0X') ? hex.slice(2) : hex;
  if (h.length % 2 || /[^0-9a-fA-F]/.test(h)) throw new Error('not hex');
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const toInt = bytes => bytes.length ? BigInt('0x' + toHex(bytes)) : 0n;
const to32 = n => fromHex(n.toString(16).padStart(64, '0'));
const mod = (a, m) => { const r = a % m; return r < 0n ? r + m : r; };

function inv(a, m) {
  let [r0, r1, t0, t1] = [mod(a, m), m, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [t0, t1] = [t1, t0 - q * t1];
  }
  if (r0 !== 1n) throw new Error('not invertible');
  return mod(t0, m);
}

function powMod(b, e, m) {
  let r = 1n;
  b = mod(b, m);
  for (; e > 0n; e >>= 1n) {
    if (e & 1n) r = r * b % m;
    b = b * b % m;
  }
  return r;
}

// ---- secp256k1 in Jacobian coordinates (Z = 0 is the point at infinity) ----

function dbl([X, Y, Z]) {
  if (Z === 0n || Y === 0n) return [0n, 1n, 0n];
  const A = X * X % P, B = Y * Y % P, C = B * B % P;
  const D = mod(2n * ((X + B) ** 2n - A - C), P), E = 3n * A % P, F = E * E % P;
  const X3 = mod(F - 2n * D, P);
  return [X3, mod(E * (D - X3) - 8n * C, P), 2n * Y * Z % P];
}

function add(p, q) {
  if (p[2] === 0n) return q;
  if (q[2] === 0n) return p;
  const [X1, Y1, Z1] = p, [X2, Y2, Z2] = q;
  const Z1s = Z1 * Z1 % P, Z2s = Z2 * Z2 % P;
  const U1 = X1 * Z2s % P, U2 = X2 * Z1s % P;
  const S1 = Y1 * Z2s * Z2 % P, S2 = Y2 * Z1s * Z1 % P;
  if (U1 === U2) return S1 === S2 ? dbl(p) : [0n, 1n, 0n];
  const H = mod(U2 - U1, P), R = mod(S2 - S1, P);
  const H2 = H * H % P, H3 = H2 * H % P, U1H2 = U1 * H2 % P;
  const X3 = mod(R * R - H3 - 2n * U1H2, P);
  return [X3, mod(R * (U1H2 - X3) - S1 * H3, P), H * Z1 * Z2 % P];
}

function mul(p, k) {
  let r = [0n, 1n, 0n];
  for (let i = BigInt(k.toString(2).length - 1); i >= 0n; i--) {
    r = dbl(r);
    if ((k >> i) & 1n) r = add(r, p);
  }
  return r;
}

function affine([X, Y, Z]) {
  if (Z === 0n) throw new Error('point at infinity');
  const zi = inv(Z, P), zi2 = zi * zi % P;
  return [X * zi2 % P, Y * zi2 * zi % P];
}

// ---- keys and addresses ----

/** checksumAddress writes a 20-byte address in EIP-55 mixed case. */
export function checksumAddress(addr20) {
  const hex = toHex(addr20);
  const h = toHex(keccak256(utf8(hex)));
  let out = '0x';
  for (let i = 0; i < 40; i++) out += parseInt(h[i], 16) >= 8 ? hex[i].toUpperCase() : hex[i];
  return out;
}

function addressOfPoint([x, y]) {
  const pub = new Uint8Array(64);
  pub.set(to32(x));
  pub.set(to32(y), 32);
  return checksumAddress(keccak256(pub).slice(12));
}

function privInt(priv) {
  const d = toInt(priv);
  if (priv.length !== 32 || d <= 0n || d >= N) throw new Error('a private key is 32 bytes, between 1 and n−1');
  return d;
}

/** addressOf returns the EIP-55 address of a 32-byte private key. */
export const addressOf = priv => addressOfPoint(affine(mul(G, privInt(priv))));

/** generateKey returns a new random 32-byte private key. */
export function generateKey() {
  for (;;) {
    const k = crypto.getRandomValues(new Uint8Array(32));
    const d = toInt(k);
    if (d > 0n && d < N) return k;
  }
}

// ---- RFC 8785 canonical JSON ----

/**
 * canonicalize returns the RFC 8785 form of a JSON value: members sorted by
 * UTF-16 code units (JavaScript's default string order), strings as
 * JSON.stringify writes them (RFC 8785 §3.2.2.2 adopts exactly that), numbers
 * in ECMAScript Number-to-String form (§3.2.2.3), no white space.
 */
export function canonicalize(v) {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error('RFC 8785 has no form for ' + v);
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return '[' + v.map(canonicalize).join(',') + ']';
  if (typeof v === 'object') {
    return '{' + Object.keys(v).filter(k => v[k] !== undefined).sort()
      .map(k => JSON.stringify(k) + ':' + canonicalize(v[k])).join(',') + '}';
  }
  throw new Error('not a JSON value: ' + typeof v);
}

// ---- EIP-191 personal_sign ----

/** textHash is keccak256("\x19Ethereum Signed Message:\n" + len(msg) + msg). */
export function textHash(msg) {
  const prefix = utf8('\x19Ethereum Signed Message:\n' + msg.length);
  const all = new Uint8Array(prefix.length + msg.length);
  all.set(prefix);
  all.set(msg, prefix.length);
  return keccak256(all);
}

async function hmac(key, ...parts) {
  const k = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const len = parts.reduce((n, p) => n + p.length, 0), data = new Uint8Array(len);
  let off = 0;
  for (const p of parts) { data.set(p, off); off += p.length; }
  return new Uint8Array(await crypto.subtle.sign('HMAC', k, data));
}

/**
 * signHash signs a 32-byte digest: k from RFC 6979 §3.2 with HMAC-SHA-256,
 * s normalised to the lower half of the order (EIP-2), and the recovery id
 * adjusted to match. Returns r‖s‖v with v = 27 + recovery id.
 */
export async function signHash(priv, hash) {
  const d = privInt(priv), e = toInt(hash);
  const x = to32(d), h1 = to32(mod(e, N)); // bits2octets(h1) for qlen = 256
  let K = new Uint8Array(32), V = new Uint8Array(32).fill(1);
  K = await hmac(K, V, [0], x, h1); V = await hmac(K, V);
  K = await hmac(K, V, [1], x, h1); V = await hmac(K, V);
  for (;;) {
    V = await hmac(K, V);
    const k = toInt(V);
    if (k > 0n && k < N) {
      const [Rx, Ry] = affine(mul(G, k));
      const r = mod(Rx, N);
      let s = inv(k, N) * (mod(e, N) + r * d) % N;
      if (r !== 0n && s !== 0n) {
        let recid = Number(Ry & 1n) | (Rx >= N ? 2 : 0);
        if (s > HALF_N) { s = N - s; recid ^= 1; }
        const sig = new Uint8Array(65);
        sig.set(to32(r)); sig.set(to32(s), 32); sig[64] = 27 + recid;
        return sig;
      }
    }
    K = await hmac(K, V, [0]); V = await hmac(K, V);
  }
}

/** signMessage is personal_sign: signHash(priv, textHash(msg)). */
export const signMessage = (priv, msg) => signHash(priv, textHash(msg));

/**
 * recoverAddress returns the EIP-55 address whose key made sig over msg, as
 * ledger.Recover does: v may be 27/28 or 0/1, high-S is refused. It throws
 * on a signature nothing can be recovered from.
 */
export function recoverAddress(msg, sig) {
  if (sig.length !== 65) throw new Error(`signature is ${sig.length} bytes, want 65`);
  let v = sig[64];
  if (v >= 27) v -= 27;
  if (v > 1) throw new Error(`recovery id v=${sig[64]}, want 27, 28, 0 or 1`);
  const r = toInt(sig.slice(0, 32)), s = toInt(sig.slice(32, 64));
  if (r <= 0n || r >= N || s <= 0n || s > HALF_N) throw new Error('r or s out of range, or high-S');
  const e = mod(toInt(textHash(msg)), N);
  const y2 = (r * r % P * r + 7n) % P;
  let y = powMod(y2, (P + 1n) / 4n, P);
  if (y * y % P !== y2) throw new Error('r is not the x of a curve point');
  if (Number(y & 1n) !== v) y = P - y;
  const ri = inv(r, N);
  const q = add(mul([r, y, 1n], s * ri % N), mul(G, mod(-e * ri, N)));
  return addressOfPoint(affine(q));
}

/**
 * signRecord returns the envelope {record, signature} for a record object,
 * and its canonical bytes. The record's signer must be the key's address.
 */
export async function signRecord(priv, record) {
  const canonical = utf8(canonicalize(record));
  const sig = await signMessage(priv, canonical);
  return { envelope: { record, signature: '0x' + toHex(sig) }, canonical };
}

/** recordDigest is the SHA-256 hex of a record's canonical bytes (the "after" field). */
export async function recordDigest(record) {
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', utf8(canonicalize(record)))));
}
