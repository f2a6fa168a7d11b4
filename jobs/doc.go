// Package jobs reports the progress of long-running work over a hub:
// stages, done and total, percent, rate and a smoothed ETA, and the final
// result, as typed events on the job's topic ("jobs/{id}").
//
// A job's state is a snapshot (JSON) carried by every event, so a page that
// subscribes mid-job, or reloads, shows the right state from the first
// event it receives, and any node of a cluster can answer for any job: each
// node rebuilds its snapshots from the updates it follows (Manager.Observe)
// and continues a job's estimate from the smoothing state the snapshot
// carries. Progress reports are coalesced (a few events per second at most),
// but a change of state or stage and the final event are never held back or
// dropped. A job with no progress for a while is marked stalled, and comes
// back to running with its next report; a cancellation is requested by
// anyone allowed to, and answered to the worker on its next report.
package jobs
