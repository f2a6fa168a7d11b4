// A small client of Herald's jobs API (see the README's "Job progress"),
// with Node's built-in fetch.

import { hub, token } from './config.js';

// HeraldError is a refusal of the hub (status is its HTTP status, reason
// its one-line explanation), or status 0 when the hub could not be reached.
export class HeraldError extends Error {
  constructor(status, reason) {
    super(status ? `hub answered ${status}: ${reason}` : reason);
    this.status = status;
    this.reason = reason;
  }
}

async function post(path, body) {
  let response;
  try {
    response = await fetch(hub + path, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    throw new HeraldError(0, `cannot reach the hub at ${hub}: ${err.message}`);
  }
  const text = await response.text();
  if (!response.ok) {
    throw new HeraldError(response.status, text.trim());
  }
  return {
    body: JSON.parse(text),
    cancelRequested: response.headers.get('Herald-Cancel-Requested') === 'true',
  };
}

// createJob creates a running job from a spec ({id, title, stages, total, …}).
export const createJob = spec => post('/api/jobs', spec);

// reportProgress reports {stage, done, total, message} of job id.
export const reportProgress = (id, report) => post(`/api/jobs/${encodeURIComponent(id)}/progress`, report);

// appendLog appends lines to job id's log.
export const appendLog = (id, lines) => post(`/api/jobs/${encodeURIComponent(id)}/log`, { lines });

// finishJob ends job id: {state: 'succeeded', result} or {state: 'failed', error}.
export const finishJob = (id, outcome) => post(`/api/jobs/${encodeURIComponent(id)}/finish`, outcome);
