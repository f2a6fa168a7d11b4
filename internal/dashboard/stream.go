package dashboard

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/http"
	"time"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/hub"
	"github.com/heraldhub/herald/internal/authz"
	"github.com/heraldhub/herald/internal/httperr"
)

// Path is the dashboard's page; StreamPath the stream of its data.
const (
	Path       = "/dashboard"
	StreamPath = "/dashboard/stream"
)

// recentShown is how many recent updates of a topic a snapshot holds.
const recentShown = 20

// maxTopic bounds the topic a stream asks for.
const maxTopic = 2048

// writeTimeout bounds each write to a dashboard stream.
const writeTimeout = 10 * time.Second

//go:embed static
var static embed.FS

// Handler serves the page (public), its assets under Path/, and the
// stream (with a token).
func (d *Dashboard) Handler() http.Handler {
	assets, _ := fs.Sub(static, "static")
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Path, func(w http.ResponseWriter, r *http.Request) {
		security(w)
		http.ServeFileFS(w, r, assets, "index.html")
	})
	mux.Handle("GET "+Path+"/{file}", http.StripPrefix(Path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		security(w)
		http.FileServerFS(assets).ServeHTTP(w, r)
	})))
	mux.HandleFunc("GET "+StreamPath, d.stream)
	return mux
}

// security sets the headers every dashboard response carries: the page
// runs only its own script and is never framed.
func security(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
}

// stream sends a snapshot every Tick until the client leaves, the token
// expires or the dashboard closes.
func (d *Dashboard) stream(w http.ResponseWriter, r *http.Request) {
	claims, err := d.authenticate(r)
	if err != nil {
		httperr.Write(w, err)
		return
	}
	keep, err := d.filter(r, claims)
	if err != nil {
		httperr.Write(w, err)
		return
	}
	select {
	case d.streams <- struct{}{}:
		defer func() { <-d.streams }()
	default:
		httperr.Write(w, httperr.Errorf(http.StatusServiceUnavailable, "too many dashboard streams are open (%d): close one", cap(d.streams)))
		return
	}
	var expired <-chan time.Time
	if !claims.Expiry.IsZero() {
		t := time.NewTimer(time.Until(claims.Expiry))
		defer t.Stop()
		expired = t.C
	}
	security(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	first, lastSeq := true, uint64(math.MaxUint64) // no recent updates sent yet
	for {
		snap, changed, history := d.state(first)
		if snap != nil {
			out := d.personal(*snap, keep, &lastSeq)
			out.History = history
			if err := write(w, rc, &out); err != nil {
				return
			}
			first = false
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		case <-d.ctx.Done():
			return
		case <-expired:
			return
		}
	}
}

// view is what one stream may see: which jobs and recent updates.
type view struct {
	topic   hub.Selectors // nil without a topic
	allowed func(topics []string) bool
}

// personal fills snap's parts that depend on the stream's token and topic;
// the recent updates only when the newest of them is not lastSeq.
func (d *Dashboard) personal(snap Snapshot, v view, lastSeq *uint64) Snapshot {
	list := make([]JobStatus, 0, len(snap.Jobs.List))
	for _, j := range snap.Jobs.List {
		if !j.private || v.allowed([]string{j.topic}) {
			list = append(list, j)
		}
	}
	snap.Jobs.List = list
	if v.topic == nil {
		return snap
	}
	recent := d.recentOf(recentShown, func(u RecentUpdate) bool {
		return v.topic.MatchAny(u.Topics) && (!u.Private || v.allowed(u.Topics))
	})
	var newest uint64
	if len(recent) > 0 {
		newest = recent[0].seq
	}
	if newest != *lastSeq {
		snap.Recent = recent
		*lastSeq = newest
	}
	return snap
}

// write sends snap as one SSE event and flushes it.
func write(w http.ResponseWriter, rc *http.ResponseController, snap *Snapshot) error {
	b, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
		return err
	}
	return rc.Flush()
}

// authenticate returns the claims of r's token, which the publisher
// verifier must accept.
func (d *Dashboard) authenticate(r *http.Request) (*auth.Claims, error) {
	if d.cfg.Verifier == nil {
		return nil, fmt.Errorf("%w: the dashboard needs a publisher key to check its token, and none is configured", auth.ErrForbidden)
	}
	claims, err := d.cfg.Verifier.Verify(r)
	if errors.Is(err, auth.ErrNoToken) {
		return nil, fmt.Errorf("%w: the dashboard needs a publisher token in the Authorization header", auth.ErrNoToken)
	}
	return claims, err
}

// filter returns the view of r's topic parameter under claims.
func (d *Dashboard) filter(r *http.Request, claims *auth.Claims) (view, error) {
	base := d.cfg.HubURL(r)
	v := view{allowed: func(topics []string) bool { return authz.CheckReceive(claims, topics, base) == nil }}
	topic := r.URL.Query().Get("topic")
	if topic == "" {
		return v, nil
	}
	if len(topic) > maxTopic {
		return view{}, httperr.Errorf(http.StatusBadRequest, "the topic is %d bytes long, over the dashboard's %d: shorten it", len(topic), maxTopic)
	}
	sels, err := hub.ParseSelectors([]string{topic})
	if err != nil {
		return view{}, httperr.Errorf(http.StatusBadRequest, "the topic %q is not a topic or URI template: %v", topic, err)
	}
	v.topic = sels
	return v, nil
}
