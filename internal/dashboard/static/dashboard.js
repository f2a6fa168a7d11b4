// Herald's dashboard: reads /dashboard/stream with fetch (EventSource
// cannot send the Authorization header) and draws what it sends.
const KEY = "herald-dashboard-token";
const HISTORY = 3600;
const $ = (id) => document.getElementById(id);

let controller = null;
let retryTimer = 0;
let history = [];
let topic = "";

function status(text, state) {
  $("status").textContent = text;
  document.body.dataset.state = state;
}

function connect() {
  clearTimeout(retryTimer);
  if (controller) controller.abort();
  const token = sessionStorage.getItem(KEY);
  if (!token) {
    status("Enter a publisher token to see this node's numbers.", "idle");
    return;
  }
  controller = new AbortController();
  read(token, controller.signal);
}

async function read(token, signal) {
  const url = "/dashboard/stream" + (topic ? "?topic=" + encodeURIComponent(topic) : "");
  let resp;
  try {
    resp = await fetch(url, { headers: { Authorization: "Bearer " + token }, signal, cache: "no-store" });
  } catch {
    if (!signal.aborted) retry(signal);
    return;
  }
  if (!resp.ok) {
    status(resp.status + ": " + (await resp.text()).trim(), "error");
    if (resp.status >= 500) retry(signal);
    return;
  }
  status("Live: a snapshot every second.", "live");
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      for (let i; (i = buf.indexOf("\n\n")) >= 0; ) {
        const data = buf.slice(0, i).split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
        buf = buf.slice(i + 2);
        if (data) render(JSON.parse(data));
      }
    }
  } catch {
    if (signal.aborted) return;
  }
  if (!signal.aborted) retry(signal);
}

function retry(signal) {
  status("Disconnected; reconnecting…", "error");
  retryTimer = setTimeout(() => { if (!signal.aborted) connect(); }, 2000);
}

// show sets an output's text and, in data-value, the raw number.
function show(id, value, text) {
  const el = $(id);
  el.dataset.value = value === null ? "" : String(value);
  el.textContent = text;
}

const count = (v) => String(Math.round(v));
const perSecond = (v) => v.toFixed(1);
const ms = (v) => (v === null ? "–" : (v * 1000).toFixed(2) + " ms");

function render(s) {
  $("node").textContent = "node " + s.node;
  show("subscribers", s.subscribers, count(s.subscribers));
  show("updates-total", s.updatesTotal, count(s.updatesTotal));
  show("updates-rate", s.updatesPerSecond, perSecond(s.updatesPerSecond));
  show("deliveries-total", s.deliveriesTotal, count(s.deliveriesTotal));
  show("deliveries-rate", s.deliveriesPerSecond, perSecond(s.deliveriesPerSecond));
  show("slow", s.slowDisconnects, count(s.slowDisconnects));
  show("replays", s.replays, count(s.replays));
  show("push-active", s.pushActive, count(s.pushActive));
  show("push-paused", s.pushPaused, count(s.pushPaused));
  show("append-p50", s.appendP50, ms(s.appendP50));
  show("append-p99", s.appendP99, ms(s.appendP99));
  show("jobs-running", s.jobs.running, count(s.jobs.running));
  show("jobs-stalled", s.jobs.stalled, count(s.jobs.stalled));
  show("jobs-failed", s.jobs.failed, count(s.jobs.failed));
  if (s.history) history = s.history;
  else history.push(s.sample);
  if (history.length > HISTORY) history.splice(0, history.length - HISTORY);
  chart($("chart-subscribers"), [[1, "#1f8f5f"]]);
  chart($("chart-rates"), [[2, "#2d6cdf"], [3, "#e07a1f"]]);
  rows("nodes", s.nodes, (n) => [n.node, count(n.subscribers), perSecond(n.updatesPerSecond), perSecond(n.deliveriesPerSecond), n.self ? "now" : n.age.toFixed(0) + " s ago"], (tr, n) => {
    tr.classList.toggle("self", n.self);
    tr.dataset.node = n.node;
  });
  rows("topics", s.topics, (t) => [t.topic, count(t.count)], (tr, t) => { tr.dataset.topic = t.topic; });
  rows("jobs", s.jobs.list, (j) => [j.title ? j.title + " (" + j.id + ")" : j.id, j.state, "", [j.stage, j.message].filter(Boolean).join(": ")], (tr, j) => {
    tr.dataset.job = j.id;
    const bar = document.createElement("progress");
    bar.max = 100;
    if (j.percent !== null) bar.value = j.percent;
    tr.cells[2].append(bar, j.percent === null ? "" : " " + j.percent.toFixed(0) + "%");
  });
  if (Array.isArray(s.recent)) recent(s.recent);
}

// rows replaces the body of table id with one row per item.
function rows(id, items, cells, decorate) {
  const body = $(id).tBodies[0];
  body.replaceChildren(...items.map((item) => {
    const tr = document.createElement("tr");
    for (const text of cells(item)) {
      const td = tr.insertCell();
      td.textContent = text;
    }
    decorate(tr, item);
    return tr;
  }));
}

function recent(updates) {
  $("recent").replaceChildren(...updates.map((u) => {
    const li = document.createElement("li");
    li.classList.toggle("private", !!u.private);
    li.textContent = `${new Date(u.time).toLocaleTimeString()} ${u.id} [${u.topics.join(", ")}]${u.private ? " private" : ""}${u.type ? " " + u.type : ""}: ${u.data}`;
    return li;
  }));
}

// chart draws columns of history (their index in a sample, their colour)
// as lines over the samples' time span, on a zero-based scale.
function chart(canvas, series) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
  if (canvas.width !== w * dpr) { canvas.width = w * dpr; canvas.height = h * dpr; }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const pad = { l: 48, r: 8, t: 8, b: 18 };
  let top = 1;
  for (const s of history) for (const [i] of series) top = Math.max(top, s[i]);
  top = niceCeil(top);
  const t1 = history.length ? history[history.length - 1][0] : Date.now();
  const t0 = t1 - HISTORY * 1000;
  const x = (t) => pad.l + ((t - t0) / (t1 - t0)) * (w - pad.l - pad.r);
  const y = (v) => h - pad.b - (v / top) * (h - pad.t - pad.b);
  g.strokeStyle = "#dde1e6";
  g.fillStyle = "#667";
  g.font = "11px system-ui, sans-serif";
  g.lineWidth = 1;
  for (const v of [0, top / 2, top]) {
    g.beginPath(); g.moveTo(pad.l, y(v)); g.lineTo(w - pad.r, y(v)); g.stroke();
    g.fillText(String(+v.toPrecision(3)), 4, y(v) + 4);
  }
  g.fillText("−60 min", pad.l, h - 4);
  g.fillText("now", w - pad.r - 20, h - 4);
  g.lineWidth = 1.5;
  for (const [i, colour] of series) {
    g.strokeStyle = colour;
    g.beginPath();
    history.forEach((s, k) => (k ? g.lineTo(x(s[0]), y(s[i])) : g.moveTo(x(s[0]), y(s[i]))));
    g.stroke();
  }
}

function niceCeil(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  const token = $("token").value.trim();
  if (token) sessionStorage.setItem(KEY, token);
  $("token").value = "";
  connect();
});
$("logout").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  if (controller) controller.abort();
  connect();
});
$("watch").addEventListener("submit", (e) => {
  e.preventDefault();
  topic = $("topic").value.trim();
  connect();
});
connect();
