// herald.js — follow a Herald job (or any topic) from a browser page.
//
//   import { watchJob, describe } from "/herald.js";
//   const w = watchJob(location.origin, "my-job", {
//     onSnapshot: (s) => status.textContent = describe(s),
//     onConnection: (open) => banner.hidden = open,
//   });
//
// or, with no code at all:
//
//   <script type="module" src="/herald.js"></script>
//   <herald-progress job="my-job"></herald-progress>
//
// EventSource reconnects on its own and sends Last-Event-ID, so nothing is
// missed; snapshots carry a seq, and stale or repeated ones are dropped.

/** Open an EventSource on topic at hubURL and call back with events. */
export function watch(hubURL, topic, callbacks = {}) {
  const url = new URL("/.well-known/mercure", hubURL || location.origin);
  url.searchParams.append("topic", topic);
  const es = new EventSource(url, { withCredentials: !!callbacks.withCredentials });
  const lastSeq = new Map();
  const onJobEvent = (e) => {
    let s;
    try {
      s = JSON.parse(e.data);
    } catch {
      return;
    }
    if (!s || !s.id) return;
    if ((lastSeq.get(s.id) ?? -1) >= s.seq) return; // stale or repeated
    lastSeq.set(s.id, s.seq);
    callbacks.onSnapshot?.(s, e.type);
  };
  for (const type of ["progress", "done", "failed", "cancelled"]) {
    es.addEventListener(type, onJobEvent);
  }
  es.onmessage = (e) => callbacks.onMessage?.(e);
  es.onopen = () => callbacks.onConnection?.(true);
  es.onerror = () => callbacks.onConnection?.(false);
  return { close: () => es.close(), source: es };
}

/** Follow the job with the given id. */
export function watchJob(hubURL, jobId, callbacks) {
  return watch(hubURL, "jobs/" + jobId, callbacks);
}

/** A human line for a snapshot: "filtering: 42% — about 3 s left". */
export function describe(s) {
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
  if (s.eta != null) line += ` — about ${formatSeconds(s.eta)} left`;
  else line += " — estimating…";
  return line;
}

function formatSeconds(sec) {
  if (sec < 1) return "1 s";
  if (sec < 90) return `${Math.round(sec)} s`;
  if (sec < 5400) return `${Math.round(sec / 60)} min`;
  return `${Math.round(sec / 3600)} h`;
}

/** <herald-progress job="id" [hub="https://…"] [topic="…"]> */
class HeraldProgress extends HTMLElement {
  connectedCallback() {
    this.innerHTML = `
      <div part="title" class="hp-title"></div>
      <div part="stage" class="hp-stage">connecting…</div>
      <progress part="bar" class="hp-bar" max="100"></progress>
      <span part="percent" class="hp-percent"></span>
      <span part="eta" class="hp-eta"></span>
      <div part="connection" class="hp-connection" hidden>connection lost — reconnecting…</div>`;
    const $ = (c) => this.querySelector(c);
    const topic = this.getAttribute("topic") || "jobs/" + this.getAttribute("job");
    this.watcher = watch(this.getAttribute("hub") || location.origin, topic, {
      onConnection: (open) => {
        $(".hp-connection").hidden = open;
        this.toggleAttribute("disconnected", !open);
      },
      onSnapshot: (s) => {
        this.snapshot = s;
        this.setAttribute("state", s.state);
        $(".hp-title").textContent = s.title || s.id;
        $(".hp-stage").textContent = s.state === "running" || s.state === "stalled" ? (s.stage || "working") + (s.state === "stalled" ? " (stalled)" : "") : describe(s);
        if (s.percent != null) {
          $(".hp-bar").value = s.percent;
          $(".hp-percent").textContent = `${Math.floor(s.percent)}%`;
        } else {
          $(".hp-bar").removeAttribute("value");
          $(".hp-percent").textContent = "";
        }
        $(".hp-eta").textContent = s.eta != null && !["succeeded", "failed", "cancelled"].includes(s.state) ? `about ${formatSeconds(s.eta)} left` : "";
        this.dispatchEvent(new CustomEvent("herald-progress", { detail: s }));
      },
    });
  }
  disconnectedCallback() {
    this.watcher?.close();
  }
}

if (typeof customElements !== "undefined" && !customElements.get("herald-progress")) {
  customElements.define("herald-progress", HeraldProgress);
}
