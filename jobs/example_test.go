package jobs_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/hub"
	"github.com/heraldhub/herald/jobs"
)

// A job from start to finish, reported from Go. The manager publishes
// the job's events through a hub (here on a memory log) on the topic
// "jobs/{id}", where pages and clients watch it; Get answers its current
// snapshot. Stages have weights, so the percent is of the whole job: the
// "save" stage counts three times as much as "load".
func Example() {
	log := eventlog.NewMemory(0)
	defer log.Close()
	h, err := hub.New(hub.Config{Log: log})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()
	m, err := jobs.NewManager(jobs.Config{Publisher: h})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()

	// show prints the parts of a snapshot that do not depend on time
	// (the rate and the ETA do).
	show := func(s jobs.Snapshot) {
		percent := "unknown"
		if s.Percent != nil {
			percent = fmt.Sprintf("%.1f%%", *s.Percent)
		}
		fmt.Printf("%s: state=%s stage=%s done=%g/%g percent=%s message=%q\n",
			s.ID, s.State, s.Stage, s.Done, s.Total, percent, s.Message)
	}

	ctx := context.Background()
	job, err := m.Start(ctx, jobs.Spec{
		ID:     "import-42",
		Title:  "Import",
		Stages: []jobs.Stage{{Name: "load", Weight: 1}, {Name: "save", Weight: 3}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("topic:", jobs.TopicPrefix+job.ID())
	snap, _ := m.Get(job.ID())
	show(snap)

	// Reports are cheap: call Progress for every item, the manager
	// coalesces them into a few events per second.
	for done := 10.0; done <= 100; done += 10 {
		if err := job.Progress(ctx, "load", done, 100, ""); err != nil {
			fmt.Println(err) // ErrCancelRequested: stop and finish as cancelled
			return
		}
	}
	snap, _ = m.Get(job.ID())
	show(snap)

	if err := job.Progress(ctx, "save", 250, 1000, "writing rows"); err != nil {
		fmt.Println(err)
		return
	}
	snap, _ = m.Get(job.ID())
	show(snap)

	if err := job.Succeed(ctx, map[string]int{"rows": 1000}); err != nil {
		fmt.Println(err)
		return
	}
	snap, _ = m.Get(job.ID())
	show(snap)
	fmt.Println("result:", string(snap.Result))

	// The final event is published at once, with the whole snapshot.
	log.Since(ctx, eventlog.Earliest, func(u eventlog.Update) bool {
		if u.Type != jobs.EventProgress {
			fmt.Println("event:", u.Type, "on", u.Topics[0])
		}
		return true
	})
	// Output:
	// topic: jobs/import-42
	// import-42: state=running stage=load done=0/0 percent=unknown message=""
	// import-42: state=running stage=load done=100/100 percent=25.0% message=""
	// import-42: state=running stage=save done=250/1000 percent=43.8% message="writing rows"
	// import-42: state=succeeded stage=save done=1000/1000 percent=100.0% message="writing rows"
	// result: {"rows":1000}
	// event: done on jobs/import-42
}

// Cancelling is a request: Manager.Cancel records and publishes it, the
// worker learns it from its next report (ErrCancelRequested), stops, and
// finishes the job as cancelled.
func ExampleManager_Cancel() {
	m, stop, err := startManager() // as in Example
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	ctx := context.Background()
	job, err := m.Start(ctx, jobs.Spec{ID: "export-7", Total: 500})
	if err != nil {
		fmt.Println(err)
		return
	}
	job.Progress(ctx, "", 100, 0, "")

	// Someone (a page, `herald job cancel`, POST /api/jobs/{id}/cancel) asks.
	snap, err := m.Cancel(ctx, job.ID())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("requested:", snap.CancelRequested, "state:", snap.State)

	// The worker's next report is answered with ErrCancelRequested.
	err = job.Progress(ctx, "", 120, 0, "")
	fmt.Println(errors.Is(err, jobs.ErrCancelRequested))
	snap, err = m.Finish(ctx, job.ID(), jobs.Outcome{State: jobs.Cancelled})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("state=%s done=%g/%g percent=%.0f%%\n", snap.State, snap.Done, snap.Total, *snap.Percent)
	// Output:
	// requested: true state: running
	// true
	// state=cancelled done=120/500 percent=24%
}

// A release made of two sub-jobs, each with its log. The parent's percent
// rolls up from its children by weight, and it finishes once they have.
func ExampleJob_Sub() {
	m, stop, err := startManager() // as in Example
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	ctx := context.Background()
	release, _ := m.Start(ctx, jobs.Spec{ID: "release"})
	linux, _ := release.Sub(ctx, jobs.Spec{ID: "release-linux", Weight: 3, Total: 10})
	mac, _ := release.Sub(ctx, jobs.Spec{ID: "release-mac", Total: 10})

	linux.Log(ctx, "building for linux\nlinking")
	linux.Progress(ctx, "", 10, 10, "")
	linux.Succeed(ctx, nil)
	s, _ := m.Get("release")
	fmt.Printf("%s: %s at %.0f%%, %d sub-jobs\n", s.ID, s.State, *s.Percent, len(s.Children))

	page, _ := m.Lines("release-linux", 1, 100)
	for _, l := range page.Lines {
		fmt.Printf("%s line %d: %s\n", jobs.LineID("release-linux", l.N), l.N, l.Text)
	}

	mac.Succeed(ctx, nil)
	s, _ = m.Get("release")
	fmt.Printf("%s: %s at %.0f%%\n", s.ID, s.State, *s.Percent)
	// Output:
	// release: running at 75%, 2 sub-jobs
	// release-linux/log/1 line 1: building for linux
	// release-linux/log/2 line 2: linking
	// release: succeeded at 100%
}

// startManager returns a manager publishing through a hub on a memory log,
// as Example sets it up, and the function that stops them.
func startManager() (*jobs.Manager, func(), error) {
	log := eventlog.NewMemory(0)
	h, err := hub.New(hub.Config{Log: log})
	if err != nil {
		log.Close()
		return nil, nil, err
	}
	m, err := jobs.NewManager(jobs.Config{Publisher: h})
	if err != nil {
		h.Close()
		log.Close()
		return nil, nil, err
	}
	return m, func() { m.Close(); h.Close(); log.Close() }, nil
}
