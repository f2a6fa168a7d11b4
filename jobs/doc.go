// Package jobs reports the progress of long-running work over a hub:
// stages with weights, done and total, percent, rate and a smoothed ETA,
// and the final result, as typed events on the job's topic ("jobs/{id}").
//
// A job is created (Manager.Create, or Start for a handle), receives
// reports (Progress), and is finished (Finish: succeeded with a JSON
// result, failed with an error, or cancelled). Every event carries the
// job's whole snapshot as JSON, with a seq that grows with each event:
//
//	progress   the job is queued, running or stalled (state says which)
//	done       it succeeded; result holds what it produced
//	failed     it failed; error says why
//	cancelled  it was cancelled
//
// so a page that subscribes mid-job, or reloads, shows the right state from
// the first event it receives (the hub sends new subscribers the current
// snapshots, from Manager.Snapshots, before live events).
//
// Reports are coalesced: at most one event per job per MinInterval, the
// latest report winning and the timer publishing the last one, but a change
// of stage, a return from stalled, a cancellation request and the final
// event are published at once. The ETA comes from an exponential moving
// average of the rate whose weight grows with the time between samples, so
// it settles instead of jumping under bursty reports; it is null (unknown)
// without a total, with too little history, or while the job is stalled.
// A running job with no report for StallAfter becomes stalled, and running
// again with its next report. A cancellation (Manager.Cancel) is answered
// to the worker's next report with ErrCancelRequested; the worker then
// finishes the job as cancelled (Finish, or Job.FinishCancelled): Cancel
// only asks. Finished jobs are kept for KeepFinished.
//
// A job has a log (Manager.Log, Job.Log): lines numbered from 1, each
// published as an event of type "log" on the job's log topic
// ("jobs/{id}/log") with the id "{id}/log/{n}", and the last
// Config.LogLines of them kept by every node, so a reader pages through
// them (Manager.Lines) or follows them from a tail and resumes after the
// last line it has (the HTTP API's log stream).
//
// A job may be a sub-job of another (Spec.Parent): the parent's snapshot
// lists its children, its percent and ETA roll up from theirs by weight,
// it finishes when they all have, as its Policy says (AllSettled, or
// FailFast: the first failure fails it and cancels the others), and
// cancelling it cancels them.
//
// A job of a kind (Spec.Kind) gets, besides the rate's ETA, a range of
// the time left (ETALow to ETAHigh: the 10th to 90th percentiles) from the
// stage durations of the kind's last successful runs, which the node that
// finishes a job publishes on HistoryTopic(kind) and every node reads back
// from the log; history older than the log's retention is forgotten.
// ETASource says whether the ETA comes from the rate, the history or both.
//
// A job created in a queue (Spec.Queue) is queued until started
// (Manager.Begin) or reported on; its snapshot shows its position, in the
// order the log holds the queue's jobs, and when it should start, from the
// queue's recent starts. The node that starts or ends a queued job
// publishes the jobs behind it with their new places.
//
// In a cluster each node runs a Manager fed with every update its hub
// follows (Manager.Observe), so any node answers for any job and continues
// its estimate from the smoothing state the snapshot carries; a node
// starting while jobs run rebuilds them from the log (Manager.Recover).
// Nodes number events independently, so two concurrent events of one job
// may share a seq: Snapshot.Supersedes settles which one a reader keeps
// (a final event wins a tie), and a cancellation request is never lost.
package jobs
