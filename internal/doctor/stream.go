package doctor

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhub/herald/sse"
)

// stream is the probe subscription: its response, and the events a reader
// goroutine decodes from it.
type stream struct {
	resp   *http.Response
	cancel context.CancelFunc
	events chan arrival
	read   atomic.Int64 // bytes read from the wire, heartbeats included
	done   chan struct{}
	err    error // why the stream ended; set before done is closed
	ended  time.Time
	wg     sync.WaitGroup
}

// arrival is an event and when it was read.
type arrival struct {
	data string
	at   time.Time
}

// open subscribes to the probe topic as a browser would (accepting gzip,
// with the Origin header when one is checked) and waits for the response.
func (r *run) open() (*stream, error) {
	u, _ := url.Parse(r.cfg.URL)
	q := u.Query()
	q.Add("topic", r.topic)
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithCancel(r.ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	// Set by hand, it also keeps the transport from decompressing behind
	// the check's back.
	req.Header.Set("Accept-Encoding", "gzip")
	if r.cfg.Origin != "" {
		req.Header.Set("Origin", r.cfg.Origin)
	}
	timer := time.AfterFunc(r.cfg.Wait, cancel)
	resp, err := r.cfg.Client.Do(req)
	if !timer.Stop() {
		cancel()
		if resp != nil {
			resp.Body.Close()
		}
		return nil, fmt.Errorf("%w within %s: something in front of the hub holds it back", errBuffered, r.cfg.Wait)
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("cannot reach the hub: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("the hub refused the probe subscription: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	st := &stream{resp: resp, cancel: cancel, events: make(chan arrival, 16), done: make(chan struct{})}
	st.wg.Add(1)
	go st.readEvents()
	return st, nil
}

// readEvents decodes the stream until it ends, decompressing gzip.
func (st *stream) readEvents() {
	defer st.wg.Done()
	var err error
	defer func() {
		st.err, st.ended = err, time.Now()
		close(st.done)
	}()
	var body io.Reader = countingReader{st.resp.Body, &st.read}
	switch enc := st.resp.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(body); err != nil {
			return
		}
		body = zr
	default:
		err = fmt.Errorf("cannot decode the stream's Content-Encoding %q", enc)
		return
	}
	dec := sse.NewDecoder(body)
	for {
		var ev sse.Event
		if ev, err = dec.Next(); err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the stream ended")
			}
			return
		}
		select {
		case st.events <- arrival{data: ev.Data, at: time.Now()}:
		default: // the probe waits for its own events only
		}
	}
}

func (st *stream) close() {
	st.cancel()
	st.resp.Body.Close()
	st.wg.Wait()
}

// await waits up to wait for the event with data, and returns when it was
// read; ok is false if it was not.
func (st *stream) await(data string, wait time.Duration) (at time.Time, ok bool) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case a := <-st.events:
			if a.data == data {
				return a.at, true
			}
		case <-st.done:
			return time.Time{}, false
		case <-timer.C:
			return time.Time{}, false
		}
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// publish posts a public probe update with data to the probe topic and
// returns when the hub acknowledged it.
func (r *run) publish(data string) (time.Time, error) {
	if r.cfg.Token == "" {
		return time.Time{}, errors.New("no token to publish a probe update with: pass --token or set HERALD_TOKEN")
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.Wait)
	defer cancel()
	form := url.Values{"topic": {r.topic}, "data": {data}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.cfg.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return time.Time{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+r.cfg.Token)
	resp, err := r.cfg.Client.Do(req)
	if err != nil {
		return time.Time{}, fmt.Errorf("cannot publish the probe update: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return time.Time{}, fmt.Errorf("the hub refused the probe update: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return time.Now(), nil
}

// probeData returns the data of the next probe update.
func (r *run) probeData() string {
	r.seq++
	return fmt.Sprintf("herald doctor probe %d %s", r.seq, r.topic)
}
