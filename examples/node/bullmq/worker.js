// A BullMQ worker whose jobs report their progress the BullMQ way:
// job.updateProgress({stage, done, total, message}) and job.log(line). It
// knows nothing of Herald: bridge.js turns those into Herald job reports.
// Each report also says how many lines the job had logged (job.log answers
// the count), so that the bridge can post each line before the report that
// followed it, however far behind the worker it is.
//
//   node worker.js            (settings: see config.js)
//
// A job's data: {rows, delay (ms a row), failAt (a row of the saving stage
// to fail on)}. It reads the rows, then saves them, and returns {rows}.

import { Worker } from 'bullmq';
import { bullmq, queueName } from './config.js';

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

async function importRows(job) {
  const { rows = 100, delay = 10, failAt = 0 } = job.data;
  let logged = 0;
  const log = async line => {
    logged = await job.log(line);
  };
  await log(`job ${job.id} started`);
  for (const stage of ['reading', 'saving']) {
    for (let row = 1; row <= rows; row++) {
      await sleep(delay); // the real work would go here
      if (stage === 'saving' && row === failAt) {
        throw new Error(`row ${row}: disk full`);
      }
      await job.updateProgress({ stage, done: row, total: rows, message: `row ${row}`, logged });
    }
    await log(`${stage}: ${rows} rows`);
  }
  return { rows };
}

const worker = new Worker(queueName, importRows, { ...bullmq, concurrency: 1 });
worker.on('error', err => console.error('worker:', err.message));

async function stop() {
  await worker.close();
  process.exit(0);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

await worker.waitUntilReady();
console.log(`worker ready on ${queueName}`);
