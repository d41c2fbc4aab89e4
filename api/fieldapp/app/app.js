// The field app: a key on the phone, a form per record type, an outbox
// that survives having no signal. See the package comment of
// api/fieldapp for the whole design.

import * as S from './signer.js';
import { checkRecord, normalizeGTIN } from './checks.js';
import * as store from './store.js';
import { t, translate, getLang, setLang } from './i18n.js';
import { canScan, scan } from './scan.js';

// UNITS are the UN/ECE Rec 20 codes the forms offer, with the word a
// person reads (the ledger accepts more; ledger/gs1.go lists them).
const UNITS = { KGM: 'kg', GRM: 'g', TNE: 'tấn', LTR: 'lít', MLT: 'ml', H87: 'cái', XBX: 'hộp', XBO: 'chai', XJR: 'hũ', XBG: 'túi', XCT: 'thùng', XSA: 'bao', XPK: 'gói' };
const unit = code => UNITS[code] || code;
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

// state is the page's state. priv, the unlocked private key, lives only
// in memory: closing the app locks it again.
const state = { address: null, priv: null, wallet: false, me: undefined, held: [], incoming: [], participants: [], origin: '', asOf: '' };

const checksum = lowerHex => S.checksumAddress(S.fromHex(lowerHex));
const lotPath = (gtin, lot) => `/01/${gtin}/10/${encodeURIComponent(lot)}`;

function say(text, kind = 'ok') {
  const m = $('#msg');
  m.textContent = text;
  m.className = kind;
  m.hidden = false;
}

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  e.append(...kids.filter(k => k !== undefined && k !== null));
  return e;
}

/** rfc3339 writes d in local time with its offset, as the ledger wants "time". */
export function rfc3339(d = new Date()) {
  const off = -d.getTimezoneOffset(), p = n => String(Math.abs(n)).padStart(2, '0');
  return new Date(d.getTime() + off * 60000).toISOString().slice(0, 19) + (off >= 0 ? '+' : '-') + p(Math.trunc(off / 60)) + ':' + p(off % 60);
}

const newID = type => `${type}-${Date.now().toString(36)}-${S.toHex(crypto.getRandomValues(new Uint8Array(4)))}`;

/** parseLotCode reads "GTIN/lot", "GTIN lot" or a Digital Link URI. */
export function parseLotCode(s) {
  s = s.trim();
  let m = /\/01\/(\d{8,14})(?:\/22\/[^/]+)?\/10\/([^/?#]+)/.exec(s);
  if (m) return { gtin: gtin14(m[1]), lot: decodeURIComponent(m[2]) };
  m = /^(\d{8,14})\s*[/ ]\s*(\S+)$/.exec(s);
  return m ? { gtin: gtin14(m[1]), lot: m[2] } : null;
}

function gtin14(g) {
  try { return normalizeGTIN(g); } catch { return g; } // the checks will word it
}

// amount keeps what was typed when it is not a number, so that the checks
// name it as typed; else a JSON number, as the ledger wants.
function amount(s) {
  s = s.trim().replace(',', '.');
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s) ? Number(s) : s;
}

function clean(o) {
  for (const k of Object.keys(o)) if (o[k] === '' || o[k] === undefined) delete o[k];
  return o;
}

const v = (form, name) => (form.elements[name]?.value ?? '').trim();

// ---- reading the ledger (and remembering it for offline use) ----

async function getJSON(path) {
  const rs = await fetch(path, { headers: { Accept: 'application/json' } });
  if (rs.status === 404) return null;
  if (!rs.ok) throw new Error(`${path}: ${rs.status}`);
  return rs.json();
}

// participants reads the registry, page by page (GET /v1/participants
// answers at most 500 at a time), for the recipient list.
async function participants() {
  const all = [];
  for (let after = '', page = 0; page < 20; page++) {
    const list = await getJSON('/v1/participants?limit=500' + (after ? '&after=' + after : ''));
    all.push(...(list?.participants || []));
    if (!list?.next) break;
    after = list.next;
  }
  return all;
}

async function refresh() {
  if (!state.address) return;
  // Each read on its own: one failing keeps what was read last time for it.
  const [cluster, me, lots, list] = await Promise.allSettled([getJSON('/v1/cluster'),
    getJSON(`/v1/participants/${state.address}`), getJSON(`/v1/participants/${state.address}/lots`), participants()]);
  let fresh = false;
  if (cluster.status === 'fulfilled') { state.origin = cluster.value?.ledger_origin || ''; fresh = true; }
  if (me.status === 'fulfilled') state.me = me.value?.participant ?? me.value;
  if (lots.status === 'fulfilled') Object.assign(state, { held: lots.value?.held || [], incoming: lots.value?.incoming || [] });
  if (list.status === 'fulfilled') state.participants = list.value;
  if (fresh) {
    state.asOf = new Date().toISOString();
    const { origin, held, incoming, participants: ps, asOf } = state;
    await store.putItem('cache', { origin, me: state.me, held, incoming, participants: ps, asOf }, state.address);
  }
  renderHome();
}

async function loadCache() {
  const c = await store.getItem('cache', state.address);
  if (c) Object.assign(state, c);
}

// latestDigest is the "after" of a transfer or receive: the SHA-256 of the
// canonical bytes of the lot's latest record, or undefined offline.
async function latestDigest(gtin, lot) {
  try {
    let last, from = '';
    for (;;) {
      const view = await getJSON(`/v1/lots/${gtin}/${encodeURIComponent(lot)}?consistency=linearizable${from}`);
      if (!view) return undefined;
      if (view.entries?.length) last = view.entries[view.entries.length - 1].record;
      if (view.next == null) break;
      from = '&from=' + view.next;
    }
    return last ? S.recordDigest(last) : undefined;
  } catch {
    return undefined;
  }
}

// ---- pages ----

function route() {
  let page = location.hash.slice(1) || 'home';
  if (!$('#' + CSS.escape(page) + '.page')) page = 'home';
  if (!state.address && page !== 'outbox') page = 'setup';
  else if (state.address && !state.priv && !state.wallet && page !== 'outbox') page = 'unlock';
  for (const p of $$('.page')) p.hidden = p.id !== page;
  document.body.dataset.page = page;
  if (page === 'outbox') renderOutbox();
  if (page === 'home') renderHome();
  for (const a of $$('[data-me]')) a.textContent = state.address || '';
}

function lotItem(l, extra) {
  const code = `${l.gtin}/${l.lot}`;
  return el('li', { 'data-lot': code },
    el('strong', {}, l.product?.name || code), ' ', el('span', { class: 'qty' }, `${l.quantity?.amount ?? ''} ${unit(l.quantity?.unit ?? '')}`),
    el('br'), el('code', {}, code), ' ',
    el('a', { href: lotPath(l.gtin, l.lot) }, t('page')), ' · ', el('a', { href: `/labels${lotPath(l.gtin, l.lot)}` }, t('labels')),
    extra);
}

function renderHome() {
  if (!state.address) return;
  $('#me-qr').src = `qr/${state.address}.svg`;
  const me = state.me;
  $('#me-who').textContent = me ? `${me.name} · ${me.roles.map(r => t('role.' + r)).join(', ')}` : '';
  $('#me-note').hidden = !!me;
  for (const a of $$('#actions [data-role]')) a.hidden = !!me && !me.roles.includes(a.dataset.role) && !me.roles.includes('admin');
  $('#actions a[href="#backup"]').hidden = state.wallet; // the wallet keeps its own key
  const held = $('#held'), incoming = $('#incoming');
  held.replaceChildren(...state.held.map(l => lotItem(l)));
  incoming.replaceChildren(...state.incoming.map(l => {
    const from = state.participants.find(p => p.address.toLowerCase() === l.holder.toLowerCase());
    return lotItem(l, el('p', {}, `${t('from')} ${from ? from.name : l.holder} `,
      el('button', { type: 'button', class: 'receive', onclick: () => receive(l) }, t('receive'))));
  }));
  if (!state.held.length) held.append(el('li', { class: 'hint' }, t('none')));
  if (!state.incoming.length) incoming.append(el('li', { class: 'hint' }, t('none')));
  $('#lots-when').textContent = state.asOf ? `${t('asof')}: ${new Date(state.asOf).toLocaleString(getLang() === 'en' ? 'en-GB' : 'vi-VN')}` : '';
  fillSelects();
}

function fillSelects() {
  for (const s of $$('select[data-held]')) {
    const cur = s.value;
    s.replaceChildren(...state.held.map(l => el('option', { value: `${l.gtin}/${l.lot}` }, `${l.product?.name || ''} · ${l.lot} (${l.quantity.amount} ${unit(l.quantity.unit)})`)));
    if (cur) s.value = cur;
  }
  for (const s of $$('select[data-recipients]')) {
    const cur = s.value;
    const others = state.participants.filter(p => p.address.toLowerCase() !== state.address.toLowerCase());
    s.replaceChildren(el('option', { value: '' }, '—'), ...others.map(p => el('option', { value: p.address }, `${p.name} (${p.roles.map(r => t('role.' + r)).join(', ')})`)));
    if (cur) s.value = cur;
  }
}

async function renderOutbox() {
  const items = (await store.allItems('outbox')).reverse();
  $('#outbox-list').replaceChildren(...items.map(it => {
    let detail = '';
    if (it.state === 'accepted') detail = `seq ${it.seq}`;
    let explain = null;
    if (it.state === 'refused') {
      detail = `${it.status} ${it.error.code}: ${it.error.message}`;
      const key = 'code.' + it.error.code;
      if (t(key) !== key) explain = el('p', { class: 'explain' }, t(key));
    }
    const lot = it.lot ? ` ${it.lot.lot}` : it.address ? ` ${it.address}` : '';
    return el('li', { 'data-state': it.state, 'data-id': it.id },
      el('strong', {}, `${t('nav.' + it.type) !== 'nav.' + it.type ? t('nav.' + it.type) : it.type}${lot}`), ' ',
      el('span', { class: 'state' }, t('state.' + it.state)), ' ', el('span', { class: 'detail' }, detail), explain,
      // A refusal may pass once the ledger has changed (the signer
      // registered, the lot received): the same envelope can go again.
      it.state === 'refused' ? el('button', { type: 'button', class: 'retry', onclick: async () => { await store.retry(it.n); kick(); } }, t('retry')) : null,
      (it.state === 'refused' || it.state === 'accepted') ? el('button', { type: 'button', class: 'dismiss', onclick: async () => { await store.deleteItem('outbox', it.n); renderOutbox(); } }, t('dismiss')) : null);
  }));
}

// ---- sending ----

// kick sends the outbox and then reads the ledger again.
// body[data-sending] says a send is under way. It tries even when
// navigator.onLine says offline: that flag only knows whether the phone
// has a network interface, and a failed try costs nothing.
async function kick() {
  document.body.dataset.sending = 'true';
  try {
    await store.sendOutbox('', () => { if (!$('#outbox').hidden) renderOutbox(); });
  } finally {
    delete document.body.dataset.sending;
  }
  if (!$('#outbox').hidden) await renderOutbox();
  await refresh();
}

async function requestSync() {
  if (!navigator.serviceWorker?.controller) return;
  const reg = await navigator.serviceWorker.ready;
  await reg.sync?.register('outbox').catch(() => {});
}

// sign checks a record as the server would, signs it and puts it in the
// outbox; it returns false (and says why) when the checks refuse it.
async function sign(record) {
  Object.assign(record, { signer: state.address, time: record.time || rfc3339(), id: record.id || newID(record.type) });
  if (state.origin) record.ledger = state.origin;
  const bad = checkRecord(record, checksum);
  if (bad) {
    say(`${getLang() === 'en' ? bad.en : bad.vi}`, 'refused');
    return false;
  }
  let envelope;
  if (state.wallet) {
    // The wallet may refuse, or sign with another of its accounts: check
    // before queueing what the ledger would refuse (401).
    const canonical = S.utf8(S.canonicalize(record));
    try {
      const signature = await window.ethereum.request({ method: 'personal_sign', params: ['0x' + S.toHex(canonical), state.address] });
      if (S.recoverAddress(canonical, S.fromHex(signature)) !== state.address) throw new Error(t('err.walletaccount'));
      envelope = { record, signature };
    } catch (e) {
      say(e.message || String(e), 'refused');
      return false;
    }
  } else {
    envelope = (await S.signRecord(state.priv, record)).envelope;
  }
  await store.queue(envelope);
  goTo('#outbox', t('ok.queued'));
  await requestSync();
  kick();
  return true;
}

async function receive(l) {
  const after = await latestDigest(l.gtin, l.lot);
  await sign(clean({ type: 'receive', lot: { gtin: l.gtin, lot: l.lot }, after }));
}

const BUILD = {
  harvest: f => clean({
    type: 'harvest', lot: { gtin: gtin14(v(f, 'gtin')), lot: v(f, 'lot') }, product: { name: v(f, 'product') },
    quantity: { amount: amount(v(f, 'amount')), unit: v(f, 'unit') },
    place: clean({ name: v(f, 'place'), province: v(f, 'province'), geo: v(f, 'geo'), growing_area_code: v(f, 'growing_area_code') }),
    certificates: v(f, 'cert_scheme') ? [clean({ scheme: v(f, 'cert_scheme'), number: v(f, 'cert_number') })] : undefined,
  }),
  async transfer(f) {
    const [gtin, lot] = splitCode(v(f, 'lot'));
    const to = v(f, 'to_addr') || v(f, 'to');
    if (!to) { say(t('err.norecipient'), 'refused'); return null; }
    return clean({ type: 'transfer', lot: { gtin, lot }, to, after: await latestDigest(gtin, lot) });
  },
  transform(f) {
    const inputs = $$('fieldset.input', f).map(fs => {
      const [gtin, lot] = splitCode($('[name=in_lot]', fs).value);
      const held = state.held.find(l => l.gtin === gtin && l.lot === lot);
      return { lot: { gtin, lot }, quantity: { amount: amount($('[name=in_amount]', fs).value), unit: held?.quantity.unit || '' } };
    });
    const outputs = $$('fieldset.output', f).map(fs => ({
      lot: { gtin: gtin14($('[name=out_gtin]', fs).value.trim()), lot: $('[name=out_lot]', fs).value.trim() },
      product: { name: $('[name=out_product]', fs).value.trim() },
      quantity: { amount: amount($('[name=out_amount]', fs).value), unit: $('[name=out_unit]', fs).value },
    }));
    return clean({ type: 'transform', inputs, outputs, process: v(f, 'process') });
  },
  inspect(f) {
    const ref = codeOrSay(v(f, 'code'));
    return ref && clean({ type: 'inspect', lot: ref, result: v(f, 'result'), note: v(f, 'note'),
      certificate: v(f, 'cert_scheme') ? clean({ scheme: v(f, 'cert_scheme'), number: v(f, 'cert_number') }) : undefined });
  },
  recall(f) {
    const ref = codeOrSay(v(f, 'code'));
    return ref && { type: 'recall', lot: ref, reason: v(f, 'reason') };
  },
  participant: f => clean({ type: 'participant', address: v(f, 'address'), name: v(f, 'name'),
    roles: $$('[name=roles]:checked', f).map(c => c.value), gln: v(f, 'gln') }),
};

const splitCode = code => { const i = code.indexOf('/'); return [code.slice(0, i), code.slice(i + 1)]; };

function codeOrSay(s) {
  const ref = parseLotCode(s);
  if (!ref) say(t('err.lotcode'), 'refused');
  return ref;
}

// ---- keys ----

// goTo shows page with message (or none): pushState, not location.hash,
// for a hashchange would clear the message.
function goTo(page, message) {
  if (message) say(message);
  else $('#msg').hidden = true;
  history.pushState(null, '', page);
  route();
}

// goHome shows the home page once a key is in use, and reads the ledger.
function goHome(form, message) {
  form?.reset();
  goTo('#home', message);
  refresh();
}

async function useKey(priv, backup) {
  await store.putItem('keys', backup, 'me');
  Object.assign(state, { priv, address: backup.address, wallet: false });
}

async function createKey(f) {
  const pin = f.elements.pin.value;
  if (pin.length < 6) return say(t('err.pinshort'), 'refused');
  if (pin !== f.elements.pin2.value) return say(t('err.pinmatch'), 'refused');
  const priv = S.generateKey();
  await useKey(priv, await store.sealKey(priv, pin));
  goHome(f, t('ok.key'));
}

async function importKey(f) {
  const pin = f.elements.pin.value;
  if (pin.length < 6) return say(t('err.pinshort'), 'refused');
  const file = f.elements.file.files[0];
  const text = (file ? await file.text() : f.elements.text.value).trim();
  try {
    if (text.startsWith('{')) {
      const backup = JSON.parse(text);
      await useKey(await store.openKey(backup, pin), backup);
    } else {
      const priv = store.parseHexKey(text);
      await useKey(priv, await store.sealKey(priv, pin));
    }
  } catch (e) {
    return say(e instanceof store.BadPIN ? t('err.badpin') : t('err.nokey'), 'refused');
  }
  goHome(f, t('ok.restored'));
}

async function unlock(f) {
  try {
    state.priv = await store.openKey(await store.getItem('keys', 'me'), f.elements.pin.value);
  } catch {
    return say(t('err.badpin'), 'refused');
  }
  goHome(f);
}

async function useWallet() {
  const [acct] = await window.ethereum.request({ method: 'eth_requestAccounts' });
  const address = checksum(acct.slice(2).toLowerCase());
  await store.putItem('keys', { wallet: true, address }, 'me');
  Object.assign(state, { address, wallet: true, priv: null });
  goHome();
}

async function exportKey() {
  const backup = await store.getItem('keys', 'me');
  const a = el('a', { href: URL.createObjectURL(new Blob([JSON.stringify(backup, null, 1) + '\n'], { type: 'application/json' })), download: `traceledger-key-${backup.address}.json` });
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 60000);
}

// ---- start ----

function netState() {
  $('#net').dataset.state = navigator.onLine ? 'online' : 'offline';
  $('#net').textContent = t(navigator.onLine ? 'online' : 'offline');
}

async function start() {
  for (const s of $$('select[data-units]')) s.replaceChildren(...Object.entries(UNITS).map(([code, word]) => el('option', { value: code }, `${word} (${code})`)));
  translate();
  netState();
  $('#lang').textContent = getLang() === 'en' ? 'VI' : 'EN';
  $('#lang').onclick = () => { setLang(getLang() === 'en' ? 'vi' : 'en'); $('#lang').textContent = getLang() === 'en' ? 'VI' : 'EN'; translate(); netState(); route(); };
  $('#f-create').onsubmit = e => { e.preventDefault(); createKey(e.target); };
  $('#f-import').onsubmit = e => { e.preventDefault(); importKey(e.target); };
  $('#f-unlock').onsubmit = e => { e.preventDefault(); unlock(e.target); };
  $('#export').onclick = exportKey;
  $('#forget').onclick = async () => {
    if (!confirm(t('confirm.forget'))) return;
    await store.deleteItem('keys', 'me');
    Object.assign(state, { address: null, priv: null, wallet: false });
    route();
  };
  $('#send-now').onclick = kick;
  if (window.ethereum) {
    $('#wallet-box').hidden = false;
    $('#use-wallet').onclick = useWallet;
  }
  for (const f of $$('form.record')) {
    f.onsubmit = async e => {
      e.preventDefault();
      const rec = await BUILD[f.id](f);
      if (rec && await sign(rec)) f.reset();
    };
  }
  for (const b of $$('[data-add]')) {
    b.onclick = () => { const fs = $(`fieldset.${b.dataset.add}`, b.form); fs.after(fs.cloneNode(true)); };
  }
  for (const b of $$('[data-scan]')) {
    const input = b.form.elements[b.dataset.scan];
    b.onclick = () => canScan() ? scan(input, $('#scanner')).catch(e => say(e.message, 'refused')) : (say(t('err.noscan'), 'refused'), input.focus());
  }
  for (const b of $$('[data-gps]')) {
    b.onclick = () => navigator.geolocation.getCurrentPosition(
      p => { b.form.elements.geo.value = `${p.coords.latitude.toFixed(6)},${p.coords.longitude.toFixed(6)}`; },
      () => say(t('err.gps'), 'refused'), { enableHighAccuracy: true, timeout: 20000 });
  }
  addEventListener('online', () => { netState(); kick(); });
  addEventListener('offline', netState);
  addEventListener('hashchange', () => { $('#msg').hidden = true; route(); });
  navigator.serviceWorker?.addEventListener('message', () => { if (!$('#outbox').hidden) renderOutbox(); });

  const stored = await store.getItem('keys', 'me');
  if (stored) Object.assign(state, { address: stored.address, wallet: !!stored.wallet });
  if (state.address) await loadCache();
  route();
  document.body.dataset.ready = 'true';
  if (navigator.serviceWorker) {
    navigator.serviceWorker.register('sw.js', { type: 'module', scope: './' }).catch(() => {});
  }
  kick();
}

start();
