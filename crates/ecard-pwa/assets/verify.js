// The phone checkpoint's verifier (ECARD.md section 8): the seal text `EC1:` + base45(zlib(
// COSE_Sign1)) and the signed status list, checked in the browser with no network, giving the same
// verdict and the same first failing check as `ecard scan` (crates/ecard-seal/src/check.rs).
//
// Trust comes from the trust bundle (crates/ecard-pwa/src/bundle.rs): Document Signers the server
// already chained to a trusted CSCA, with their keys and dates; the date-dependent DS terms and
// every signature are checked here. Reasons name checks and fields, never holder values.
//
// Must not: return green without a fresh, verified status list; throw on any input (every failure
// is a check with a reason); log holder data.

const SEAL_PREFIX = 'EC1:';
const MAX_COSE_LEN = 16 * 1024;
const NO_STATUS_LIST = 'revocation not checked: no status list was given or fetched';

export const CHECK_NAMES = {
  seal_decodes: 'QR seal found and readable',
  seal_signature: 'QR seal signature',
  seal_not_expired: 'card not expired (seal)',
  status_list: 'status list',
  status_fresh: 'status list up to date',
  not_on_status_list: 'card not on the status list',
};

class VerifyError extends Error {}

// ---- base45 (RFC 9285) ----

const B45 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';

export function base45Decode(text) {
  const v = new Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const d = B45.indexOf(text[i]);
    if (d < 0) throw new VerifyError(`invalid base45 character at position ${i}`);
    v[i] = d;
  }
  if (v.length % 3 === 1) throw new VerifyError(`invalid base45 length ${v.length}`);
  const out = new Uint8Array(Math.floor(v.length / 3) * 2 + (v.length % 3 === 2 ? 1 : 0));
  let o = 0;
  for (let i = 0; i < v.length; i += 3) {
    if (i + 2 < v.length) {
      const n = v[i] + v[i + 1] * 45 + v[i + 2] * 2025;
      if (n > 0xffff) throw new VerifyError(`base45 triple at position ${i} is over 65535`);
      out[o++] = n >> 8;
      out[o++] = n & 0xff;
    } else {
      const n = v[i] + v[i + 1] * 45;
      if (n > 0xff) throw new VerifyError(`base45 pair at position ${i} is over 255`);
      out[o++] = n;
    }
  }
  return out;
}

// ---- zlib through the browser's DecompressionStream ('deflate' is the zlib format) ----

export async function inflateZlib(bytes, limit) {
  const ds = new DecompressionStream('deflate');
  const writer = ds.writable.getWriter();
  writer.write(bytes).catch(() => {});
  writer.close().catch(() => {});
  const reader = ds.readable.getReader();
  const parts = [];
  let total = 0;
  for (;;) {
    let r;
    try {
      r = await reader.read();
    } catch (e) {
      throw new VerifyError(`seal is not zlib data: ${e && e.message ? e.message : e}`);
    }
    if (r.done) break;
    total += r.value.length;
    if (total > limit) {
      reader.cancel().catch(() => {});
      throw new VerifyError(`seal is not zlib data: it expands past ${limit} bytes`);
    }
    parts.push(r.value);
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---- CBOR (RFC 8949), strict: definite lengths only, nothing after the item ----
// Values: unsigned and negative integers as numbers (BigInt past 2^53), byte strings as
// Uint8Array, text as strings, arrays, maps as {map: [[k, v], ...]}, tags as {tag, value},
// floats as {float}, simple values as {simple}. Keys keep their order; duplicates are the
// caller's to refuse.

export class CborError extends Error {}

export function cborDecode(bytes) {
  let pos = 0;
  const need = (n) => {
    if (pos + n > bytes.length) throw new CborError(`truncated at byte ${pos}`);
  };
  const arg = (info) => {
    if (info < 24) return info;
    const len = { 24: 1, 25: 2, 26: 4, 27: 8 }[info];
    if (!len) throw new CborError(`unsupported additional info ${info} at byte ${pos - 1}`);
    need(len);
    let n = 0n;
    for (let i = 0; i < len; i++) n = (n << 8n) | BigInt(bytes[pos++]);
    return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
  };
  const count = (info) => {
    const n = arg(info);
    if (typeof n !== 'number' || n > bytes.length) throw new CborError(`length ${n} too large`);
    return n;
  };
  const item = (depth) => {
    if (depth > 16) throw new CborError('nested too deeply');
    need(1);
    const b = bytes[pos++];
    const major = b >> 5;
    const info = b & 31;
    switch (major) {
      case 0:
        return arg(info);
      case 1: {
        const n = arg(info);
        return typeof n === 'number' && n < Number.MAX_SAFE_INTEGER ? -1 - n : -1n - BigInt(n);
      }
      case 2: {
        const n = count(info);
        need(n);
        const v = bytes.slice(pos, pos + n);
        pos += n;
        return v;
      }
      case 3: {
        const n = count(info);
        need(n);
        let s;
        try {
          s = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(pos, pos + n));
        } catch {
          throw new CborError(`text at byte ${pos} is not UTF-8`);
        }
        pos += n;
        return s;
      }
      case 4: {
        const n = count(info);
        const a = [];
        for (let i = 0; i < n; i++) a.push(item(depth + 1));
        return a;
      }
      case 5: {
        const n = count(info);
        const m = [];
        for (let i = 0; i < n; i++) {
          const k = item(depth + 1);
          m.push([k, item(depth + 1)]);
        }
        return { map: m };
      }
      case 6:
        return { tag: arg(info), value: item(depth + 1) };
      default: {
        if (info === 25 || info === 26 || info === 27) {
          const len = { 25: 2, 26: 4, 27: 8 }[info];
          need(len);
          const dv = new DataView(bytes.buffer, bytes.byteOffset + pos, len);
          pos += len;
          const f = len === 2 ? halfFloat(dv.getUint16(0)) : len === 4 ? dv.getFloat32(0) : dv.getFloat64(0);
          return { float: f };
        }
        if (info === 31) throw new CborError(`indefinite length at byte ${pos - 1}`);
        return { simple: info < 24 ? info : arg(info) };
      }
    }
  };
  const halfFloat = (h) => {
    const e = (h >> 10) & 31;
    const m = h & 1023;
    const s = h & 0x8000 ? -1 : 1;
    if (e === 0) return s * m * 2 ** -24;
    if (e === 31) return m ? NaN : s * Infinity;
    return s * (1 + m / 1024) * 2 ** (e - 15);
  };
  // Indefinite lengths (additional info 31) in majors 2 to 5 fall through `arg` as an error.
  const v = item(0);
  if (pos !== bytes.length) throw new CborError(`${bytes.length - pos} bytes after the item`);
  return v;
}

// The one CBOR encoding needed here: the COSE Sig_structure ["Signature1", protected, h'', payload].
function cborHead(major, n) {
  if (n < 24) return [(major << 5) | n];
  if (n < 0x100) return [(major << 5) | 24, n];
  if (n < 0x10000) return [(major << 5) | 25, n >> 8, n & 0xff];
  return [(major << 5) | 26, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

function sigStructure(protectedBytes, payload) {
  const ctx = new TextEncoder().encode('Signature1');
  const parts = [
    [0x84],
    cborHead(3, ctx.length),
    ctx,
    cborHead(2, protectedBytes.length),
    protectedBytes,
    [0x40],
    cborHead(2, payload.length),
    payload,
  ];
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---- COSE_Sign1 in the e-card's form ----

const isBytes = (v) => v instanceof Uint8Array;
const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

export function decodeCose(what, bytes) {
  let v;
  try {
    v = cborDecode(bytes);
  } catch (e) {
    throw new VerifyError(`${what}: not a COSE_Sign1 structure: ${e.message}`);
  }
  if (v && typeof v === 'object' && 'tag' in v) {
    if (v.tag !== 18) throw new VerifyError(`${what}: not a COSE_Sign1 structure: tag ${v.tag}`);
    v = v.value;
  }
  if (!Array.isArray(v) || v.length !== 4) {
    throw new VerifyError(`${what}: not a COSE_Sign1 structure: not an array of 4`);
  }
  const [prot, unprot, payload, signature] = v;
  if (!isBytes(prot) || !(unprot && unprot.map) || !(isBytes(payload) || (payload && payload.simple === 22)) || !isBytes(signature)) {
    throw new VerifyError(`${what}: not a COSE_Sign1 structure: wrong member types`);
  }
  let headers = [];
  if (prot.length > 0) {
    let h;
    try {
      h = cborDecode(prot);
    } catch (e) {
      throw new VerifyError(`${what}: not a COSE_Sign1 structure: protected header: ${e.message}`);
    }
    if (!h || !h.map) throw new VerifyError(`${what}: not a COSE_Sign1 structure: protected header is not a map`);
    headers = h.map;
  }
  const header = (label) => headers.filter(([k]) => k === label).map(([, v]) => v);
  const alg = header(1);
  if (alg.length !== 1 || alg[0] !== -7) {
    throw new VerifyError(`${what}: COSE header alg (1): got ${alg.length ? String(alg[0]) : 'none'}, expected -7 (ES256)`);
  }
  const kid = header(4);
  if (kid.length !== 1 || !isBytes(kid[0]) || kid[0].length !== 8) {
    throw new VerifyError(`${what}: COSE header kid (4): got ${kid.length && isBytes(kid[0]) ? kid[0].length + ' bytes' : 'none'}, expected 8 bytes`);
  }
  if (headers.length !== 2) {
    throw new VerifyError(`${what}: COSE header protected: got more than alg and kid, expected alg and kid only`);
  }
  if (unprot.map.length !== 0) {
    throw new VerifyError(`${what}: COSE header unprotected: got a non-empty map, expected an empty map`);
  }
  if (signature.length !== 64) {
    throw new VerifyError(`${what}: COSE header signature: got ${signature.length} bytes, expected 64 bytes (raw r||s)`);
  }
  if (!isBytes(payload)) throw new VerifyError(`${what}: COSE_Sign1 has no payload`);
  return { kid: hex(kid[0]), protectedBytes: prot, payload, signature };
}

// ---- dates ----

function parseDate(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = Date.UTC(y, mo - 1, d);
  const back = new Date(t);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return null;
  return s;
}

function parseRfc3339(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2}))$/.exec(s);
  if (!m || !parseDate(`${m[1]}-${m[2]}-${m[3]}`)) return null;
  const [h, mi, se] = [Number(m[4]), Number(m[5]), Number(m[6])];
  if (h > 23 || mi > 59 || se > 59) return null;
  let t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), h, mi, se);
  if (m[7]) t += Number(`0${m[7]}`) * 1000;
  if (m[9]) {
    const off = (Number(m[10]) * 60 + Number(m[11])) * 60000;
    t -= m[9] === '+' ? off : -off;
  }
  return t;
}

const utcDate = (ms) => new Date(ms).toISOString().slice(0, 10);
const moscowDate = (ms) => utcDate(ms + 3 * 3600 * 1000);

/** Today's date in Moscow, the check date `ecard scan` uses. */
export function todayInMoscow(nowMs = Date.now()) {
  return moscowDate(nowMs);
}

// ---- CBOR maps with text keys ----

function readMap(bytes) {
  let v;
  try {
    v = cborDecode(bytes);
  } catch (e) {
    throw `not CBOR: ${e.message}`;
  }
  if (!v || !v.map) throw 'not a CBOR map';
  const out = new Map();
  for (const [k, val] of v.map) {
    if (typeof k !== 'string') throw 'a key is not a text string';
    if (out.has(k)) throw `key ${JSON.stringify(k)} appears twice`;
    out.set(k, val);
  }
  return out;
}

// The CBOR map of a payload, and a `take` that removes and returns one field (what is left in
// the map afterwards is unknown fields).
function fields(bytes, bad) {
  let f;
  try {
    f = readMap(bytes);
  } catch (p) {
    throw bad('map', p);
  }
  const take = (k) => {
    const v = f.get(k);
    f.delete(k);
    return v;
  };
  return [f, take];
}

function sealPayload(bytes) {
  const bad = (field, problem) => new VerifyError(`seal payload: ${field}: ${problem}`);
  const [f, take] = fields(bytes, bad);
  const v = take('v');
  if (v === undefined) throw bad('v', 'missing');
  if (v !== 1) throw bad('v', 'version is not 1');
  const text = (k) => {
    const x = take(k);
    if (x === undefined) throw bad(k, 'missing');
    if (typeof x !== 'string') throw bad(k, 'not a text string');
    return x;
  };
  const date = (k) => {
    const s = text(k);
    if (!parseDate(s)) throw bad(k, 'not a YYYY-MM-DD date');
    return s;
  };
  const p = { iss: text('iss'), dn: text('dn'), sn: text('sn'), gn: text('gn') };
  const pn = take('pn');
  if (pn !== undefined && typeof pn !== 'string') throw bad('pn', 'not a text string');
  p.pn = pn === undefined ? null : pn;
  p.dob = date('dob');
  p.doi = date('doi');
  p.doe = date('doe');
  p.sex = text('sex');
  p.nat = text('nat');
  const dg2 = take('dg2');
  if (dg2 === undefined) throw bad('dg2', 'missing');
  if (!isBytes(dg2)) throw bad('dg2', 'not a byte string');
  if (dg2.length !== 32) throw bad('dg2', `${dg2.length} bytes, expected 32`);
  p.dg2 = hex(dg2);
  if (f.size) throw bad('map', `unknown key ${JSON.stringify([...f.keys()][0])}`);
  if (p.iss !== 'RUS') throw bad('iss', 'issuing state is not RUS');
  if (!/^[0-9]{9}$/.test(p.dn)) throw bad('dn', 'document number is not 9 digits');
  if (p.sex !== 'M' && p.sex !== 'F') throw bad('sex', 'not M or F');
  return p;
}

const REASONS = ['replaced', 'lost', 'damaged', 'details_changed', 'voided'];

function statusPayload(bytes) {
  const bad = (field, problem) => new VerifyError(`status list: ${field}: ${problem}`);
  const [f, take] = fields(bytes, bad);
  if (take('v') !== 1) throw bad('v', 'missing or not 1');
  if (take('iss') !== 'RUS') throw bad('iss', 'missing or not "RUS"');
  const time = (k) => {
    const s = take(k);
    if (typeof s !== 'string') throw bad(k, 'missing or not text');
    const t = parseRfc3339(s);
    if (t === null) throw bad(k, 'not an RFC 3339 time');
    return t;
  };
  const iat = time('iat');
  const nxt = time('nxt');
  const items = take('rev');
  if (!Array.isArray(items)) throw bad('rev', 'missing or not an array');
  const rev = new Map();
  items.forEach((item, i) => {
    const field = `rev[${i}]`;
    if (!Array.isArray(item)) throw bad(field, 'not an array');
    if (item.length !== 3 || !item.every((x) => typeof x === 'string')) {
      throw bad(field, 'not [number, reason, since] as text');
    }
    const [dn, reason, since] = item;
    if (!/^[0-9]{9}$/.test(dn)) throw bad(field, 'document number is not 9 digits');
    if (!REASONS.includes(reason)) {
      throw new VerifyError(`status list: unknown revocation reason ${JSON.stringify(reason.slice(0, 32))}, expected replaced, lost, damaged, details_changed or voided`);
    }
    if (!parseDate(since)) throw bad(field, 'since is not a YYYY-MM-DD date');
    if (!rev.has(dn)) rev.set(dn, { reason, since });
  });
  if (f.size) throw bad('map', `unknown key ${JSON.stringify([...f.keys()][0])}`);
  if (nxt < iat) throw bad('nxt', 'next update is before issued-at');
  return { iat, nxt, rev };
}

// ---- Document Signer terms and signatures ----

const keyCache = new Map();

async function dsKey(entry) {
  let k = keyCache.get(entry.kid);
  if (!k) {
    k = await crypto.subtle.importKey('jwk', entry.jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
    keyCache.set(entry.kid, k);
  }
  return k;
}

function findSigner(what, bundle, kid) {
  const e = bundle.ds.find((d) => d.kid === kid);
  if (!e) {
    throw new VerifyError(`${what}: signed by an unknown Document Signer (kid ${kid}); none of the ${bundle.ds.length} certificates given has it`);
  }
  if (!e.trusted) throw new VerifyError(e.problem || `Document Signer ${e.subject} is not trusted`);
  return e;
}

// As check_ds_terms: `signed` is {instant: ms} (a status list's iat) or {moscowDay: 'YYYY-MM-DD'}
// (a seal's date of issue, compared with the Moscow dates of the bounds); `at` the check date.
function dsTerms(what, e, signed, at) {
  const before = (b) => (signed.instant !== undefined ? signed.instant < b : signed.moscowDay < moscowDate(b));
  const after = (b) => (signed.instant !== undefined ? signed.instant > b : signed.moscowDay > moscowDate(b));
  const day = signed.instant !== undefined ? utcDate(signed.instant) : signed.moscowDay;
  const policy = (reason) => new VerifyError(`${what}: Document Signer ${e.subject} not acceptable: ${reason}`);
  const nb = parseRfc3339(e.not_before);
  const na = parseRfc3339(e.not_after);
  if (nb === null || na === null) throw policy('the trust bundle has no validity dates');
  if (before(nb) || after(na)) {
    throw policy(`${what} signed at ${day} outside the DS certificate validity ${utcDate(nb)} .. ${utcDate(na)}`);
  }
  const pnb = e.pkup_not_before ? parseRfc3339(e.pkup_not_before) : null;
  const pna = e.pkup_not_after ? parseRfc3339(e.pkup_not_after) : null;
  if ((pnb !== null && before(pnb)) || (pna !== null && after(pna))) {
    throw policy(`${what} signed at ${day} outside the DS private key usage period`);
  }
  if (at > utcDate(na)) throw policy(`DS certificate expired on ${utcDate(na)}, check date ${at}`);
  if (at < utcDate(nb)) throw policy(`DS certificate not valid before ${utcDate(nb)}, check date ${at}`);
}

async function verifySignature(what, e, cose) {
  const key = await dsKey(e);
  const ok = await crypto.subtle.verify(
    { name: 'ECDSA', hash: 'SHA-256' },
    key,
    cose.signature,
    sigStructure(cose.protectedBytes, cose.payload),
  );
  if (!ok) throw new VerifyError(`${what}: ES256 signature does not verify with Document Signer ${e.subject}`);
}

/**
 * Decodes and verifies a status list's bytes against the bundle on check date `at`:
 * {ok: true, list} or {ok: false, error}.
 */
export async function verifyStatusList(bytes, bundle, at) {
  try {
    const cose = decodeCose('status list', bytes);
    const list = statusPayload(cose.payload);
    const e = findSigner('status list', bundle, cose.kid);
    dsTerms('status list', e, { instant: list.iat }, at);
    await verifySignature('status list', e, cose);
    return { ok: true, list };
  } catch (err) {
    return { ok: false, error: err instanceof VerifyError ? err.message : `status list: ${err}` };
  }
}

function check(id, outcome, reason) {
  return { id, name: CHECK_NAMES[id], outcome, reason: reason || null };
}

const iso = (ms) => new Date(ms).toISOString().replace('.000Z', 'Z');

/** As status_checks: `status` is null (none held) or the result of verifyStatusList. */
export function statusChecks(dn, status, nowMs) {
  if (!status) return [check('status_list', 'warn', NO_STATUS_LIST)];
  if (!status.ok) return [check('status_list', 'fail', status.error)];
  const out = [check('status_list', 'pass')];
  out.push(
    nowMs > status.list.nxt
      ? check('status_fresh', 'warn', `the status list is stale: its next update was due ${iso(status.list.nxt)}; refresh it from the station`)
      : check('status_fresh', 'pass'),
  );
  const r = status.list.rev.get(dn);
  out.push(
    r
      ? check('not_on_status_list', 'fail', `the card is revoked on the status list: ${r.reason} since ${r.since}`)
      : check('not_on_status_list', 'pass'),
  );
  return out;
}

/** As Verdict::of: red on any failure, amber on a missing or stale list, green only with a fresh one. */
export function verdictOf(checks) {
  let v = 'green';
  let listUsed = false;
  for (const c of checks) {
    if (c.outcome === 'fail') return 'red';
    if (c.outcome === 'warn' && (c.id === 'status_list' || c.id === 'status_fresh')) v = 'amber';
    if (c.outcome === 'pass' && c.id === 'status_fresh') listUsed = true;
  }
  if (v === 'green' && !listUsed) return 'amber';
  return v;
}

/** The first failing check, or the first warning (for amber). */
export function firstProblem(checks) {
  return checks.find((c) => c.outcome === 'fail') || checks.find((c) => c.outcome === 'warn') || null;
}

/**
 * The verdict on QR `text` (as check_seal): `bundle` the trust bundle, `status` null or a
 * verifyStatusList result, `at` the check date (YYYY-MM-DD, Moscow), `nowMs` the time for the
 * list's freshness. Returns {verdict, checks, holder}; never throws.
 */
export async function verifySeal(text, bundle, status, at, nowMs) {
  const checks = [];
  const red = () => ({ verdict: 'red', checks, holder: null });
  let cose;
  let payload;
  try {
    if (typeof text !== 'string' || !text.startsWith(SEAL_PREFIX)) {
      const got = typeof text === 'string' ? Array.from(text).slice(0, 8).join('') : '';
      throw new VerifyError(`not an e-card seal: the QR text starts with ${JSON.stringify(got)}, expected "EC1:"`);
    }
    let z;
    try {
      z = base45Decode(text.slice(SEAL_PREFIX.length));
    } catch (e) {
      throw new VerifyError(`seal is not valid base45 (RFC 9285): ${e.message}`);
    }
    const coseBytes = await inflateZlib(z, MAX_COSE_LEN);
    cose = decodeCose('seal', coseBytes);
    payload = sealPayload(cose.payload);
  } catch (e) {
    checks.push(check('seal_decodes', 'fail', e instanceof VerifyError ? e.message : `seal: ${e}`));
    return red();
  }
  checks.push(check('seal_decodes', 'pass'));
  try {
    const e = findSigner('seal', bundle, cose.kid);
    dsTerms('seal', e, { moscowDay: payload.doi }, at);
    await verifySignature('seal', e, cose);
  } catch (e) {
    checks.push(check('seal_signature', 'fail', e instanceof VerifyError ? e.message : `seal: ${e}`));
    return red();
  }
  checks.push(check('seal_signature', 'pass'));
  checks.push(
    at > payload.doe
      ? check('seal_not_expired', 'fail', `card expired on ${payload.doe}, check date ${at}`)
      : check('seal_not_expired', 'pass'),
  );
  checks.push(...statusChecks(payload.dn, status, nowMs));
  return { verdict: verdictOf(checks), checks, holder: payload };
}
