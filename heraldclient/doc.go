// Package heraldclient is a typed Go client for a Herald hub: it publishes
// updates to the Mercure endpoint and drives the jobs API, so that a Go
// program (and the herald command) never builds those requests by hand.
//
// A Client holds the hub's address and a publisher token:
//
//	c, err := heraldclient.New("http://127.0.0.1:8080", token)
//	id, err := c.Publish(ctx, heraldclient.Update{Topics: []string{"orders/1"}, Data: `{"status":"shipped"}`})
//
// and its Jobs report a job's life from the worker that runs it:
//
//	j := c.Jobs()
//	snap, err := j.Create(ctx, jobs.Spec{ID: "import-7", Total: 100})
//	snap, err = j.Progress(ctx, "import-7", jobs.Report{Done: 40})
//	if errors.Is(err, jobs.ErrCancelRequested) { … stop, then Finish as cancelled }
//	snap, err = j.Finish(ctx, "import-7", jobs.Outcome{State: jobs.Succeeded})
//
// Watch follows a job's snapshots over server-sent events (with package
// client, reconnecting as a browser does) until the job ends.
//
// A refusal is an *Error carrying the HTTP status and the hub's one-line
// reason; a hub that cannot be reached is an error that says so.
package heraldclient
