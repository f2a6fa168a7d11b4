// Turns a BullMQ queue's events into Herald job reports, so that every page
// watching a job (<herald-progress job="bullmq-<queue>-<id>">) shows its
// stage, percent, ETA and log while a worker runs it.
//
//   HERALD_TOKEN=… node bridge.js        (settings: see config.js)
//
//   'active'    → POST /api/jobs (title and stages from the job's data.herald)
//   'progress'  → POST /api/jobs/{id}/progress: an object {stage, done,
//                 total, message} as it is, a number as done of 100
//   'completed' → POST /api/jobs/{id}/finish, succeeded with the return value
//   'failed'    → POST /api/jobs/{id}/finish, failed with the reason
//
// Lines the job logged (job.log) are posted to /api/jobs/{id}/log before
// each report: those logged before it, when the report says how many
// (`logged`, as worker.js's do), or else every line so far. BullMQ has no
// event for a log line, so the lines are read from the job's log in Redis.
// Each job's events are handled one at a time, in order.

import { Queue, QueueEvents } from 'bullmq';
import IORedis from 'ioredis';
import { bullmq, heraldJobID, queueName, redisURL, token } from './config.js';
import { HeraldError, appendLog, createJob, finishJob, reportProgress } from './herald.js';

if (!token) {
  console.error('bridge.js: no token: set HERALD_TOKEN to a publisher token for jobs/{id}');
  process.exit(2);
}

const queue = new Queue(queueName, bullmq);

// Follow the events from the last one already in the stream: none written
// after this point is missed, none before it is replayed.
const redis = new IORedis(redisURL);
const [last] = await redis.xrevrange(queue.keys.events, '+', '-', 'COUNT', 1);
redis.disconnect();
const events = new QueueEvents(queueName, { ...bullmq, lastEventId: last ? last[0] : '0-0' });

// jobs holds, for each BullMQ job being bridged, the tail of its chain of
// handlers and how many of its log lines were posted.
const jobs = new Map();

// handle runs fn(state) after the job's earlier handlers; final forgets the job.
function handle(jobId, fn, final = false) {
  let state = jobs.get(jobId);
  if (!state) {
    state = { id: heraldJobID(jobId), logged: 0, created: false, tail: Promise.resolve() };
    jobs.set(jobId, state);
  }
  state.tail = state.tail
    .then(() => fn(state))
    .catch(err => console.error(`bridge.js: job ${jobId}: ${err.message}`))
    .finally(() => final && jobs.get(jobId) === state && jobs.delete(jobId));
}

// start creates the Herald job, once; an existing one (a restarted bridge's)
// is kept, though the lines it already had are then posted again.
async function start(jobId, state) {
  if (state.created) return;
  state.created = true;
  const job = await queue.getJob(jobId);
  const herald = job?.data?.herald ?? {};
  try {
    await createJob({ id: state.id, title: herald.title || job?.name, stages: herald.stages });
  } catch (err) {
    if (!(err instanceof HeraldError && err.status === 409)) throw err;
  }
}

// forwardLogs posts the lines the job logged since the last call, up to
// line upTo (all of them if undefined).
async function forwardLogs(jobId, state, upTo) {
  if (upTo !== undefined && upTo <= state.logged) return;
  const { logs } = await queue.getJobLogs(jobId, state.logged, upTo === undefined ? -1 : upTo - 1);
  if (logs.length > 0) {
    await appendLog(state.id, logs);
    state.logged += logs.length;
  }
}

// report is the Herald report of BullMQ progress data, or null.
function report(data) {
  if (typeof data === 'number') return { done: data, total: 100 };
  if (data && typeof data === 'object' && typeof data.done === 'number') {
    const { stage, done, total, message } = data;
    return { stage, done, total, message };
  }
  return null; // something Herald cannot show as progress
}

events.on('active', ({ jobId }) => handle(jobId, state => start(jobId, state)));
events.on('progress', ({ jobId, data }) =>
  handle(jobId, async state => {
    await start(jobId, state);
    await forwardLogs(jobId, state, Number.isInteger(data?.logged) ? data.logged : undefined);
    const r = report(data);
    if (r) await reportProgress(state.id, r);
  }),
);
events.on('completed', ({ jobId, returnvalue }) =>
  handle(jobId, async state => {
    await start(jobId, state);
    await forwardLogs(jobId, state);
    await finishJob(state.id, { state: 'succeeded', result: returnvalue ?? undefined });
  }, true),
);
events.on('failed', ({ jobId, failedReason }) =>
  handle(jobId, async state => {
    await start(jobId, state);
    await forwardLogs(jobId, state);
    await finishJob(state.id, { state: 'failed', error: String(failedReason || 'failed').slice(0, 1024) });
  }, true),
);
events.on('error', err => console.error('bridge.js:', err.message));

async function stop() {
  await events.close();
  await queue.close();
  process.exit(0);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

await events.waitUntilReady();
console.log(`bridge ready on ${queueName}`);
