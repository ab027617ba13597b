// The status page: polls the JSON API once a second and updates the tables
// in place (rows keyed by device and tag, so nothing flickers and a selection
// survives a refresh). Only textContent is ever set from the data: names and
// errors come from the config and the devices and are never parsed as HTML.
"use strict";

const REFRESH_MS = 1000;
// At most this many tag rows are fetched and drawn; the filters narrow the rest.
const TAG_LIMIT = 500;

const $ = (id) => document.getElementById(id);
const filters = { device: $("filter-device"), quality: $("filter-quality"), search: $("filter-search") };
let lastOk = null;
let timer = null;
let inFlight = false;

async function getJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) {
    throw new Error(`${path}: HTTP ${response.status}`);
  }
  return { body: await response.json(), total: Number(response.headers.get("x-total-count")) };
}

function tagQuery(extra) {
  const q = new URLSearchParams();
  for (const [name, el] of Object.entries(filters)) {
    if (el.value) q.set(name, el.value);
  }
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  return `/api/tags?${q}`;
}

async function refresh() {
  if (inFlight) return;
  inFlight = true;
  try {
    const [devices, buses, tags, summary] = await Promise.all([
      getJson("/api/devices"),
      getJson("/api/buses"),
      getJson(tagQuery({ limit: TAG_LIMIT })),
      getJson("/api/summary"),
    ]);
    drawDevices(devices.body);
    drawBuses(buses.body);
    drawTags(tags.body, tags.total);
    drawSummary(devices.body, summary.body);
    lastOk = new Date();
    document.body.dataset.updates = String(Number(document.body.dataset.updates) + 1);
    setConnection(true, `Live · updated ${lastOk.toLocaleTimeString()}`);
  } catch (e) {
    const since = lastOk ? ` Showing the data of ${lastOk.toLocaleTimeString()}.` : "";
    setConnection(false, `Cannot reach the gateway (${e.message}).${since}`);
  } finally {
    inFlight = false;
  }
}

function setConnection(ok, text) {
  const el = $("connection");
  el.textContent = text;
  el.classList.toggle("lost", !ok);
  document.body.classList.toggle("stale", !ok);
}

function schedule() {
  clearTimeout(timer);
  if (document.hidden) return;
  timer = setTimeout(async () => {
    await refresh();
    schedule();
  }, REFRESH_MS);
}

// --- formatting -----------------------------------------------------------

function formatAge(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

function formatValue(tag) {
  if (tag.value === null) return "–";
  const text = typeof tag.value === "number" && !Number.isInteger(tag.value)
    ? String(Number(tag.value.toPrecision(8)))
    : String(tag.value);
  return tag.unit ? `${text} ${tag.unit}` : text;
}

function formatQuality(tag) {
  if (tag.quality === "good") return "good";
  let cause = tag.cause || "";
  if (tag.exception_code !== null) {
    cause = `exception ${tag.exception_code.toString(16).padStart(2, "0").toUpperCase()}`;
  }
  return `${tag.quality} · ${cause}`;
}

function deviceState(d) {
  if (!d.polled) return ["not polled", "none"];
  if (d.demoted) return ["demoted", "bad"];
  if (d.connected) return ["up", "good"];
  if (d.last_cycle === null && d.last_error === null) return ["waiting", "uncertain"];
  return ["down", "bad"];
}

// --- drawing --------------------------------------------------------------

// Put `cells` (label, text, class) into `row`, touching only what changed.
function fillRow(row, cells) {
  while (row.cells.length < cells.length) row.insertCell();
  cells.forEach(([label, text, cls], i) => {
    const cell = row.cells[i];
    if (cell.textContent !== text) cell.textContent = text;
    cell.dataset.label = label;
    cell.className = cls || "";
  });
}

// Make `tbody` hold one row per item, in order, reusing rows by key.
function syncRows(tbody, items, key, draw) {
  const old = new Map();
  for (const row of tbody.rows) old.set(row.dataset.key, row);
  let at = 0;
  for (const item of items) {
    const k = key(item);
    let row = old.get(k);
    if (row) {
      old.delete(k);
    } else {
      row = document.createElement("tr");
      row.dataset.key = k;
    }
    draw(row, item);
    if (tbody.rows[at] !== row) tbody.insertBefore(row, tbody.rows[at] || null);
    at += 1;
  }
  for (const row of old.values()) row.remove();
}

function drawDevices(devices) {
  syncRows($("devices").tBodies[0], devices, (d) => d.device, (row, d) => {
    const [state, q] = deviceState(d);
    row.dataset.device = d.device;
    row.dataset.state = state;
    row.className = `q-${q}`;
    fillRow(row, [
      ["Device", d.device, "name"],
      ["State", state, "state"],
      ["Last error", d.last_error || "–", d.last_error ? "error" : ""],
      ["Poll", d.poll, "num"],
      ["Last cycle", `${d.poll_duration_ms.toFixed(1)} ms`, "num"],
      ["Requests / cycle", String(d.requests_per_cycle), "num"],
      ["Cycles", String(d.cycles), "num"],
      ["Overruns", String(d.overruns), "num"],
      ["Timeouts", String(d.requests.timeout), "num"],
      ["Errors", String(d.requests.error), "num"],
      ["Exceptions", String(d.requests.exception), "num"],
    ]);
  });
  const select = filters.device;
  const names = devices.map((d) => d.device);
  const have = Array.from(select.options).slice(1).map((o) => o.value);
  if (names.join("\n") !== have.join("\n")) {
    const chosen = select.value;
    select.length = 1;
    for (const name of names) select.add(new Option(name, name));
    select.value = names.includes(chosen) ? chosen : "";
  }
}

function drawBuses(buses) {
  syncRows($("buses").tBodies[0], buses, (b) => b.bus, (row, b) => {
    const percent = b.load * 100;
    row.dataset.bus = b.bus;
    row.className = percent > 100 ? "q-bad" : percent > 80 ? "q-uncertain" : "";
    fillRow(row, [
      ["Bus", b.bus, "name"],
      ["Devices", b.devices.join(", "), ""],
      ["Load", `${percent.toFixed(1)} %`, "num load"],
    ]);
    row.cells[2].style.setProperty("--load", `${Math.min(percent, 100)}%`);
  });
}

function drawTags(tags, total) {
  syncRows($("tags").tBodies[0], tags, (t) => JSON.stringify([t.device, t.tag]), (row, t) => {
    row.dataset.device = t.device;
    row.dataset.tag = t.tag;
    row.dataset.quality = t.quality;
    row.className = `q-${t.quality}`;
    fillRow(row, [
      ["Device", t.device, "name"],
      ["Tag", t.tag, "name"],
      ["Value", formatValue(t), "num value"],
      ["Quality", formatQuality(t), "quality"],
      ["Age", formatAge(t.age_seconds), "num"],
      ["Source timestamp", t.source_timestamp || "–", "time"],
    ]);
    row.title = t.description || "";
  });
  $("tags-shown").textContent = total > tags.length
    ? `Showing ${tags.length} of ${total} matching tags: narrow the filters to see the rest.`
    : `${total} matching ${total === 1 ? "tag" : "tags"}.`;
}

function drawSummary(devices, counts) {
  const polled = devices.filter((d) => d.polled);
  const up = polled.filter((d) => d.connected).length;
  $("sum-devices").textContent = `${up} / ${polled.length}`;
  $("sum-good").textContent = String(counts.good);
  $("sum-uncertain").textContent = String(counts.uncertain);
  $("sum-bad").textContent = String(counts.bad);
}

// --- filters in the address, so a filtered view can be bookmarked or shared --

function readAddress() {
  const q = new URLSearchParams(location.hash.slice(1));
  for (const [name, el] of Object.entries(filters)) {
    const v = q.get(name) || "";
    if (el.tagName === "SELECT" && v && !Array.from(el.options).some((o) => o.value === v)) {
      el.add(new Option(v, v));
    }
    el.value = v;
  }
}

function writeAddress() {
  const q = new URLSearchParams();
  for (const [name, el] of Object.entries(filters)) {
    if (el.value) q.set(name, el.value);
  }
  history.replaceState(null, "", q.toString() ? `#${q}` : location.pathname);
}

function onFilter() {
  writeAddress();
  refresh().then(schedule);
}

$("filters").addEventListener("submit", (e) => e.preventDefault());
filters.device.addEventListener("change", onFilter);
filters.quality.addEventListener("change", onFilter);
filters.search.addEventListener("input", onFilter);
window.addEventListener("hashchange", () => {
  readAddress();
  refresh().then(schedule);
});
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) refresh().then(schedule);
});

readAddress();
refresh().then(schedule);
