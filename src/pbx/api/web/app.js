// The inventory page: fetch /api/registered-phones and /api/health every few
// seconds and render them. Plain DOM, text set with textContent only: user
// agents and contacts come from the network and must not become markup.
"use strict";

const REFRESH_MS = 5000;
const COLUMNS = ["Status", "Extension", "MAC", "IP", "User agent", "Contact",
                 "First registered (UTC)", "Last registered (UTC)"];

let phones = [];
let timer = null;

const $ = (id) => document.getElementById(id);

function formatMac(mac) {
  return mac ? mac.match(/../g).join(":") : "";
}

function formatTime(iso) {
  // "2026-11-27T16:12:46Z" -> "2026-11-27 16:12:46"
  return iso ? iso.replace("T", " ").replace(/(\.\d+)?Z$/, "") : "";
}

function cell(row, label, text, className) {
  const td = document.createElement("td");
  td.dataset.label = label;
  td.textContent = text || "—";
  if (!text) td.classList.add("empty");
  if (className) td.classList.add(...className.split(" "));
  row.appendChild(td);
  return td;
}

function haystack(p) {
  return [p.extension_number, p.mac_address, formatMac(p.mac_address), p.ip_address,
          p.user_agent, p.contact_uri, p.registered ? "live" : "stale"]
    .filter(Boolean).join(" ").toLowerCase();
}

function render() {
  const words = $("filter").value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const shown = phones.filter((p) => words.every((w) => p._text.includes(w)));
  const body = document.createDocumentFragment();
  for (const p of shown) {
    const tr = document.createElement("tr");
    tr.dataset.id = p.id;
    const badge = cell(tr, COLUMNS[0], p.registered ? "live" : "stale", "state");
    badge.classList.add(p.registered ? "live" : "stale");
    if (p.expires_at) badge.title = "binding expires " + formatTime(p.expires_at) + " UTC";
    cell(tr, COLUMNS[1], p.extension_number, "ext");
    cell(tr, COLUMNS[2], formatMac(p.mac_address), "mono");
    cell(tr, COLUMNS[3], p.ip_address, "mono");
    cell(tr, COLUMNS[4], p.user_agent, "wrap");
    cell(tr, COLUMNS[5], p.contact_uri, "wrap mono");
    cell(tr, COLUMNS[6], formatTime(p.first_registered), "time");
    cell(tr, COLUMNS[7], formatTime(p.last_registered), "time");
    body.appendChild(tr);
  }
  if (shown.length === 0) {
    const tr = document.createElement("tr");
    tr.className = "placeholder";
    const td = document.createElement("td");
    td.colSpan = COLUMNS.length;
    td.textContent = phones.length ? "No phone matches the filter." : "No phone has registered yet.";
    tr.appendChild(td);
    body.appendChild(tr);
  }
  $("rows").replaceChildren(body);
  const live = phones.filter((p) => p.registered).length;
  $("summary").textContent = `${phones.length} phones, ${live} live` +
    (shown.length !== phones.length ? ` · showing ${shown.length}` : "");
}

function describe(name, part) {
  if (!part || typeof part !== "object") return null;
  const bits = [];
  for (const [key, value] of Object.entries(part)) {
    if (key === "status") continue;
    if (Array.isArray(value)) bits.push(value.join("/"));
    else if (key === "type") bits.push(String(value));
    else if (typeof value === "number") bits.push(`${value} ${key}`);
    else bits.push(`${key} ${value}`);
  }
  return `${name} ${part.status || "?"}` + (bits.length ? ` (${bits.join(", ")})` : "");
}

function renderHealth(h) {
  const parts = [describe("SIP", h.sip), describe("database", h.database),
                 h.phones === null ? "inventory unreadable" : `${h.phones} phones stored`];
  const el = $("health");
  el.textContent = `Service ${h.status}: ` + parts.filter(Boolean).join(" · ");
  el.className = "health " + (h.status === "ok" ? "ok" : "degraded");
}

async function getJson(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
    throw new Error(`${url}: HTTP ${response.status} ${detail}`);
  }
  return response.json();
}

async function refresh() {
  clearTimeout(timer);
  try {
    const errors = [];
    const [list, health] = await Promise.allSettled([
      getJson("/api/registered-phones"), getJson("/api/health")]);
    if (list.status === "fulfilled") {
      phones = list.value;
      for (const p of phones) p._text = haystack(p);
      render();
    } else {
      errors.push(list.reason.message);
    }
    if (health.status === "fulfilled") renderHealth(health.value);
    else errors.push(health.reason.message);
    showError(errors);
  } catch (err) {
    showError([String(err)]);
  } finally {
    schedule();  // keep refreshing whatever happened this time
  }
}

function showError(errors) {
  const error = $("error");
  error.hidden = errors.length === 0;
  error.textContent = errors.length ? "Cannot refresh: " + errors.join("; ") + " (retrying)" : "";
}

function schedule() {
  clearTimeout(timer);
  if ($("auto").checked && !document.hidden) timer = setTimeout(refresh, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  $("filter").addEventListener("input", render);
  $("auto").addEventListener("change", () => ($("auto").checked ? refresh() : schedule()));
  document.addEventListener("visibilitychange", () => (document.hidden ? schedule() : refresh()));
  refresh();
});
