// The app's storage in IndexedDB, shared by the page and the service
// worker: the signing key (encrypted under the user's PIN), the outbox of
// signed envelopes, and a cache of what was last read from the ledger for
// use offline.
//
// The stored key is the key backup object described in the Go package
// comment (api/fieldapp/fieldapp.go): PBKDF2-HMAC-SHA-256 → AES-256-GCM,
// so "export a backup" writes the stored object as it is, and the CLI's
// --key reads the same file.

import { addressOf, fromHex } from './signer.js';

const DB = 'traceledger', VERSION = 1;
export const BACKUP_FORMAT = 'traceledger-key-backup/1';
export const ITERATIONS = 600000;

let dbp;
function db() {
  dbp ??= new Promise((resolve, reject) => {
    const rq = indexedDB.open(DB, VERSION);
    rq.onupgradeneeded = () => {
      const d = rq.result;
      d.createObjectStore('keys');
      d.createObjectStore('outbox', { keyPath: 'n', autoIncrement: true });
      d.createObjectStore('cache');
    };
    rq.onsuccess = () => resolve(rq.result);
    rq.onerror = () => reject(rq.error);
  });
  return dbp;
}

async function tx(store, mode, fn) {
  const d = await db();
  return new Promise((resolve, reject) => {
    const t = d.transaction(store, mode);
    const rq = fn(t.objectStore(store));
    t.oncomplete = () => resolve(rq && rq.result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
}

export const getItem = (store, key) => tx(store, 'readonly', s => s.get(key));
export const putItem = (store, value, key) => tx(store, 'readwrite', s => s.put(value, key));
export const deleteItem = (store, key) => tx(store, 'readwrite', s => s.delete(key));
export const allItems = store => tx(store, 'readonly', s => s.getAll());

// ---- the key, under a PIN ----

const b64 = bytes => btoa(String.fromCharCode(...bytes));
const unb64 = s => Uint8Array.from(atob(s), c => c.charCodeAt(0));

async function aesKey(pin, salt, iterations) {
  const base = await crypto.subtle.importKey('raw', new TextEncoder().encode(pin), 'PBKDF2', false, ['deriveKey']);
  return crypto.subtle.deriveKey({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, base,
    { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
}

/** sealKey encrypts a 32-byte private key under pin into a backup object. */
export async function sealKey(priv, pin, iterations = ITERATIONS) {
  const address = addressOf(priv);
  const salt = crypto.getRandomValues(new Uint8Array(16)), iv = crypto.getRandomValues(new Uint8Array(12));
  const k = await aesKey(pin, salt, iterations);
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: new TextEncoder().encode(address) }, k, priv));
  return {
    format: BACKUP_FORMAT, address,
    kdf: { name: 'PBKDF2', hash: 'SHA-256', iterations, salt: b64(salt) },
    cipher: { name: 'AES-GCM', iv: b64(iv) },
    ciphertext: b64(ct),
  };
}

/** BadPIN is thrown when a backup does not open with the PIN given. */
export class BadPIN extends Error {}

/** openKey decrypts a backup object with pin and returns the private key. */
export async function openKey(backup, pin) {
  if (!backup || backup.format !== BACKUP_FORMAT || backup.kdf?.name !== 'PBKDF2' || backup.kdf?.hash !== 'SHA-256' || backup.cipher?.name !== 'AES-GCM') {
    throw new Error('not a ' + BACKUP_FORMAT + ' file');
  }
  const it = backup.kdf.iterations;
  if (!Number.isInteger(it) || it < 100000 || it > 10000000) throw new Error('kdf.iterations out of range');
  const k = await aesKey(pin, unb64(backup.kdf.salt), it);
  let priv;
  try {
    priv = new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: unb64(backup.cipher.iv), additionalData: new TextEncoder().encode(backup.address) }, k, unb64(backup.ciphertext)));
  } catch {
    throw new BadPIN('wrong PIN');
  }
  if (addressOf(priv) !== backup.address) throw new Error('the backup names another address than its key');
  return priv;
}

/** parseHexKey reads a plain hex private key, as `traceledger keygen --plain` writes it. */
export function parseHexKey(text) {
  const priv = fromHex(text.trim());
  if (priv.length !== 32) throw new Error('a private key is 64 hex digits');
  addressOf(priv); // range check
  return priv;
}

// ---- the outbox ----
//
// Each item: {n, body (the exact JSON sent, so a resend is byte-identical
// and the ledger answers 200), id, type, lot, created, state: waiting |
// sent | accepted | refused, seq, error}.

/** retry puts a refused item back in the queue (its envelope unchanged). */
export const retry = n => update(n, it => it.state === 'refused' ? Object.assign(it, { state: 'waiting', error: undefined, status: undefined }) : undefined);

/** queue stores a signed envelope to send. */
export async function queue(envelope) {
  const r = envelope.record;
  const item = { body: JSON.stringify(envelope), id: r.id, type: r.type, lot: r.lot || r.outputs?.[0]?.lot || null,
    address: r.address || null, created: new Date().toISOString(), state: 'waiting' };
  item.n = await tx('outbox', 'readwrite', s => s.add(item));
  return item;
}

// update changes outbox item n in one read-write transaction: fn gets the
// item and returns it changed, or nothing to leave it. It returns the
// stored item, or undefined when fn left it (or there is none).
async function update(n, fn) {
  const d = await db();
  return new Promise((resolve, reject) => {
    const t = d.transaction('outbox', 'readwrite'), s = t.objectStore('outbox');
    let result;
    const rq = s.get(n);
    rq.onsuccess = () => {
      const next = rq.result && fn(rq.result);
      if (next) { s.put(next); result = next; }
    };
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
}

// SEND_TIMEOUT bounds one POST: a request lost on a weak link must not
// hold the outbox for ever. A "sent" item older than CLAIM_STALE was left
// by a sender that went away (the page closed mid-request) and is taken
// again.
const SEND_TIMEOUT = 60000, CLAIM_STALE = 90000;

let sending = null;

/**
 * sendOutbox posts every waiting envelope to /v1/records, one at a time in
 * the order they were signed (a transfer after the harvest it moves). A
 * network failure or a 5xx/429 leaves the item waiting for the next try;
 * 201/200 mark it accepted with its seq; any other answer marks it
 * refused with the ledger's message.
 *
 * The page and the service worker (Background Sync) may both run it: each
 * item is claimed ("sent") in a transaction before its request, so only
 * one of them sends it, and an answer never overwrites a final state.
 * Within one context, one run at a time.
 */
export function sendOutbox(base = '', onChange = () => {}) {
  sending ??= (async () => {
    try {
      for (const queued of await allItems('outbox')) {
        const it = await update(queued.n, cur => {
          const stale = cur.state === 'sent' && Date.now() - (cur.claimed || 0) > CLAIM_STALE;
          return (cur.state === 'waiting' || stale) ? Object.assign(cur, { state: 'sent', claimed: Date.now() }) : undefined;
        });
        if (!it) continue;
        onChange(it);
        let rs, answer, next;
        try {
          rs = await fetch(base + '/v1/records', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: it.body, signal: AbortSignal.timeout(SEND_TIMEOUT) });
          answer = await rs.json().catch(() => ({}));
        } catch {
          rs = null; // offline: try again on the next chance
        }
        if (!rs || rs.status >= 500 || rs.status === 429 || rs.status === 408) {
          next = { state: 'waiting' };
        } else if (rs.status === 201 || rs.status === 200) {
          next = { state: 'accepted', seq: answer.seq, status: rs.status };
        } else {
          next = { state: 'refused', status: rs.status, error: answer.error || { code: String(rs.status), message: rs.statusText } };
        }
        const done = await update(it.n, cur => cur.state === 'sent' && cur.claimed === it.claimed ? Object.assign(cur, next) : undefined);
        if (done) onChange(done);
        if (next.state === 'waiting') break;
      }
    } finally {
      sending = null;
    }
  })();
  return sending;
}
