package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhub/herald/internal/httperr"
	"github.com/heraldhub/herald/jobs"
)

// BBox is the demo query's bounding box, in degrees.
type BBox struct {
	MinLat float64 `json:"minLat"`
	MaxLat float64 `json:"maxLat"`
	MinLon float64 `json:"minLon"`
	MaxLon float64 `json:"maxLon"`
}

// Europe is the demo's default bounding box: the whole dataset.
var Europe = BBox{MinLat: 34, MaxLat: 72, MinLon: -12, MaxLon: 32}

// Result is what a demo query finds.
type Result struct {
	BBox       BBox           `json:"bbox"`
	Matched    int            `json:"matched"`
	Categories []CategoryStat `json:"categories"`
	// Points is a sample of the matching places: [lat, lon, category index].
	Points [][3]float64 `json:"points"`
}

// CategoryStat aggregates the matching places of one category.
type CategoryStat struct {
	Category string  `json:"category"`
	Count    int     `json:"count"`
	Average  float64 `json:"average"`
}

// demoStages are the query's stages; filtering weighs most.
var demoStages = []jobs.Stage{{Name: "loading", Weight: 1}, {Name: "filtering", Weight: 2}, {Name: "aggregating", Weight: 1}}

// DemoTopic selects every demo job's topic.
const DemoTopic = jobs.TopicPrefix + "demo-{n}"

// demo runs at most one data query at a time.
type demo struct {
	m      *jobs.Manager
	data   []Point
	pace   time.Duration
	logger *slog.Logger

	mu      sync.Mutex
	running string // id of the running job, "" if none
	n       int
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// interrupted is the error of a query cancelled because the hub shut down.
const interrupted = "interrupted: the hub shut down"

// chunks is how many pieces each stage goes through, each reported.
const chunks = 40

// start runs a query over box, or joins the one running: it returns the
// job's id and whether it joined.
func (d *demo) start(box BBox) (string, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running != "" {
		return d.running, true, nil
	}
	if err := d.ctx.Err(); err != nil {
		return "", false, errors.New("the demo is shutting down")
	}
	d.n++
	id := "demo-" + strconv.FormatInt(time.Now().UnixMilli(), 10) + "-" + strconv.Itoa(d.n)
	job, err := d.m.Start(d.ctx, jobs.Spec{
		ID: id, Title: "Data query", Stages: demoStages, Total: float64(len(d.data)),
	})
	if err != nil {
		return "", false, err
	}
	d.running = id
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		err := d.run(d.ctx, job, box)
		// The finish must outlive d.ctx, which Close cancels.
		fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		switch {
		case errors.Is(err, jobs.ErrCancelRequested):
			job.Log(fctx, "cancelled on request")
			job.FinishCancelled(fctx)
		case errors.Is(err, context.Canceled):
			// Not the user's doing: the page says why the query stopped.
			job.Log(fctx, "interrupted: the hub is shutting down")
			d.m.Finish(fctx, id, jobs.Outcome{State: jobs.Cancelled, Error: interrupted})
		case err != nil:
			job.Fail(fctx, err)
		}
		d.mu.Lock()
		d.running = ""
		d.mu.Unlock()
	}()
	return id, false, nil
}

// step waits one pace interval (scaled), or returns early if stopped.
func (d *demo) step(ctx context.Context, scale float64) error {
	t := time.NewTimer(time.Duration(float64(d.pace) * scale))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// run is the query: load, filter by box, aggregate, each in chunks.
func (d *demo) run(ctx context.Context, job *jobs.Job, box BBox) error {
	// "starting data query…": the first event, shown before any stage moves.
	if err := d.step(ctx, 8); err != nil {
		return err
	}
	n := len(d.data)
	size := (n + chunks - 1) / chunks
	if err := job.Log(ctx, fmt.Sprintf("loading %d places in %d chunks", n, chunks)); err != nil {
		return err
	}
	loaded := make([]Point, 0, n)
	for i := 0; i < n; i += size {
		loaded = append(loaded, d.data[i:min(i+size, n)]...)
		if err := job.Progress(ctx, "loading", float64(len(loaded)), float64(n), "reading places"); err != nil {
			return err
		}
		if err := d.step(ctx, 1); err != nil {
			return err
		}
	}
	if err := job.Log(ctx, fmt.Sprintf("loaded %d places", len(loaded)),
		fmt.Sprintf("filtering: latitude %g to %g, longitude %g to %g", box.MinLat, box.MaxLat, box.MinLon, box.MaxLon)); err != nil {
		return err
	}
	var matched []Point
	for i := 0; i < n; i += size {
		for _, p := range loaded[i:min(i+size, n)] {
			if box.contains(p) {
				matched = append(matched, p)
			}
		}
		if err := job.Progress(ctx, "filtering", float64(min(i+size, n)), float64(n), fmt.Sprintf("%d places in the box so far", len(matched))); err != nil {
			return err
		}
		if err := d.step(ctx, 2); err != nil {
			return err
		}
	}
	if err := job.Log(ctx, fmt.Sprintf("%d places in the box", len(matched)),
		fmt.Sprintf("aggregating %d places by category", len(matched))); err != nil {
		return err
	}
	res := Result{BBox: box, Matched: len(matched)}
	sums := map[string]*CategoryStat{}
	for _, c := range Categories {
		sums[c] = &CategoryStat{Category: c}
	}
	m := len(matched)
	msize := max((m+chunks-1)/chunks, 1)
	for i := 0; i < m || i == 0; i += msize {
		for _, p := range matched[i:min(i+msize, m)] {
			s := sums[p.Category]
			s.Count++
			s.Average += p.Value
		}
		if err := job.Progress(ctx, "aggregating", float64(min(i+msize, m)), float64(max(m, 1)), "grouping by category"); err != nil {
			return err
		}
		if err := d.step(ctx, 0.5); err != nil {
			return err
		}
		if m == 0 {
			break
		}
	}
	for _, c := range Categories {
		s := sums[c]
		if s.Count > 0 {
			s.Average = float64(int(s.Average/float64(s.Count)*10)) / 10
		}
		res.Categories = append(res.Categories, *s)
	}
	stride := max(m/400, 1)
	for i := 0; i < m; i += stride {
		p := matched[i]
		res.Points = append(res.Points, [3]float64{p.Lat, p.Lon, float64(categoryIndex(p.Category))})
	}
	if err := job.Log(ctx, fmt.Sprintf("done: %d places, %d drawn", m, len(res.Points))); err != nil {
		return err
	}
	return job.Succeed(ctx, res)
}

// contains reports whether p lies in b, edges included.
func (b BBox) contains(p Point) bool {
	return p.Lat >= b.MinLat && p.Lat <= b.MaxLat && p.Lon >= b.MinLon && p.Lon <= b.MaxLon
}

func categoryIndex(c string) int {
	for i, x := range Categories {
		if x == c {
			return i
		}
	}
	return -1
}

// close stops a running query and waits for it.
func (d *demo) close() {
	d.cancel()
	d.wg.Wait()
}

// serveQuery answers POST /api/demo/query: {"job": id, "topic": …, "joined": bool}.
// Only the demo page's own requests run a query (see sameOrigin): the hub
// is not an open job launcher for other sites or scripts.
func (d *demo) serveQuery(w http.ResponseWriter, r *http.Request) {
	if err := sameOrigin(r); err != nil {
		httperr.LeaveBody(w, r)
		httperr.Write(w, err)
		return
	}
	box := Europe
	if r.ContentLength != 0 {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&box); err != nil {
			httperr.Write(w, httperr.Errorf(http.StatusBadRequest, "malformed bounding box: send JSON {\"minLat\":…,\"maxLat\":…,\"minLon\":…,\"maxLon\":…}"))
			return
		}
	}
	if box.MinLat > box.MaxLat || box.MinLon > box.MaxLon || box.MinLat < -90 || box.MaxLat > 90 || box.MinLon < -180 || box.MaxLon > 180 {
		httperr.Write(w, httperr.Errorf(http.StatusBadRequest, "invalid bounding box: want -90 ≤ minLat ≤ maxLat ≤ 90 and -180 ≤ minLon ≤ maxLon ≤ 180"))
		return
	}
	id, joined, err := d.start(box)
	if err != nil {
		d.logger.Error("demo query not started", "err", err)
		httperr.Write(w, httperr.Errorf(http.StatusServiceUnavailable, "the query could not start: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"job": id, "topic": jobs.TopicPrefix + id, "joined": joined})
}

// serveCancel answers POST /api/demo/cancel, {"job": id}: it requests the
// running query's cancellation as the jobs API's cancel does (Manager.Cancel),
// and answers 202 with the job's snapshot. The query's worker then stops and
// finishes it as cancelled. Like a query, only the demo page may ask.
func (d *demo) serveCancel(w http.ResponseWriter, r *http.Request) {
	if err := sameOrigin(r); err != nil {
		httperr.LeaveBody(w, r)
		httperr.Write(w, err)
		return
	}
	var req struct {
		Job string `json:"job"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || req.Job == "" {
		httperr.Write(w, httperr.Errorf(http.StatusBadRequest, "malformed cancellation: send JSON {\"job\": \"<the query's id>\"}"))
		return
	}
	d.mu.Lock()
	running := d.running
	d.mu.Unlock()
	if req.Job != running {
		httperr.Write(w, httperr.Errorf(http.StatusConflict, "job %q is not the running demo query: it has finished, or is not one", req.Job))
		return
	}
	s, err := d.m.Cancel(r.Context(), req.Job)
	if err != nil {
		httperr.Write(w, httperr.Errorf(http.StatusConflict, "the query could not be cancelled: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(s)
}

// sameOrigin returns nil if r comes from a page of the hub itself: a
// browser says so in Sec-Fetch-Site ("same-origin"), or, without that
// header, with an Origin whose host is the request's own. A request that
// says neither (a script, curl) is refused too: to run the demo query from
// a shell, send "Origin: http://<the hub's host>".
func sameOrigin(r *http.Request) error {
	site := r.Header.Get("Sec-Fetch-Site")
	origin := r.Header.Get("Origin")
	switch {
	case site == "same-origin":
		return nil
	case site != "":
		return httperr.Errorf(http.StatusForbidden, "not allowed: the demo query runs only from the demo page itself, not from another site (Sec-Fetch-Site: %s)", site)
	case origin == "":
		return httperr.Errorf(http.StatusForbidden, "not allowed: the demo query runs only from the demo page itself; send an Origin header naming this hub (e.g. Origin: http://%s)", r.Host)
	}
	if u, err := url.Parse(origin); err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	return httperr.Errorf(http.StatusForbidden, "not allowed: the demo query runs only from the demo page itself, not from origin %q", origin)
}
