// Adds one job to the queue, prints the Herald job to watch, waits for the
// job to end and prints how it ended.
//
//   node producer.js [--id ID] [--rows N] [--delay MS] [--fail-at ROW] [--timeout S]
//
// The Herald job is bullmq-<queue>-<id> (see config.js): a page can watch it
// (<herald-progress job="…">, or `herald job watch`) before it starts.

import { parseArgs } from 'node:util';
import { Queue, QueueEvents } from 'bullmq';
import { bullmq, heraldJobID, queueName } from './config.js';

const { values: args } = parseArgs({
  options: {
    id: { type: 'string' },
    rows: { type: 'string', default: '100' },
    delay: { type: 'string', default: '10' },
    'fail-at': { type: 'string', default: '0' },
    timeout: { type: 'string', default: '60' },
  },
});

const queue = new Queue(queueName, bullmq);
const events = new QueueEvents(queueName, bullmq);
let code = 0;
try {
  await events.waitUntilReady();
  const data = {
    rows: Number(args.rows),
    delay: Number(args.delay),
    failAt: Number(args['fail-at']),
    // What the bridge creates the Herald job with.
    herald: { title: `Import ${args.rows} rows`, stages: [{ name: 'reading', weight: 1 }, { name: 'saving', weight: 3 }] },
  };
  const job = await queue.add('import', data, { jobId: args.id, attempts: 1, removeOnComplete: 100, removeOnFail: 100 });
  console.log(heraldJobID(job.id));
  try {
    const result = await job.waitUntilFinished(events, Number(args.timeout) * 1000);
    console.log('succeeded', JSON.stringify(result));
  } catch (err) {
    console.log('failed', err.message);
    code = 1;
  }
} catch (err) {
  console.error('producer.js:', err.message);
  code = 2;
} finally {
  await events.close();
  await queue.close();
}
process.exit(code);
