// herald.js — follow a Herald job (or any topic) from a browser page.
// An ES module with no dependencies and no build step.
//
//   import { subscribe, describe } from "/herald.js";
//   const sub = subscribe(location.origin, "my-job", {
//     onSnapshot: (s) => (status.textContent = describe(s)),
//     onConnection: (open) => (banner.hidden = open),
//   });
//   // later: sub.close();
//
// or, with no code at all:
//
//   <script type="module" src="/herald.js"></script>
//   <herald-progress job="my-job"></herald-progress>
//
// All the tabs of an origin that follow the same topics share one
// connection to the hub (browsers allow about six per origin over
// HTTP/1.1): one tab holds it and relays the events to the others, and
// another takes over, from the last event id, when it closes. EventSource
// reconnects on its own and sends Last-Event-ID, so nothing is missed; if
// the browser gives up (an error answer, say from a proxy while the hub
// restarts), herald.js opens a new one itself, backing off. Every job
// event carries the job's whole snapshot with a seq, and stale or repeated
// snapshots are dropped.

const JOB_EVENTS = ["progress", "done", "failed", "cancelled"];
const FINAL = new Set(["succeeded", "failed", "cancelled"]);

/** Whether snapshot s supersedes cur, the last one applied for its job. */
export function supersedes(s, cur) {
  if (!cur) return true;
  return s.seq > cur.seq || (s.seq === cur.seq && FINAL.has(s.state) && !FINAL.has(cur.state));
}

/**
 * Follow a job or a topic. what is a job id (letters, digits, "-", "_",
 * ".", "~"), a topic or topic selector (anything with "/", ":", "{" or
 * "*"), or an object { job } or { topic }. callbacks:
 *   onSnapshot(snapshot, eventType)  a job's newer state
 *   onMessage(event)                 an event of the default type
 *   onConnection(open)               the stream opened (true) or broke (false)
 *   onReset(info)                    the history a resume asked for was cut
 *   withCredentials                  send cookies to another origin
 * Returns { close() }.
 */
export function subscribe(hubURL, what, callbacks = {}) {
  let topic;
  if (typeof what === "object" && what) {
    topic = what.topic ?? "jobs/" + what.job;
  } else {
    topic = /[/:{*]/.test(what) ? what : "jobs/" + what;
  }
  return watch(hubURL, topic, callbacks);
}

/** Follow the job with the given id. */
export function watchJob(hubURL, jobId, callbacks) {
  return watch(hubURL, "jobs/" + jobId, callbacks);
}

/**
 * Follow a topic (or topic selector) by name. Besides the callbacks of
 * subscribe:
 *   onReset(info)     the hub no longer held the history this stream
 *                     resumed from ({ reason: "history-cut", lastEventID }):
 *                     what follows is all it retains, reload your state
 *   lastEventID       resume after this id rather than with live events
 * Returns { close(), source }: source is the EventSource while this tab
 * holds the browser's connection for the stream, null while another does.
 */
export function watch(hubURL, topic, callbacks = {}) {
  const applied = new Map(); // job id → last snapshot applied
  const url = new URL("/.well-known/mercure", hubURL || location.origin);
  url.searchParams.append("topic", topic);
  const onJobEvent = (type, data) => {
    let s;
    try {
      s = JSON.parse(data);
    } catch {
      return;
    }
    if (!s || !s.id || !supersedes(s, applied.get(s.id))) return;
    applied.set(s.id, s);
    callbacks.onSnapshot?.(s, type);
  };
  return share(url, [...JOB_EVENTS, "message"], {
    withCredentials: !!callbacks.withCredentials,
    lastEventID: callbacks.lastEventID,
    snapshotKey: (type, data) => (JOB_EVENTS.includes(type) ? jobId(data) : undefined),
    onEvent: (type, id, data) => {
      if (type === "message") {
        callbacks.onMessage?.(new MessageEvent("message", { data, lastEventId: id, origin: url.origin }));
      } else {
        onJobEvent(type, data);
      }
    },
    onConnection: (open) => callbacks.onConnection?.(open),
    onReset: (data) => {
      let info;
      try {
        info = JSON.parse(data);
      } catch {
        info = { reason: "history-cut" };
      }
      callbacks.onReset?.(info);
    },
  });
}

function jobId(data) {
  try {
    return JSON.parse(data)?.id;
  } catch {
    return undefined;
  }
}

// The hub's reserved event type: the history a resume asked for was cut.
const RESET = "herald-reset";

/** A set of the last max ids added, forgetting the oldest. */
class RecentIds {
  constructor(max) {
    this.max = max;
    this.ids = new Set();
  }
  has(id) {
    return this.ids.has(id);
  }
  add(id) {
    this.ids.add(id);
    if (this.ids.size > this.max) this.ids.delete(this.ids.values().next().value);
  }
}

/**
 * share follows the stream at url, for events of the given types, with one
 * EventSource per browser however many tabs follow it: the tab holding the
 * Web Lock named after the stream opens it and relays each event (type,
 * id, data) to the others over a BroadcastChannel of the same name. Every
 * tab keeps the ids it saw last, drops an event whose id it already saw,
 * and remembers the last one; when the leading tab goes, the next one
 * granted the lock opens the stream after that id, so no tab misses an
 * event or sees one twice. A tab that joins gets from the leader its
 * connection state, last id and the last event of each snapshotKey, as a
 * fresh stream's snapshots. Without Web Locks or BroadcastChannel each tab
 * opens its own EventSource.
 *
 * EventSource reconnects on its own and sends Last-Event-ID; if the browser
 * gives up (an error answer, say from a proxy while the hub restarts),
 * share opens a new one itself, after the last id seen, backing off.
 */
function share(url, types, o) {
  const name = "herald " + url + (o.withCredentials ? " with credentials" : "");
  const me = Math.random().toString(36).slice(2);
  const seen = new RecentIds(1024);
  const snapshots = new Map(); // snapshotKey → { type, id, data }, while leading
  const abort = new AbortController();
  let lastId = o.lastEventID || "";
  let es = null; // this tab's EventSource, while it leads
  let channel = null;
  let release; // ends this tab's hold of the lock
  let closed = false;
  let open = null;
  let retry;
  let delay = 1000;

  const post = (m) => channel?.postMessage(m);
  const setOpen = (now) => {
    if (open === now) return;
    open = now;
    o.onConnection(now);
  };
  const deliver = (type, id, data) => {
    if (id) {
      if (seen.has(id)) return;
      seen.add(id);
      lastId = id;
    }
    o.onEvent(type, id, data);
  };
  const received = (type, e) => {
    post({ kind: "event", type, id: e.lastEventId, data: e.data });
    const key = o.snapshotKey(type, e.data);
    if (key != null) snapshots.set(key, { type, data: e.data });
    deliver(type, e.lastEventId, e.data);
  };
  const connect = () => {
    const u = new URL(url);
    if (lastId) u.searchParams.set("lastEventID", lastId);
    es = new EventSource(u, { withCredentials: o.withCredentials });
    for (const type of types) es.addEventListener(type, (e) => received(type, e));
    es.addEventListener(RESET, (e) => {
      post({ kind: "reset", data: e.data });
      o.onReset(e.data);
    });
    es.onopen = () => {
      delay = 1000;
      setOpen(true);
      post({ kind: "open", open: true });
    };
    es.onerror = () => {
      setOpen(false);
      post({ kind: "open", open: false });
      if (es.readyState === EventSource.CLOSED && !closed) {
        es.close();
        clearTimeout(retry);
        retry = setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      }
    };
  };
  const lead = () =>
    new Promise((resolve) => {
      release = resolve;
      if (closed) resolve();
      else connect();
    });
  const heard = ({ data: m }) => {
    switch (m.kind) {
      case "event":
        deliver(m.type, m.id, m.data);
        break;
      case "reset":
        o.onReset(m.data);
        break;
      case "open":
        if (!es) setOpen(m.open);
        break;
      case "hello":
        if (es) post({ kind: "welcome", to: m.from, open, lastId, snapshots: [...snapshots.values()] });
        break;
      case "welcome":
        if (m.to !== me || es) break;
        if (!lastId) lastId = m.lastId;
        for (const s of m.snapshots) deliver(s.type, "", s.data);
        if (m.open != null) setOpen(m.open);
        break;
    }
  };

  if (typeof BroadcastChannel !== "function" || !globalThis.navigator?.locks) {
    connect();
  } else {
    channel = new BroadcastChannel(name);
    channel.onmessage = heard;
    navigator.locks.request(name, { signal: abort.signal }, lead).catch(() => {});
    post({ kind: "hello", from: me });
  }
  return {
    close() {
      closed = true;
      clearTimeout(retry);
      abort.abort();
      es?.close();
      release?.();
      channel?.close();
    },
    get source() {
      return es;
    },
  };
}

/** A human line for a snapshot: "filtering: 42% — about 3 s left". */
export function describe(s, etaNow = s && s.eta) {
  if (!s) return "idle";
  switch (s.state) {
    case "succeeded":
      return "done";
    case "failed":
      return "failed: " + (s.error || "unknown error");
    case "cancelled":
      return "cancelled";
    case "queued":
      return describeQueued(s);
  }
  const first = s.stages && s.stages.length ? s.stages[0].name : "";
  if (s.seq <= 1 || (!s.done && (!s.stage || s.stage === first))) {
    return "starting…";
  }
  let line = s.stage || "working";
  if (s.percent != null) line += `: ${Math.floor(s.percent)}%`;
  if (s.state === "stalled") return line + " — stalled";
  if (s.cancelRequested) return line + " — cancelling…";
  if (etaNow != null) line += ` — about ${formatSeconds(etaNow)} left`;
  else line += " — estimating…";
  return line;
}

/**
 * A queued job's line, since seconds after its snapshot arrived:
 * "queued: position 2, starts in ~40 s" (without the wait until the queue
 * has started a job or two).
 */
export function describeQueued(s, since = 0) {
  let line = "queued";
  if (s.queue_position != null) line += `: position ${s.queue_position}`;
  if (s.starts_in != null) {
    const left = s.starts_in - since;
    line += left > 0.5 ? `, starts in ~${formatSeconds(left)}` : ", starting any moment";
  }
  return line;
}

/** "3 s", "4 min", "2 h". */
export function formatSeconds(sec) {
  if (sec < 1.5) return "1 s";
  if (sec < 90) return `${Math.round(sec)} s`;
  if (sec < 5400) return `${Math.round(sec / 60)} min`;
  return `${Math.round(sec / 3600)} h`;
}

/**
 * <herald-progress job="id" [hub="https://…"] [topic="…"]>
 *
 * Renders the job's title, stage, a progress bar, percent and ETA (counting
 * down between events), and its final state; says "connection lost —
 * reconnecting…" while the stream is down. Under them, the job's last log
 * lines (tail="N", default 100; see followLog) and, for a parent, its
 * sub-jobs in a collapsed <details> (see renderChildren). Reflects the
 * job's state in its state attribute, sets disconnected while down, and
 * fires a "herald-progress" event with each snapshot (and "herald-reset",
 * with the hub's explanation, when the history it resumed from was cut).
 * Style it through its parts (title, stage, bar, percent, eta, connection,
 * log, children).
 */
class HeraldProgress extends HTMLElement {
  static observedAttributes = ["job", "topic", "hub"];

  connectedCallback() {
    this.innerHTML = `
      <div part="title" class="hp-title"></div>
      <div part="stage" class="hp-stage">connecting…</div>
      <progress part="bar" class="hp-bar" max="100"></progress>
      <span part="percent" class="hp-percent"></span>
      <span part="eta" class="hp-eta"></span>
      <div part="connection" class="hp-connection" hidden>connection lost — reconnecting…</div>
      <pre part="log" class="hp-log" hidden></pre>
      <details part="children" class="hp-children" hidden><summary></summary><ul></ul></details>`;
    this.start();
    this.ticker = setInterval(() => this.renderETA(), 1000);
  }

  disconnectedCallback() {
    this.watcher?.close();
    this.watcher = null;
    this.log?.close();
    this.log = null;
    clearInterval(this.ticker);
  }

  attributeChangedCallback() {
    if (this.isConnected && this.watcher) this.start();
  }

  start() {
    this.watcher?.close();
    this.log?.close();
    const $ = (c) => this.querySelector(c);
    const job = this.getAttribute("job");
    if (job && !this.hasAttribute("topic")) {
      this.log = followLog(this.getAttribute("hub") || location.origin, job, $(".hp-log"), +(this.getAttribute("tail") ?? 100));
    }
    const topic = this.getAttribute("topic") || "jobs/" + this.getAttribute("job");
    this.watcher = watch(this.getAttribute("hub") || location.origin, topic, {
      onReset: (info) => this.dispatchEvent(new CustomEvent("herald-reset", { detail: info })),
      onConnection: (open) => {
        $(".hp-connection").hidden = open;
        this.toggleAttribute("disconnected", !open);
      },
      onSnapshot: (s) => {
        this.snapshot = s;
        this.received = performance.now();
        this.setAttribute("state", s.state);
        $(".hp-title").textContent = s.title || s.id;
        $(".hp-stage").textContent = FINAL.has(s.state)
          ? describe(s)
          : s.state === "queued"
          ? describeQueued(s, 0)
          : (s.stage || "working") + (s.state === "stalled" ? " (stalled)" : s.cancelRequested ? " (cancelling…)" : "");
        if (s.percent != null) {
          $(".hp-bar").value = s.percent;
          $(".hp-percent").textContent = `${Math.floor(s.percent)}%`;
        } else {
          $(".hp-bar").removeAttribute("value");
          $(".hp-percent").textContent = "";
        }
        this.renderETA();
        renderChildren($(".hp-children"), s);
        this.dispatchEvent(new CustomEvent("herald-progress", { detail: s }));
      },
    });
  }

  /** The ETA of the last snapshot, less the time since it arrived. */
  renderETA() {
    const s = this.snapshot;
    const eta = this.querySelector(".hp-eta");
    if (!s || !eta) return;
    const since = (performance.now() - this.received) / 1000;
    if (s.state === "queued") {
      this.querySelector(".hp-stage").textContent = describeQueued(s, since);
    }
    if (s.eta == null || FINAL.has(s.state) || s.state === "stalled" || s.state === "queued") {
      eta.textContent = "";
      return;
    }
    const left = s.eta - since;
    eta.textContent = left > 0.5 ? `about ${formatSeconds(left)} left` : "any moment now";
  }
}

/**
 * Follow a job's log lines into the <pre> pre, keeping the last keep
 * lines: the hub sends the tail (?tail=keep) then each new line, numbered
 * in the event id ("{job}/log/{n}"). A stream that breaks resumes after
 * the last line shown, so no line is shown twice or missed; the stream
 * ends with the job. Returns { close() }.
 */
export function followLog(hubURL, jobId, pre, keep = 100) {
  let es;
  let last = 0; // the number of the last line shown
  let retry;
  let delay = 1000;
  let closed = false;
  pre.replaceChildren();
  const show = (text) => {
    const line = document.createElement("div");
    line.textContent = text;
    pre.append(line);
    while (pre.childElementCount > keep) pre.firstElementChild.remove();
    pre.hidden = false;
  };
  const connect = () => {
    const url = new URL(`/api/jobs/${encodeURIComponent(jobId)}/log/stream`, hubURL || location.origin);
    url.searchParams.set("tail", String(keep));
    if (last) url.searchParams.set("lastEventID", `${jobId}/log/${last}`);
    es = new EventSource(url);
    es.addEventListener("log", (e) => {
      const n = +e.lastEventId.slice(e.lastEventId.lastIndexOf("/") + 1);
      if (n <= last) return;
      last = n;
      show(e.data);
      delay = 1000;
    });
    es.addEventListener("dropped", (e) => show(e.data));
    es.addEventListener("end", () => es.close());
    es.onerror = () => {
      if (es.readyState !== EventSource.CLOSED || closed) return;
      clearTimeout(retry);
      retry = setTimeout(connect, delay); // the job may not exist yet
      delay = Math.min(delay * 2, 30000);
    };
  };
  connect();
  return {
    close() {
      closed = true;
      clearTimeout(retry);
      es.close();
    },
  };
}

/** Render a parent job's children as a collapsed list in details. */
export function renderChildren(details, s) {
  const children = s.children || [];
  details.hidden = children.length === 0;
  if (!children.length) return;
  const settled = children.filter((c) => FINAL.has(c.state)).length;
  details.querySelector("summary").textContent = `${children.length} sub-jobs, ${settled} finished`;
  details.querySelector("ul").replaceChildren(
    ...children.map((c) => {
      const li = document.createElement("li");
      li.dataset.job = c.id;
      li.textContent = `${c.id}: ${c.state}` + (c.percent != null && !FINAL.has(c.state) ? ` ${Math.floor(c.percent)}%` : "");
      return li;
    }),
  );
}

if (typeof customElements !== "undefined" && !customElements.get("herald-progress")) {
  customElements.define("herald-progress", HeraldProgress);
}
