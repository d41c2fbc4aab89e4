// Service worker of the field app: keeps the app shell for use offline and
// sends the outbox when Background Sync says the network is back.
//
// The server writes the digest of all the app's files into VERSION, so a
// new release of any file is a new worker with a new cache; the old cache
// is dropped on activation. Shell files are answered from the cache first
// (the app opens instantly with no signal) and refreshed in the background
// when online. Requests outside /app/ (the ledger's API) are not touched:
// the outbox decides what to do when they fail.

import { sendOutbox } from './store.js';

const VERSION = '__ASSETS_VERSION__';
const CACHE = 'traceledger-app-' + VERSION;
const SHELL = ['./', 'index.html', 'app.css', 'app.js', 'signer.js', 'checks.js', 'store.js', 'i18n.js', 'scan.js', 'manifest.webmanifest', 'icon.svg'];

self.addEventListener('install', e => {
  e.waitUntil(caches.open(CACHE).then(c => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', e => {
  e.waitUntil((async () => {
    for (const k of await caches.keys()) if (k.startsWith('traceledger-app-') && k !== CACHE) await caches.delete(k);
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', e => {
  const url = new URL(e.request.url);
  if (e.request.method !== 'GET' || url.origin !== location.origin || !url.pathname.startsWith('/app/')) return;
  e.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const hit = await cache.match(e.request, { ignoreSearch: true });
    const net = fetch(e.request).then(rs => {
      if (rs.ok) cache.put(e.request, rs.clone());
      return rs;
    });
    if (hit) {
      e.waitUntil(net.catch(() => {}));
      return hit;
    }
    return net;
  })());
});

self.addEventListener('sync', e => {
  if (e.tag === 'outbox') {
    e.waitUntil(sendOutbox('', async () => {
      for (const c of await self.clients.matchAll()) c.postMessage('outbox');
    }));
  }
});
