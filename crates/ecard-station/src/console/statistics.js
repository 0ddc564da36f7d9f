// The analyst's statistics page. Talks only to GET /api/v1/statistics with the signed-in token
// (sessionStorage, this tab only; never in a URL). Draws its charts as SVG built with DOM calls
// (no library, no innerHTML): bars by group and a monthly series. Withheld counts are drawn as
// hatched "<10" bars, never as 0 and never as a number.
"use strict";

const KEY = "ecard-station-token";
const SVG = "http://www.w3.org/2000/svg";
const state = { token: null };

const $ = (id) => document.getElementById(id);

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

async function api(path, accept) {
  const res = await fetch(path, {
    headers: { Authorization: "Bearer " + state.token, Accept: accept || "application/json" },
  });
  return res;
}

async function errorText(res) {
  try {
    const j = await res.json();
    return j.error || res.statusText;
  } catch (_) {
    return res.status + " " + res.statusText;
  }
}

async function signIn(token) {
  state.token = token;
  const res = await api("/api/v1/console/session");
  if (!res.ok) {
    state.token = null;
    sessionStorage.removeItem(KEY);
    $("sign-in-error").textContent =
      res.status === 401 ? "This token is not known to the station." : await errorText(res);
    return;
  }
  const who = await res.json();
  sessionStorage.setItem(KEY, token);
  $("who").textContent = who.name + " (" + who.role + ")";
  $("sign-in").hidden = true;
  $("stats").hidden = false;
  $("sign-out").hidden = false;
  await show();
}

function params(by) {
  const q = new URLSearchParams();
  q.set("from", $("from").value);
  q.set("to", $("to").value);
  if (by.length) q.set("by", by.join(","));
  if ($("outcome").value) q.set("filter", "outcome:" + $("outcome").value);
  return q;
}

function groupings() {
  const by = [$("by").value];
  if ($("by2").value && $("by2").value !== by[0]) by.push($("by2").value);
  return by;
}

// Horizontal bars, one per cell; a withheld cell is a grey bar of the threshold's width.
function bars(target, answer) {
  const rows = answer.cells;
  const max = Math.max(10, ...rows.map((c) => (c.suppressed ? 10 : c.count)));
  const rowH = 22, labelW = 190, chartW = 460, numW = 60;
  const svg = el("svg", {
    width: labelW + chartW + numW, height: Math.max(1, rows.length) * rowH + 10,
    role: "img", "aria-label": "counts by " + answer.by.join(" and "),
  });
  rows.forEach((c, i) => {
    const y = i * rowH + 5;
    const label = answer.by.map((k) => c[k]).join(" / ");
    svg.appendChild(el("text", { x: labelW - 6, y: y + 15, "text-anchor": "end" }, label));
    const n = c.suppressed ? 10 : c.count;
    const w = Math.max(2, (n / max) * chartW);
    svg.appendChild(el("rect", {
      x: labelW, y: y + 3, width: w, height: rowH - 6,
      class: c.suppressed ? "withheld" : "bar",
    }));
    svg.appendChild(el("text", { x: labelW + w + 4, y: y + 15 }, c.suppressed ? "<10" : String(c.count)));
  });
  if (!rows.length) svg.appendChild(el("text", { x: 10, y: 20 }, "no cards in this period"));
  target.replaceChildren(svg);
}

// A monthly series: a line through published months, withheld months marked "<10".
function series(target, answer) {
  const pts = answer.cells;
  const W = 700, H = 220, L = 50, B = 30, T = 10;
  const max = Math.max(10, ...pts.map((c) => (c.suppressed ? 10 : c.count)));
  const svg = el("svg", { width: W, height: H, role: "img", "aria-label": "cards by month" });
  svg.appendChild(el("line", { x1: L, y1: H - B, x2: W - 10, y2: H - B, class: "axis" }));
  svg.appendChild(el("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" }));
  svg.appendChild(el("text", { x: L - 6, y: T + 10, "text-anchor": "end" }, String(max)));
  svg.appendChild(el("text", { x: L - 6, y: H - B, "text-anchor": "end" }, "0"));
  const step = pts.length > 1 ? (W - 50 - L - 20) / (pts.length - 1) : 0;
  const xy = (i, n) => [L + 10 + i * step, H - B - (n / max) * (H - B - T)];
  let d = "";
  pts.forEach((c, i) => {
    const [x, y] = xy(i, c.suppressed ? 0 : c.count);
    if (!c.suppressed) d += (d ? " L " : "M ") + x.toFixed(1) + " " + y.toFixed(1);
    svg.appendChild(el("circle", { cx: x, cy: c.suppressed ? H - B - 8 : y, r: 3, class: c.suppressed ? "withheld" : "bar" }));
    svg.appendChild(el("text", { x: x, y: H - B + 16, "text-anchor": "middle" }, c.month));
    if (c.suppressed) svg.appendChild(el("text", { x: x, y: H - B - 14, "text-anchor": "middle" }, "<10"));
  });
  if (d) svg.insertBefore(el("path", { d: d, class: "line" }), svg.firstChild);
  target.replaceChildren(svg);
}

async function show() {
  $("query-error").textContent = "";
  const by = groupings();
  const [g, m] = await Promise.all([
    api("/api/v1/statistics?" + params(by)),
    api("/api/v1/statistics?" + params(["month"])),
  ]);
  if (!g.ok) { $("query-error").textContent = await errorText(g); return; }
  if (!m.ok) { $("query-error").textContent = await errorText(m); return; }
  const groups = await g.json();
  const months = await m.json();
  $("groups-title").textContent = "By " + groups.by.join(" and ").replace(/_/g, " ");
  bars($("groups-chart"), groups);
  series($("months-chart"), months);
  $("groups-total").textContent =
    "Total " + groups.from + " to " + groups.to + ": " + (groups.total === null ? "<10" : groups.total);
}

async function downloadCsv() {
  const q = params(groupings());
  q.set("format", "csv");
  const res = await api("/api/v1/statistics?" + q, "text/csv");
  if (!res.ok) { $("query-error").textContent = await errorText(res); return; }
  const blob = await res.blob();
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = "ecard-statistics-" + $("from").value + "-" + $("to").value + ".csv";
  document.body.appendChild(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(a.href);
}

document.addEventListener("DOMContentLoaded", () => {
  const now = new Date();
  const ym = (d) => d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0");
  $("to").value = ym(now);
  $("from").value = ym(new Date(now.getFullYear() - 1, now.getMonth() + 1, 1));
  $("sign-in-form").addEventListener("submit", (e) => {
    e.preventDefault();
    signIn($("token").value.trim());
    $("token").value = "";
  });
  $("query-form").addEventListener("submit", (e) => { e.preventDefault(); show(); });
  $("csv").addEventListener("click", downloadCsv);
  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    location.reload();
  });
  const saved = sessionStorage.getItem(KEY);
  if (saved) signIn(saved);
});
