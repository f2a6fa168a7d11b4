// Package jobhook sends jobs' completion webhooks: when a job with a
// callback URL ends, its final snapshot is POSTed there through package
// internal/outbound (signed, retried with backoff until acknowledged or a
// deadline, allowlisted hosts only).
//
// Delivery is at least once, from the durable log: the job's final event
// is in the log before the webhook starts, and a successful delivery is
// recorded there too, as a private update on RecordPrefix+id. A node that
// starts replays the log and delivers every ended job with a callback and
// no delivery record, so a crash between a job's end and its webhook
// delays the webhook and loses nothing. The node that ends a job delivers
// its webhook; on a log shared by several nodes, a node that restarts also
// delivers the pending webhooks of the others, which may then arrive
// twice.
package jobhook
