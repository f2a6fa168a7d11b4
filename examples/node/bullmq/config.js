// Settings shared by the worker, the bridge and the producer, from the
// environment:
//
//   REDIS_URL      the Redis BullMQ uses (redis://127.0.0.1:6379/12)
//   BULLMQ_QUEUE   the queue's name (herald-example)
//   BULLMQ_PREFIX  the prefix of BullMQ's keys in Redis (bull)
//   HERALD_HUB     the Herald hub (http://127.0.0.1:8080)
//   HERALD_TOKEN   a publisher token for jobs/{id} (herald token --publish 'jobs/{id}')

export const redisURL = process.env.REDIS_URL || 'redis://127.0.0.1:6379/12';
export const queueName = process.env.BULLMQ_QUEUE || 'herald-example';
export const prefix = process.env.BULLMQ_PREFIX || 'bull';
export const hub = (process.env.HERALD_HUB || 'http://127.0.0.1:8080').replace(/\/+$/, '');
export const token = process.env.HERALD_TOKEN || '';

// The options every BullMQ object of the example is made with.
export const bullmq = { connection: { url: redisURL }, prefix };

// heraldJobID is the Herald job of the BullMQ job with this id: whoever adds
// a job knows what to watch before it starts.
export function heraldJobID(jobId) {
  return `bullmq-${queueName}-${jobId}`;
}
