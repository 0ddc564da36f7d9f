// The operator console. Talks only to the station's API with the signed-in token
// (Authorization: Bearer); live updates come from GET /api/v1/events. Every value from the
// server goes into the page through textContent, never as HTML. The token is kept in
// sessionStorage (this tab only) and never written to the console or the page.
"use strict";

const KEY = "ecard-station-token";
const ATTENTION = new Set(["failed", "spoiled", "rejected"]);
const RETRYABLE = new Set(["failed"]);
const VOIDABLE = new Set(["validated", "spoiled", "failed", "issued", "needs_review"]);
// A verified card whose issue commit is missing and which is out of the station's reach: the
// operator checks whether it was delivered, then confirms it issued or voids it.
const CONFIRMABLE = new Set(["needs_review"]);

const $ = (id) => document.getElementById(id);
const state = { token: null, role: null, jobs: new Map(), selected: null, source: null };

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

async function api(path, opts) {
  const o = Object.assign({ headers: {} }, opts || {});
  o.headers = Object.assign({ Authorization: "Bearer " + state.token }, o.headers);
  const r = await fetch("/api/v1" + path, o);
  let body = null;
  try { body = await r.json(); } catch (_) { body = null; }
  return { status: r.status, ok: r.ok, body };
}

function errorText(res) {
  const b = res.body || {};
  let text = b.error || ("the station answered " + res.status);
  if (Array.isArray(b.problems) && b.problems.length) {
    text += ": " + b.problems.map((p) => p.path + ": " + p.message).join("; ");
  }
  return text;
}

// --- sign-in -----------------------------------------------------------------------------

async function signIn(token) {
  state.token = token;
  const res = await api("/console/session");
  if (!res.ok) {
    state.token = null;
    sessionStorage.removeItem(KEY);
    $("sign-in-error").textContent =
      res.status === 401 ? "This token is not known to the station." : errorText(res);
    return;
  }
  sessionStorage.setItem(KEY, token);
  state.role = res.body.role;
  $("station-name").textContent = res.body.station;
  const warn = $("warnings");
  warn.replaceChildren(...(res.body.warnings || []).map((w) => el("p", { class: "warning" }, w)));
  warn.hidden = !warn.children.length;
  $("who").textContent = res.body.name + " (" + res.body.role + ")";
  $("sign-in").hidden = true;
  $("sign-out").hidden = false;
  $("console").hidden = false;
  const reads = ["qa", "operator", "admin"].includes(state.role);
  const operates = ["operator", "admin"].includes(state.role);
  $("jobs-panel").hidden = !reads;
  $("lanes-panel").hidden = !operates;
  $("submit-panel").hidden = !["intake", "admin"].includes(state.role);
  $("stock-panel").hidden = !["supervisor", "admin"].includes(state.role);
  if (!$("stock-panel").hidden) loadStock();
  $("retry").hidden = !operates;
  $("void").hidden = !operates;
  $("confirm").hidden = !operates;
  // Intake cannot read jobs: no stream, no live badge.
  $("live").hidden = !reads;
  if (reads) connect();
}

// --- blank stock (ECARD.md section 11) --------------------------------------------------------

async function loadStock() {
  const res = await api("/api/v1/stock");
  const box = $("stock");
  if (!res.ok) { box.replaceChildren(el("p", { class: "error" }, errorText(res))); return; }
  const r = res.body;
  $("stock-state").textContent = r.reconciles ? "every blank reconciles" : r.discrepancies.length + " serial(s) do not reconcile";
  const spoiled = (c) => String(Object.values(c.spoiled || {}).reduce((a, b) => a + b, 0));
  const row = (label, c) => el("tr", {}, el("th", {}, label), el("td", {}, String(c.received)),
    el("td", {}, String(c.issued)), el("td", {}, spoiled(c)), el("td", {}, String(c.destroyed)),
    el("td", {}, String(c.in_use)), el("td", {}, String(c.in_stock)));
  const head = el("tr", {}, ...["", "received", "issued", "spoiled", "destroyed", "on a lane", "in stock"].map((h) => el("th", {}, h)));
  const rows = [row("all batches", r.total)];
  for (const [b, c] of Object.entries(r.by_batch)) rows.push(row("batch " + b, c));
  for (const [d, c] of Object.entries(r.by_day)) rows.push(row("day " + d, c));
  const table = el("table", { id: "stock-table" }, el("thead", {}, head), el("tbody", {}, ...rows));
  const list = el("ul", { id: "stock-discrepancies" }, ...r.discrepancies.map((d) =>
    el("li", {}, d.serial + ": " + d.kind.replace(/_/g, " ") + " (" + d.detail + ")")));
  box.replaceChildren(table, list);
}

function signOut() {
  sessionStorage.removeItem(KEY);
  if (state.source) state.source.close();
  location.reload();
}

// --- live updates ------------------------------------------------------------------------

function setLive(on) {
  $("live").textContent = on ? "live" : "reconnecting";
  $("live").className = "live " + (on ? "on" : "off");
}

async function connect() {
  // EventSource cannot send headers, and a token never goes in a URL: signing in sets the token
  // as an HttpOnly cookie for the event stream's path only.
  await fetch("/api/v1/console/session", {
    method: "POST",
    headers: { Authorization: "Bearer " + state.token },
  });
  const src = new EventSource("/api/v1/events");
  state.source = src;
  src.addEventListener("snapshot", (ev) => {
    const snap = JSON.parse(ev.data);
    state.jobs = new Map(snap.jobs.map((j) => [j.id, j]));
    if (snap.lanes) renderLanes(snap.lanes);
    setLive(true);
    renderJobs();
  });
  src.addEventListener("job", (ev) => {
    const job = JSON.parse(ev.data);
    state.jobs.set(job.id, job);
    renderJobs();
    if (state.selected === job.id) openDetail(job.id);
  });
  src.addEventListener("lanes", (ev) => renderLanes(JSON.parse(ev.data)));
  src.addEventListener("trouble", (ev) => { $("live").textContent = "store trouble"; });
  src.onopen = () => setLive(true);
  src.onerror = () => setLive(false);
}

// --- lanes -------------------------------------------------------------------------------

function renderLanes(lanes) {
  const box = $("lanes");
  box.replaceChildren();
  if (!lanes.length) box.append(el("p", { class: "muted" }, "This station has no lanes."));
  for (const l of lanes) {
    const dl = el("dl", {},
      el("dt", {}, "encoder"), el("dd", {}, l.encoder_stage + (l.encoding_job ? " · job " + l.encoding_job : "")),
      el("dt", {}, "printer"), el("dd", {}, l.printer_stage + (l.printing_job ? " · job " + l.printing_job : "")),
      el("dt", {}, "issued"), el("dd", {}, l.issued),
      el("dt", {}, "spoiled"), el("dd", {}, l.spoiled));
    if (l.last_error) dl.append(el("dt", {}, "last error"), el("dd", { class: "error" }, l.last_error));
    box.append(el("div", { class: "lane", "data-lane": l.name }, el("h3", {}, l.name), dl));
  }
}

// --- jobs --------------------------------------------------------------------------------

function when(ms) {
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour12: false }) +
    (new Date().toDateString() === d.toDateString() ? "" : " " + d.toLocaleDateString());
}

function renderJobs() {
  const want = $("state-filter").value;
  const q = $("search").value.trim().toLowerCase();
  const rows = [...state.jobs.values()]
    .filter((j) => !want || (want === "attention" ? ATTENTION.has(j.state) : j.state === want))
    .filter((j) => !q || j.application_id.toLowerCase().includes(q) ||
      (j.document_number || "").includes(q.replace(/\s/g, "")))
    .sort((a, b) => b.id - a.id);
  const body = $("jobs").tBodies[0];
  body.replaceChildren(...rows.map((j) => {
    const tr = el("tr", { "data-job": j.id, "data-state": j.state },
      el("td", {}, j.id), el("td", {}, j.application_id),
      el("td", {}, el("span", { class: "state " + j.state }, j.state)),
      el("td", {}, j.document_number || "—"), el("td", {}, j.lane || "—"),
      el("td", {}, j.attempts), el("td", {}, when(j.updated_ms)));
    if (state.selected === j.id) tr.classList.add("selected");
    tr.addEventListener("click", () => openDetail(j.id));
    return tr;
  }));
  $("job-count").textContent = rows.length + " of " + state.jobs.size;
}

// The live view holds the newest jobs only: a search also asks the station, which searches
// every job's application id and number, and the answers join the table.
let searchTimer = null;
function searchStation() {
  clearTimeout(searchTimer);
  const q = $("search").value.trim();
  if (!q) return;
  searchTimer = setTimeout(async () => {
    const res = await api("/jobs?limit=500&q=" + encodeURIComponent(q));
    if (!res.ok || $("search").value.trim() !== q) return;
    for (const j of res.body.jobs) state.jobs.set(j.id, j);
    renderJobs();
  }, 250);
}

// --- detail (the only view with personal data) -------------------------------------------

function fact(dl, label, value) {
  if (value === null || value === undefined || value === "") return;
  if (typeof value === "object") value = Object.values(value).filter((v) => typeof v !== "object").join(" · ");
  dl.append(el("dt", {}, label), el("dd", {}, value));
}

async function openDetail(id) {
  state.selected = id;
  renderJobs();
  const res = await api("/console/jobs/" + id);
  if (state.selected !== id) return;
  $("detail").hidden = false;
  $("detail-id").textContent = id;
  const body = $("detail-body");
  if (!res.ok) { body.replaceChildren(el("p", { class: "error" }, errorText(res))); return; }
  const { job, holder, chip_photo, verification, history, can } = res.body;
  const person = el("dl", {});
  fact(person, "surname", holder.surname);
  fact(person, "given names", holder.given_names);
  fact(person, "patronymic", holder.patronymic);
  fact(person, "born", holder.date_of_birth);
  fact(person, "sex", holder.sex);
  fact(person, "nationality", holder.nationality);
  fact(person, "residence", holder.residence_status);
  const doc = holder.identity_document;
  if (doc) {
    fact(person, "identity doc", [doc.kind, doc.number, doc.issuing_state].filter(Boolean).join(" "));
    fact(person, "doc expires", doc.date_of_expiry);
  }
  const photo = chip_photo ? el("img", { src: chip_photo, alt: "chip photo (DG2)" }) : el("p", { class: "muted" }, "no chip photo");
  const facts = el("dl", { class: "facts" });
  fact(facts, "application", job.application_id);
  fact(facts, "state", job.state);
  fact(facts, "card number", job.document_number);
  fact(facts, "CAN", can);
  fact(facts, "lane", job.lane && (job.station + "/" + job.lane));
  fact(facts, "tries", String(job.attempts));
  fact(facts, "replaces", job.previous_document_number);
  fact(facts, "last error", job.last_error);
  facts.append(el("dt", {}, "chip check"),
    el("dd", { class: "verdict " + verification.outcome },
      verification.outcome + (verification.detail ? " — " + verification.detail : "")));
  fact(facts, "DS certificate", verification.ds_certificate && verification.ds_certificate.slice(0, 16) + "…");
  const hist = el("ol", { class: "history" }, ...history.map((e) =>
    el("li", {}, e.at.replace("T", " ").replace(/\.\d+Z$/, "Z") + "  " + (e.from_state || "new") + " → " +
      e.to_state + "  by " + e.actor + (e.detail ? " (" + e.detail + ")" : ""))));
  body.replaceChildren(el("div", { class: "holder" }, photo, person), facts,
    el("h3", { class: "muted" }, "History"), hist);
  $("retry").disabled = !RETRYABLE.has(job.state);
  $("void").disabled = !VOIDABLE.has(job.state);
  $("confirm").disabled = !CONFIRMABLE.has(job.state);
}

async function act(kind) {
  const id = state.selected;
  if (id === null) return;
  if (kind === "void" && !confirm("Void job " + id + "? Its card number is voided and revoked.")) return;
  if (kind === "confirm" && !confirm("Confirm that the card of job " + id + " was delivered to its holder? The job becomes issued.")) return;
  const res = await api("/jobs/" + id + "/" + kind, { method: "POST" });
  $("action-result").textContent = res.ok ? kind + " done: " + res.body.state : errorText(res);
  if (res.ok) { state.jobs.set(id, res.body); renderJobs(); openDetail(id); }
}

// --- submit ------------------------------------------------------------------------------

async function submit(ev) {
  ev.preventDefault();
  const file = $("record-file").files[0];
  if (!file) return;
  const out = $("submit-result");
  out.textContent = "sending…";
  const res = await api("/enrollments", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: await file.text(),
  });
  if (res.ok) {
    out.textContent = (res.status === 202 ? "accepted as job " : "already known as job ") +
      res.body.id + " (" + res.body.state + ")";
    if (state.source) { state.jobs.set(res.body.id, res.body); renderJobs(); }
    $("submit-form").reset();
  } else {
    out.textContent = errorText(res);
  }
}

// --- start -------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    $("sign-in-error").textContent = "";
    const t = $("token").value.trim();
    $("token").value = "";
    if (t) signIn(t);
  });
  $("sign-out").addEventListener("click", signOut);
  $("state-filter").addEventListener("change", renderJobs);
  $("search").addEventListener("input", () => { renderJobs(); searchStation(); });
  $("detail-close").addEventListener("click", () => { state.selected = null; $("detail").hidden = true; renderJobs(); });
  $("retry").addEventListener("click", () => act("retry"));
  $("void").addEventListener("click", () => act("void"));
  $("confirm").addEventListener("click", () => act("confirm"));
  $("submit-form").addEventListener("submit", submit);
  const saved = sessionStorage.getItem(KEY);
  if (saved) signIn(saved);
});
