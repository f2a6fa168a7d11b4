import { subscribe, describe, followLog } from "/herald.js";

const $ = (id) => document.getElementById(id);
const status = $("status");
const connection = $("connection");
const result = $("result");
const bar = $("bar");
const cancel = $("cancel");
const logBox = $("log");
const stagesBox = $("stages");
const FINAL = new Set(["succeeded", "failed", "cancelled"]);
const jobs = new Map(); // id → latest snapshot
let drawn = ""; // the id of the query whose result is drawn
let received = 0; // when the latest snapshot arrived (performance.now())
let down = null; // when the stream broke (performance.now()), null while it is up
let refusal = null; // the last click's error, shown until the next click
let log = null; // { id, follower }: the log lines shown, the latest query's

function latest() {
  let best;
  for (const s of jobs.values()) {
    if (!best || Date.parse(s.created) > Date.parse(best.created)) best = s;
  }
  return best;
}

/** The status line for the latest query s. */
function line(s) {
  if (refusal) return refusal;
  if (!s || s.state === "succeeded") return "idle";
  if (s.state === "failed") return "idle (the last query failed: " + (s.error || "unknown error") + ")";
  if (s.state === "cancelled") return "idle (the last query was " + (s.error || "cancelled") + ")";
  // The ETA counts down between events, but not while the page is cut off
  // from the hub: it would count down a job the page can no longer see.
  const now = down ?? performance.now();
  const eta = s.eta == null ? null : Math.max(s.eta - (now - received) / 1000, 0);
  const text = describe(s, eta);
  return text === "starting…" ? "starting data query…" : text;
}

function render() {
  const s = latest();
  status.textContent = line(s);
  document.body.dataset.state = s ? s.state : "none";
  const running = s && (s.state === "running" || s.state === "stalled");
  bar.hidden = !running;
  if (running && s.percent != null) bar.value = s.percent;
  cancel.hidden = !running || !!s.cancelRequested;
  renderStages(s);
  if (s) follow(s.id);
  // Only the latest query's result is shown: a cancelled or failed one
  // leaves none, rather than the one before it.
  if (s && s.id !== drawn) {
    drawn = "";
    result.replaceChildren();
    if (s.state === "succeeded" && s.result) {
      drawn = s.id;
      draw(s.result);
    }
  }
}

/** Show the log lines of query id under the status line. */
function follow(id) {
  if (log?.id === id) return;
  log?.follower.close();
  log = { id, follower: followLog(location.origin, id, logBox, 20) };
}

/** List the query's stages: each done, running (with its percent) or not yet. */
function renderStages(s) {
  const stages = s?.stages || [];
  stagesBox.hidden = stages.length === 0;
  const at = stages.findIndex((st) => st.name === s.stage);
  stagesBox.replaceChildren(
    ...stages.map((st, i) => {
      let state = "waiting";
      if (s.state === "succeeded" || i < at) state = "done";
      else if (i === at) state = FINAL.has(s.state) || s.state === "stalled" ? s.state : "running";
      else if (FINAL.has(s.state)) state = "not run";
      const li = document.createElement("li");
      li.dataset.stage = st.name;
      li.dataset.state = state;
      const pct = i === at && s.total > 0 && state !== "done" ? ` ${Math.floor((100 * s.done) / s.total)}%` : "";
      li.textContent = `${st.name}: ${state}${pct}`;
      return li;
    }),
  );
}

subscribe(location.origin, { topic: "jobs/demo-{n}" }, {
  onSnapshot: (s) => {
    if (!jobs.has(s.id) && !FINAL.has(s.state)) refusal = null; // a new query: its status, not the old error
    jobs.set(s.id, s);
    received = performance.now();
    render();
  },
  onConnection: (open) => {
    connection.hidden = open;
    down = open ? null : (down ?? performance.now());
    render();
  },
});

setInterval(render, 1000);

/** POST body to the demo's path; on a refusal, show it until the next click. */
async function ask(path, body) {
  const resp = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!resp.ok) {
    refusal = "error: " + (await resp.text()).trim();
    render();
  }
}

$("update").addEventListener("click", () => {
  refusal = null;
  render();
  const box = {};
  for (const k of ["minLat", "maxLat", "minLon", "maxLon"]) {
    box[k] = parseFloat($(k).value);
  }
  ask("/api/demo/query", box);
});

cancel.addEventListener("click", () => {
  refusal = null;
  const s = latest();
  if (s) ask("/api/demo/cancel", { job: s.id });
});

const colors = ["#d62728", "#2ca02c", "#1f77b4", "#ff7f0e", "#9467bd"];

/** Ticks: n + 1 evenly spaced values from lo to hi. */
function ticks(lo, hi, n) {
  return Array.from({ length: n + 1 }, (_, i) => lo + ((hi - lo) * i) / n);
}

function draw(r) {
  const w = 520, h = 360, b = r.bbox;
  const left = 50, top = 10, bottom = 40, legendW = 110;
  const x = (lon) => left + ((lon - b.minLon) / (b.maxLon - b.minLon || 1)) * w;
  const y = (lat) => top + h - ((lat - b.minLat) / (b.maxLat - b.minLat || 1)) * h;
  const dots = r.points
    .map(([lat, lon, c]) => `<circle cx="${x(lon).toFixed(1)}" cy="${y(lat).toFixed(1)}" r="2" fill="${colors[c] || "#555"}"/>`)
    .join("");
  const xTicks = ticks(b.minLon, b.maxLon, 4)
    .map((v) => `<line class="tick" x1="${x(v)}" x2="${x(v)}" y1="${top + h}" y2="${top + h + 5}"/>` +
      `<text x="${x(v)}" y="${top + h + 17}" text-anchor="middle">${+v.toFixed(1)}</text>`)
    .join("");
  const yTicks = ticks(b.minLat, b.maxLat, 4)
    .map((v) => `<line class="tick" x1="${left - 5}" x2="${left}" y1="${y(v)}" y2="${y(v)}"/>` +
      `<text x="${left - 8}" y="${y(v) + 4}" text-anchor="end">${+v.toFixed(1)}</text>`)
    .join("");
  const axes = `<g class="axis x-axis"><line class="tick" x1="${left}" x2="${left + w}" y1="${top + h}" y2="${top + h}"/>${xTicks}
      <text class="label" x="${left + w / 2}" y="${top + h + 34}" text-anchor="middle">longitude</text></g>
    <g class="axis y-axis"><line class="tick" x1="${left}" x2="${left}" y1="${top}" y2="${top + h}"/>${yTicks}
      <text class="label" transform="translate(12 ${top + h / 2}) rotate(-90)" text-anchor="middle">latitude</text></g>`;
  const legend = r.categories
    .map((c, i) => `<g class="entry" transform="translate(${left + w + 15} ${top + 10 + i * 20})">` +
      `<rect width="10" height="10" fill="${colors[i]}"/><text x="16" y="10">${c.category}</text></g>`)
    .join("");
  const rows = r.categories
    .map((c, i) => `<tr><th style="color:${colors[i]}">${c.category}</th><td>${c.count}</td><td>${c.average}</td></tr>`)
    .join("");
  const W = left + w + legendW, H = top + h + bottom;
  result.innerHTML = `
    <p id="matched">${r.matched} places in the box</p>
    <svg id="scatter" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">${axes}<g class="legend">${legend}</g>${dots}</svg>
    <table id="categories"><tr><th>category</th><th>places</th><th>average value</th></tr>${rows}</table>`;
}
