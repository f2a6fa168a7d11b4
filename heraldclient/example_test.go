package heraldclient_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/heraldclient"
	"github.com/heraldhub/herald/jobs"
	"github.com/heraldhub/herald/node"
)

// exampleSecret is the examples' hub key; a real one comes from the hub's
// configuration.
const exampleSecret = "an example publisher secret, 32+ bytes"

// exampleHub starts a hub on loopback and returns its URL, a publisher
// token for topics, and how to stop it.
func exampleHub(topics ...string) (string, string, func()) {
	srv, err := node.New(context.Background(), node.Config{Log: "memory", PublisherKey: exampleSecret, SubscriberKey: exampleSecret, NoDemo: true})
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(srv.Handler())
	key, _ := auth.SecretKey(exampleSecret)
	token, err := key.Sign(auth.Claims{Publish: topics, Subscribe: topics})
	if err != nil {
		panic(err)
	}
	return ts.URL, token, func() { srv.Drain(); ts.Close(); srv.Close() }
}

// Publish an update with a publisher token; the hub answers its id.
func ExampleClient_Publish() {
	hubURL, token, stop := exampleHub("orders/{id}")
	defer stop()

	c, err := heraldclient.New(hubURL, token)
	if err != nil {
		fmt.Println(err)
		return
	}
	id, err := c.Publish(context.Background(), heraldclient.Update{
		Topics: []string{"orders/42"},
		Data:   `{"status":"shipped"}`,
		ID:     "order-42-shipped",
	})
	fmt.Println(id, err)

	// A refusal carries the status and the hub's reason.
	_, err = c.Publish(context.Background(), heraldclient.Update{Topics: []string{"invoices/1"}})
	var refused *heraldclient.Error
	if errors.As(err, &refused) {
		fmt.Println(refused.StatusCode)
	}
	// Output:
	// order-42-shipped <nil>
	// 403
}

// A worker reports a job's progress, learns that someone asked it to
// stop, and finishes the job as cancelled.
func ExampleJobs() {
	hubURL, token, stop := exampleHub("jobs/{id}")
	defer stop()
	c, _ := heraldclient.New(hubURL, token)
	j := c.Jobs()
	ctx := context.Background()

	s, err := j.Create(ctx, jobs.Spec{ID: "import-7", Title: "Import", Total: 100})
	fmt.Println(s.ID, s.State, err)
	j.Log(ctx, "import-7", "reading customers.csv")
	s, _ = j.Progress(ctx, "import-7", jobs.Report{Done: 25})
	fmt.Printf("%.0f%%\n", *s.Percent)

	j.Cancel(ctx, "import-7") // from a person's "Cancel" button, say
	_, err = j.Progress(ctx, "import-7", jobs.Report{Done: 30})
	if errors.Is(err, jobs.ErrCancelRequested) {
		s, err = j.Finish(ctx, "import-7", jobs.Outcome{State: jobs.Cancelled})
		fmt.Println(s.State, err)
	}
	// Output:
	// import-7 running <nil>
	// 25%
	// cancelled <nil>
}

// Watch follows a job until it ends: here a job that another goroutine
// (usually another process) finishes.
func ExampleJobs_Watch() {
	hubURL, token, stop := exampleHub("jobs/{id}")
	defer stop()
	c, _ := heraldclient.New(hubURL, token)
	j := c.Jobs()
	ctx := context.Background()

	j.Create(ctx, jobs.Spec{ID: "report", Total: 2})
	err := j.Watch(ctx, "report", func(s jobs.Snapshot) error {
		fmt.Println(s.State, s.Done)
		switch s.Done {
		case 0: // the current snapshot comes first: work on
			go j.Progress(ctx, "report", jobs.Report{Done: 2})
		case 2:
			go j.Finish(ctx, "report", jobs.Outcome{State: jobs.Succeeded})
		}
		return nil
	})
	fmt.Println("watch ended:", err)
	// Output:
	// running 0
	// running 2
	// succeeded 2
	// watch ended: <nil>
}
