// The phone checkpoint's screen: back camera, continuous QR decoding (vendored jsQR), the verdict
// full screen, the gallery fallback, and the status list: fetched when the station is reachable,
// kept when it is not (never replaced by an older or unverified one), its age always shown.
//
// Must not: show green for anything not fully verified (verify.js decides), send holder data
// anywhere, or log it. Timing marks for the benchmark are kept on window.__ecardPerf.

import { verifySeal, verifyStatusList, todayInMoscow, firstProblem } from './verify.js';

const $ = (id) => document.getElementById(id);
const HELD_KEY = 'ecard-pwa-status-list';

const state = {
  bundle: null,
  status: null, // a verified list {ok, list} or null
  statusBytes: null,
  refreshedAt: null, // when the list was last fetched from the station (ms)
  statusProblem: null,
  showing: false,
  lastText: null,
  lastSeenAt: 0,
};

window.__ecardPerf = [];

// ---------- trust bundle and status list ----------

function b64(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function unb64(text) {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

async function loadBundle() {
  const res = await fetch('trust-bundle.json');
  if (!res.ok) throw new Error(`the checkpoint answered ${res.status}: ${(await res.text()).trim()}`);
  const b = await res.json();
  if (!b || b.v !== 1 || !Array.isArray(b.ds)) throw new Error('the trust bundle is not in the expected form');
  return b;
}

function held() {
  try {
    const h = JSON.parse(localStorage.getItem(HELD_KEY) || 'null');
    return h && h.bytes ? { bytes: unb64(h.bytes), refreshedAt: h.refreshedAt } : null;
  } catch {
    return null;
  }
}

// Takes `bytes` as the list in use when it verifies and is not older than the one held.
async function offerList(bytes, refreshedAt) {
  const at = todayInMoscow();
  const v = await verifyStatusList(bytes, state.bundle, at);
  if (!v.ok) return v.error;
  if (state.status && v.list.iat < state.status.list.iat) {
    return `a status list older than the one held was offered (issued ${iso(v.list.iat)}); keeping the newer list`;
  }
  state.status = v;
  state.statusBytes = bytes;
  if (refreshedAt) state.refreshedAt = refreshedAt;
  try {
    localStorage.setItem(HELD_KEY, JSON.stringify({ bytes: b64(bytes), refreshedAt: state.refreshedAt }));
  } catch {
    // Storage full or disabled: the service worker's copy still serves offline.
  }
  return null;
}

async function refreshList() {
  const url = state.bundle.status_url || 'status-list';
  try {
    const res = await fetch(url);
    if (res.status === 404) {
      state.statusProblem = (await res.text()).trim();
    } else if (!res.ok) {
      state.statusProblem = `the status list could not be fetched (${res.status})`;
    } else {
      const offline = res.headers.get('X-Ecard-Offline') === '1';
      const bytes = new Uint8Array(await res.arrayBuffer());
      const why = await offerList(bytes, offline ? null : Date.now());
      state.statusProblem = why || (offline ? 'offline: using the list kept on this phone' : null);
    }
  } catch {
    state.statusProblem = 'offline: using the list kept on this phone';
  }
  showList();
}

const iso = (ms) => new Date(ms).toISOString().replace('.000Z', 'Z');

function ago(ms) {
  const m = Math.max(0, Math.round((Date.now() - ms) / 60000));
  if (m < 1) return 'just now';
  if (m < 90) return `${m} min ago`;
  const h = Math.round(m / 60);
  return h < 48 ? `${h} h ago` : `${Math.round(h / 24)} days ago`;
}

function listLine() {
  if (!state.status) {
    return `Status list: none held, revocation cannot be checked (amber at best)${state.statusProblem ? `. ${state.statusProblem}` : ''}`;
  }
  const l = state.status.list;
  const stale = Date.now() > l.nxt;
  let s = `Status list issued ${ago(l.iat)} (${iso(l.iat)})`;
  s += stale ? `, STALE since ${iso(l.nxt)}` : `, next update due ${iso(l.nxt)}`;
  if (state.refreshedAt) s += `; last fetched from the station ${ago(state.refreshedAt)}`;
  if (state.statusProblem) s += `. ${state.statusProblem}`;
  return s;
}

function showList() {
  $('list').textContent = listLine();
  $('list').dataset.age = state.status ? String(Date.now() - state.status.list.iat) : '';
  $('net').textContent = navigator.onLine ? 'online' : 'offline';
}

// ---------- verdict ----------

const WORDS = {
  green: ['\u2714', 'VALID'],
  amber: ['!', 'CHECK BY HAND'],
  red: ['\u2716', 'NOT VALID'],
};

const FIELDS = [
  ['Surname', 'sn'],
  ['Given names', 'gn'],
  ['Patronymic', 'pn'],
  ['Card number', 'dn'],
  ['Date of birth', 'dob'],
  ['Sex', 'sex'],
  ['Nationality', 'nat'],
  ['Issued', 'doi'],
  ['Expires', 'doe'],
];

function reasonOf(report) {
  const p = firstProblem(report.checks);
  if (report.verdict === 'green' || !p) return 'The seal verifies and the card is not on a fresh status list.';
  return `${p.name}: ${p.reason}`;
}

function markShown(perf) {
  if (!perf) return;
  requestAnimationFrame(() =>
    setTimeout(() => {
      perf.shownAt = performance.now();
      perf.totalMs = perf.shownAt - perf.frameAt;
      window.__ecardPerf.push(perf);
    }, 0),
  );
}

function showVerdict(report, perf) {
  const v = $('verdict');
  v.dataset.verdict = report.verdict;
  v.dataset.check = (firstProblem(report.checks) || { id: '' }).id;
  const [mark, word] = WORDS[report.verdict];
  $('verdict-mark').textContent = mark;
  $('verdict-word').textContent = word;
  $('verdict-reason').textContent = reasonOf(report);
  const dl = $('holder');
  dl.replaceChildren();
  if (report.holder) {
    for (const [label, key] of FIELDS) {
      const value = report.holder[key];
      if (value === null || value === undefined) continue;
      const dt = document.createElement('dt');
      dt.textContent = label;
      const dd = document.createElement('dd');
      dd.textContent = value;
      dl.append(dt, dd);
    }
  }
  $('verdict-list').textContent = listLine();
  v.hidden = false;
  state.showing = true;
  v.focus();
  markShown(perf);
}

// A QR that is not a readable seal: say what was seen, keep scanning (no full-screen verdict).
function showSeen(report, perf) {
  const seen = $('seen');
  seen.dataset.verdict = 'red';
  seen.textContent = `NOT VALID: ${reasonOf(report)}. Still scanning.`;
  const v = $('verdict');
  v.dataset.verdict = 'red';
  v.dataset.check = 'seal_decodes';
  markShown(perf);
}

function hideVerdict() {
  $('verdict').hidden = true;
  $('verdict').dataset.verdict = '';
  $('seen').dataset.verdict = '';
  $('seen').textContent = 'Point the back camera at the QR seal on the front of the card.';
  state.showing = false;
  state.lastText = null;
}

async function judge(text) {
  const at = todayInMoscow();
  return verifySeal(text, state.bundle, state.status, at, Date.now());
}

// ---------- camera ----------

function decode(canvas, ctx, source, w, h, inversion) {
  canvas.width = w;
  canvas.height = h;
  ctx.drawImage(source, 0, 0, w, h);
  const img = ctx.getImageData(0, 0, w, h);
  const code = window.jsQR(img.data, w, h, { inversionAttempts: inversion });
  return code ? code.data : null;
}

async function onText(text, perf, fromPhoto) {
  const now = performance.now();
  if (!fromPhoto && text === state.lastText && now - state.lastSeenAt < 3000) return;
  state.lastText = text;
  state.lastSeenAt = now;
  perf.verifyStart = performance.now();
  const report = await judge(text);
  perf.verifyMs = performance.now() - perf.verifyStart;
  perf.verdict = report.verdict;
  const decoded = !report.checks.some((c) => c.id === 'seal_decodes' && c.outcome === 'fail');
  if (decoded || fromPhoto) showVerdict(report, perf);
  else showSeen(report, perf);
}

async function scanLoop(video) {
  const canvas = $('frame');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const tick = async () => {
    if (!state.showing && video.readyState >= 2 && video.videoWidth > 0) {
      const frameAt = performance.now();
      const scale = Math.min(1, 1280 / video.videoWidth);
      const w = Math.round(video.videoWidth * scale);
      const h = Math.round(video.videoHeight * scale);
      const text = decode(canvas, ctx, video, w, h, 'dontInvert');
      if (text === null && frameAt - state.lastSeenAt > 4000 && $('seen').dataset.verdict !== 'hint') {
        // Blurred, too far, glare: nothing decodes. Say so, keep scanning.
        const seen = $('seen');
        seen.dataset.verdict = 'hint';
        seen.textContent = 'No readable QR seal in view yet: hold the card flat and still, about 15 cm away, without glare.';
      }
      if (text !== null) {
        const perf = { frameAt, decodeMs: performance.now() - frameAt, source: 'camera' };
        await onText(text, perf, false);
      }
    }
    // Decode each new camera frame once (requestVideoFrameCallback), not the same frame again and
    // again: the phone's CPU and battery are spared; while a verdict shows, look four times a second.
    if (!state.showing && video.requestVideoFrameCallback) video.requestVideoFrameCallback(() => tick());
    else setTimeout(tick, state.showing ? 250 : 40);
  };
  tick();
}

async function startCamera() {
  const video = $('video');
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    $('seen').textContent = 'This browser gives no camera here (it needs HTTPS). Use "Choose a photo".';
    return;
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { facingMode: { ideal: 'environment' }, width: { ideal: 1280 }, height: { ideal: 720 } },
    });
    video.srcObject = stream;
    await video.play().catch(() => {});
    state.lastSeenAt = performance.now();
    scanLoop(video);
  } catch (e) {
    $('seen').textContent = `The camera is not available (${e.name || e}). Allow the camera, or use "Choose a photo".`;
  }
}

async function onPhoto(file) {
  const frameAt = performance.now();
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    $('seen').textContent = 'That file is not an image this browser can read.';
    return;
  }
  const scale = Math.min(1, 2000 / Math.max(bitmap.width, bitmap.height));
  const canvas = $('frame');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const text = decode(canvas, ctx, bitmap, Math.round(bitmap.width * scale), Math.round(bitmap.height * scale), 'attemptBoth');
  const perf = { frameAt, decodeMs: performance.now() - frameAt, source: 'photo' };
  if (text === null) {
    showVerdict(
      { verdict: 'red', holder: null, checks: [{ id: 'seal_decodes', name: 'QR seal found and readable', outcome: 'fail', reason: 'no QR code found in the photo; take it again, sharp and straight' }] },
      perf,
    );
    return;
  }
  await onText(text, perf, true);
}

// ---------- start ----------

async function main() {
  $('next').addEventListener('click', hideVerdict);
  $('photo').addEventListener('change', (e) => {
    const f = e.target.files && e.target.files[0];
    if (f) onPhoto(f);
    e.target.value = '';
  });
  window.addEventListener('online', () => state.bundle && refreshList());
  window.addEventListener('offline', showList);
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('sw.js', { scope: './' }).catch(() => {});
  }
  try {
    state.bundle = await loadBundle();
  } catch (e) {
    $('seen').textContent = `No trust material: ${e.message || e}. Open this page once while connected to the checkpoint server.`;
    document.body.dataset.ready = 'error';
    return;
  }
  const h = held();
  if (h) {
    state.refreshedAt = h.refreshedAt || null;
    await offerList(h.bytes, null);
  }
  await refreshList();
  setInterval(refreshList, 60000);
  setInterval(showList, 30000);
  document.body.dataset.ready = 'yes';
  startCamera();
}

// jsQR is a classic deferred script; modules run after it.
main();

// For tests and kiosk tooling: verify a seal text with what this phone holds.
window.ecardCheck = (text) => judge(text);
