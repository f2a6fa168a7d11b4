import { subscribe, describe } from "/herald.js";

const status = document.getElementById("status");
const connection = document.getElementById("connection");
const result = document.getElementById("result");
const bar = document.getElementById("bar");
const jobs = new Map(); // id → latest snapshot
let drawn = "";
let received = 0; // when the latest snapshot arrived (performance.now())

function latest() {
  let best;
  for (const s of jobs.values()) {
    if (!best || Date.parse(s.created) > Date.parse(best.created)) best = s;
  }
  return best;
}

function render() {
  const s = latest();
  if (!s || s.state === "succeeded" || s.state === "cancelled") {
    status.textContent = "idle";
  } else if (s.state === "failed") {
    status.textContent = "idle (the last query failed: " + (s.error || "unknown error") + ")";
  } else {
    // The ETA counts down between events.
    const eta = s.eta == null ? null : Math.max(s.eta - (performance.now() - received) / 1000, 0);
    const line = describe(s, eta);
    status.textContent = line === "starting…" ? "starting data query…" : line;
  }
  document.body.dataset.state = s ? s.state : "none";
  const running = s && (s.state === "running" || s.state === "stalled");
  bar.hidden = !running;
  if (running && s.percent != null) bar.value = s.percent;
  if (s && s.state === "succeeded" && s.result && drawn !== s.id) {
    drawn = s.id;
    draw(s.result);
  }
}

subscribe(location.origin, { topic: "jobs/demo-{n}" }, {
  onSnapshot: (s) => {
    jobs.set(s.id, s);
    received = performance.now();
    render();
  },
  onConnection: (open) => {
    connection.hidden = open;
  },
});

setInterval(render, 1000);

document.getElementById("update").addEventListener("click", async () => {
  const box = {};
  for (const k of ["minLat", "maxLat", "minLon", "maxLon"]) {
    box[k] = parseFloat(document.getElementById(k).value);
  }
  const resp = await fetch("/api/demo/query", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(box),
  });
  if (!resp.ok) {
    status.textContent = "error: " + (await resp.text()).trim();
  }
});

const colors = ["#d62728", "#2ca02c", "#1f77b4", "#ff7f0e", "#9467bd"];

function draw(r) {
  const w = 520, h = 360, b = r.bbox;
  const x = (lon) => ((lon - b.minLon) / (b.maxLon - b.minLon || 1)) * w;
  const y = (lat) => h - ((lat - b.minLat) / (b.maxLat - b.minLat || 1)) * h;
  const dots = r.points
    .map(([lat, lon, c]) => `<circle cx="${x(lon).toFixed(1)}" cy="${y(lat).toFixed(1)}" r="2" fill="${colors[c] || "#555"}"/>`)
    .join("");
  const rows = r.categories
    .map((c, i) => `<tr><th style="color:${colors[i]}">${c.category}</th><td>${c.count}</td><td>${c.average}</td></tr>`)
    .join("");
  result.innerHTML = `
    <p id="matched">${r.matched} places in the box</p>
    <svg id="scatter" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">${dots}</svg>
    <table id="categories"><tr><th>category</th><th>places</th><th>average value</th></tr>${rows}</table>`;
}
