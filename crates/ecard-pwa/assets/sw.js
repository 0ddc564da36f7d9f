// The phone checkpoint's service worker: the app shell is cached on install (cache first, a new
// build gets a new VERSION and so a new cache); the trust bundle and the status list are fetched
// from the network first, cached when they come back in the right form, and served from the cache
// when the network is off (marked with the header X-Ecard-Offline so the app can say so).
const VERSION = '__ECARD_PWA_VERSION__';
const SHELL = `ecard-pwa-shell-${VERSION}`;
const DATA = 'ecard-pwa-data';
const SHELL_FILES = ['./', 'app.css', 'app.js', 'verify.js', 'vendor/jsqr/jsQR.js', 'manifest.webmanifest', 'icon.svg'];

// A data response worth keeping: not a redirect to a login page, and of the expected type.
function isData(url) {
  if (url.pathname.endsWith('/trust-bundle.json')) return 'application/json';
  if (url.pathname.endsWith('/status-list')) return 'application/cose';
  return null;
}

async function refresh(req, type) {
  const res = await fetch(req, { cache: 'no-store' });
  const ct = res.headers.get('content-type') || '';
  if (res.ok && !res.redirected && ct.startsWith(type)) {
    const cache = await caches.open(DATA);
    await cache.put(req, res.clone());
  }
  return res;
}

async function cached(req) {
  const hit = await caches.match(req, { cacheName: DATA });
  if (!hit) return null;
  const headers = new Headers(hit.headers);
  headers.set('X-Ecard-Offline', '1');
  return new Response(await hit.blob(), { status: 200, headers });
}

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const shell = await caches.open(SHELL);
      await shell.addAll(SHELL_FILES);
      // The data too, so the very first load is enough to work offline.
      // The list is wherever the bundle says (the station serves it under /api/v1/).
      let listUrl = 'status-list';
      try {
        const res = await refresh(new Request('trust-bundle.json'), 'application/json');
        const b = await res.clone().json();
        if (res.ok && typeof b.status_url === 'string') listUrl = b.status_url;
      } catch {
        // Offline at install: the app fetches both when it can.
      }
      await refresh(new Request(listUrl), 'application/cose').catch(() => {});
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith('ecard-pwa-shell-') && name !== SHELL) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  const type = isData(url);
  if (type) {
    event.respondWith(
      (async () => {
        try {
          const res = await refresh(req, type);
          if (res.ok && !res.redirected) return res;
          return (await cached(req)) || res;
        } catch (e) {
          const hit = await cached(req);
          if (hit) return hit;
          throw e;
        }
      })(),
    );
    return;
  }
  event.respondWith(
    (async () => {
      const shell = await caches.open(SHELL);
      const hit = (await shell.match(req, { ignoreSearch: true })) ||
        (req.mode === 'navigate' ? await shell.match('./') : undefined);
      return hit || fetch(req);
    })(),
  );
});
