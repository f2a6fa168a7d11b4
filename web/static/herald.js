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
// EventSource reconnects on its own and sends Last-Event-ID, so nothing is
// missed; if the browser gives up (an error answer, say from a proxy while
// the hub restarts), herald.js opens a new one itself, backing off. Every
// job event carries the job's whole snapshot with a seq, and stale or
// repeated snapshots are dropped.

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

/** Follow a topic (or topic selector) by name. */
export function watch(hubURL, topic, callbacks = {}) {
  const applied = new Map(); // job id → last snapshot applied
  let es;
  let lastId = "";
  let closed = false;
  let open = null;
  let retry;
  let delay = 1000;

  const setOpen = (now) => {
    if (open === now) return;
    open = now;
    callbacks.onConnection?.(now);
  };
  const onJobEvent = (e) => {
    if (e.lastEventId) lastId = e.lastEventId;
    let s;
    try {
      s = JSON.parse(e.data);
    } catch {
      return;
    }
    if (!s || !s.id || !supersedes(s, applied.get(s.id))) return;
    applied.set(s.id, s);
    callbacks.onSnapshot?.(s, e.type);
  };
  const connect = () => {
    const url = new URL("/.well-known/mercure", hubURL || location.origin);
    url.searchParams.append("topic", topic);
    if (lastId) url.searchParams.set("lastEventID", lastId);
    es = new EventSource(url, { withCredentials: !!callbacks.withCredentials });
    for (const type of JOB_EVENTS) es.addEventListener(type, onJobEvent);
    es.onmessage = (e) => {
      if (e.lastEventId) lastId = e.lastEventId;
      callbacks.onMessage?.(e);
    };
    es.onopen = () => {
      delay = 1000;
      setOpen(true);
    };
    es.onerror = () => {
      setOpen(false);
      if (es.readyState === EventSource.CLOSED && !closed) {
        es.close();
        clearTimeout(retry);
        retry = setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      }
    };
  };
  connect();
  return {
    close() {
      closed = true;
      clearTimeout(retry);
      es.close();
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
 * fires a "herald-progress" event with each snapshot. Style it through its
 * parts (title, stage, bar, percent, eta, connection, log, children).
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
    if (s.eta == null || FINAL.has(s.state) || s.state === "stalled") {
      eta.textContent = "";
      return;
    }
    const left = s.eta - (performance.now() - this.received) / 1000;
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
