package jobs

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/internal/httperr"
)

// Authorizer decides who may write and read jobs: the hub's token rules.
// Tokens come from the Authorization header or the cookie, never from the
// query string.
type Authorizer interface {
	// AuthenticatePublisher returns nil if r carries a valid publisher
	// token, whatever it may publish to: the check made before a body is
	// read.
	AuthenticatePublisher(r *http.Request) error
	// AuthorizePublish returns nil if r may publish to topic.
	AuthorizePublish(r *http.Request, topic string) error
	// AuthorizeSubscribe returns nil if r may receive topic's updates
	// (private ones if private). With private, nil also means r carries a
	// valid token: an anonymous reader receives no private update.
	AuthorizeSubscribe(r *http.Request, topic string, private bool) error
}

// maxBody bounds a job request's body.
const maxBody = 1 << 20

// Handler serves the jobs API:
//
//	POST /api/jobs                 create (JSON Spec)            publisher
//	POST /api/jobs/{id}/progress   report (JSON Report)          publisher
//	POST /api/jobs/{id}/start      start a queued job            publisher
//	POST /api/jobs/{id}/finish     finish (JSON Outcome)         publisher
//	POST /api/jobs/{id}/cancel     request cancellation          publisher or subscriber
//	GET  /api/jobs/{id}            the snapshot                  subscriber rules
//	GET  /api/jobs                 every job this node knows     subscriber rules
//	POST /api/jobs/{id}/log        log lines (text or JSON)      publisher
//	GET  /api/jobs/{id}/log        retained lines, as text       subscriber rules
//	GET  /api/jobs/{id}/log/stream the lines as events (SSE)     subscriber rules
//
// Bodies are JSON (or form-encoded: id, title, stage=NAME[:WEIGHT]
// repeated, total, private, parent, weight, policy, kind, queue; stage, done, total, message; state, result as
// a JSON string, error). A publisher's token is checked before its body is
// read, and tokens come from the Authorization header or the cookie, never
// the query string. Answers are the job's snapshot as JSON (the list
// as {"jobs": [...]}), or a one-line text error: 400 for a bad report
// (done above total, unknown stage, malformed or non-JSON result…), 401
// without a valid token, 403 when the token does not allow the job's topic,
// 404 for an unknown (or forgotten) job, 409 for a report to a finished job
// or an existing id, 413 and 415 for oversized or non-JSON bodies, 503 when
// the event could not be published. A report made while a cancellation is
// pending is recorded and answered 200 with the header
// "Herald-Cancel-Requested: true": the worker should stop and finish the
// job as cancelled. Finishing a job again with the same outcome answers 200
// and changes nothing. Cancelling takes a publisher token for the job, or a
// subscriber token that may read it (private updates included).
//
// Log lines are posted as text/plain, one line per line, or as JSON
// {"lines": ["…", …}]}, at most MaxLinesPerRequest a request (413 over
// it); the answer is {"first": N, "last": M}, their numbers. Reading takes
// ?from=N (lines numbered N on), or the last ?tail=N lines (default 100);
// the stream also resumes after the line its Last-Event-ID names. The
// text answer has a line per line, headed "Herald-Log-First" (the first
// line's number) and "Herald-Log-Next" (the number to ask for next), and
// starts with "… K earlier lines dropped" when lines asked for are no
// longer retained.
func (m *Manager) Handler(authz Authorizer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/jobs", func(w http.ResponseWriter, r *http.Request) {
		if err := authz.AuthenticatePublisher(r); err != nil {
			refuse(w, r, err)
			return
		}
		var spec Spec
		if err := decode(r, &spec); err != nil {
			writeError(w, err)
			return
		}
		if spec.ID == "" {
			spec.ID = newJobID()
		}
		if !validID(spec.ID) {
			writeError(w, invalidID(spec.ID))
			return
		}
		if err := authz.AuthorizePublish(r, TopicPrefix+spec.ID); err != nil {
			writeError(w, err)
			return
		}
		s, err := m.Create(r.Context(), spec)
		respond(w, http.StatusCreated, s, err)
	})
	mux.HandleFunc("POST /api/jobs/{id}/progress", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if err := authz.AuthorizePublish(r, TopicPrefix+id); err != nil {
			refuse(w, r, err)
			return
		}
		var rep Report
		if err := decode(r, &rep); err != nil {
			writeError(w, err)
			return
		}
		s, err := m.Progress(r.Context(), id, rep)
		if errors.Is(err, ErrCancelRequested) {
			// The report was recorded; the answer tells the worker to stop.
			w.Header().Set("Herald-Cancel-Requested", "true")
			err = nil
		}
		respond(w, http.StatusOK, s, err)
	})
	mux.HandleFunc("POST /api/jobs/{id}/start", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if err := authz.AuthorizePublish(r, TopicPrefix+id); err != nil {
			refuse(w, r, err)
			return
		}
		s, err := m.Begin(r.Context(), id)
		respond(w, http.StatusOK, s, err)
	})
	mux.HandleFunc("POST /api/jobs/{id}/finish", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if err := authz.AuthorizePublish(r, TopicPrefix+id); err != nil {
			refuse(w, r, err)
			return
		}
		var o Outcome
		if err := decode(r, &o); err != nil {
			writeError(w, err)
			return
		}
		s, err := m.Finish(r.Context(), id, o)
		respond(w, http.StatusOK, s, err)
	})
	mux.HandleFunc("POST /api/jobs/{id}/cancel", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if err := authorizeCancel(authz, r, id); err != nil {
			refuse(w, r, err)
			return
		}
		s, err := m.Cancel(r.Context(), id)
		respond(w, http.StatusAccepted, s, err)
	})
	mux.HandleFunc("GET /api/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		s, err := m.Get(r.PathValue("id"))
		if err == nil {
			err = authz.AuthorizeSubscribe(r, s.Topic, s.Private)
		}
		respond(w, http.StatusOK, s, err)
	})
	mux.HandleFunc("GET /api/jobs", func(w http.ResponseWriter, r *http.Request) {
		// A token that is no token (forged, expired, of the wrong key) is
		// refused as such, not answered with an empty list.
		if err := authz.AuthorizeSubscribe(r, TopicPrefix, false); err != nil {
			refuse(w, r, err)
			return
		}
		visible := []Snapshot{}
		for _, s := range m.List() {
			if authz.AuthorizeSubscribe(r, s.Topic, s.Private) == nil {
				visible = append(visible, s)
			}
		}
		respond(w, http.StatusOK, map[string]any{"jobs": visible}, nil)
	})
	m.logRoutes(mux, authz)
	return mux
}

// authorizeCancel returns nil if r may cancel job id: with a publisher
// token for the job, or a subscriber token that may read it, private
// updates included. Refused, the answer names what is missing: a token
// that is valid but allows neither is a 403, never a 401 blaming the
// signature the other kind of key could not check.
func authorizeCancel(authz Authorizer, r *http.Request, id string) error {
	topic := TopicPrefix + id
	perr := authz.AuthorizePublish(r, topic)
	if perr == nil {
		return nil
	}
	serr := authz.AuthorizeSubscribe(r, topic, true)
	switch {
	case serr == nil:
		return nil // private: only a token may read it
	case errors.Is(perr, auth.ErrForbidden) || errors.Is(serr, auth.ErrForbidden):
		// A valid token of one kind or the other, without the scope.
		why := perr
		if !errors.Is(perr, auth.ErrForbidden) {
			why = serr
		}
		return fmt.Errorf("%w: cancelling job %q takes a publisher token for %q or a subscriber token that may read it (%s)",
			auth.ErrForbidden, id, topic, strings.TrimPrefix(why.Error(), auth.ErrForbidden.Error()+": "))
	case errors.Is(perr, auth.ErrNoToken):
		return fmt.Errorf("%w: cancelling job %q needs a publisher token for it, or a subscriber token that may read it", auth.ErrNoToken, id)
	}
	return perr
}

// decode reads a JSON or form-encoded body into v.
func decode(r *http.Request, v any) error {
	br := bufio.NewReader(http.MaxBytesReader(nil, r.Body, maxBody))
	r.Body = io.NopCloser(br)
	media, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if media == "application/x-www-form-urlencoded" && startsWithBrace(br) {
		media = "application/json" // curl -d '{…}' sends JSON labelled as a form
	}
	switch media {
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return fmt.Errorf("%w: malformed form: %v", ErrInvalid, err)
		}
		return fromForm(r, v)
	case "application/json", "":
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				return httperr.Errorf(http.StatusRequestEntityTooLarge, "body too large: the limit is %d bytes", maxBody)
			}
			return fmt.Errorf("%w: malformed JSON body: %v", ErrInvalid, err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: malformed JSON body: one object expected, more follows it", ErrInvalid)
		}
		return nil
	default:
		return httperr.Errorf(http.StatusUnsupportedMediaType, "unsupported Content-Type %q: send JSON", media)
	}
}

// startsWithBrace reports whether the body's first non-space byte is '{'.
func startsWithBrace(br *bufio.Reader) bool {
	for i := 1; i <= 64; i++ {
		b, err := br.Peek(i)
		if len(b) < i {
			return false
		}
		switch c := b[i-1]; c {
		case ' ', '\t', '\r', '\n':
			if err != nil {
				return false
			}
			continue
		default:
			return c == '{'
		}
	}
	return false
}

// fromForm fills a Spec, Report or Outcome from form fields.
func fromForm(r *http.Request, v any) error {
	f := r.PostForm
	num := func(key string) (float64, bool, error) {
		s := f.Get(key)
		if s == "" {
			return 0, false, nil
		}
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, false, fmt.Errorf("%w: %s must be a number, got %q", ErrInvalid, key, s)
		}
		return x, true, nil
	}
	switch v := v.(type) {
	case *Spec:
		v.ID, v.Title = f.Get("id"), f.Get("title")
		v.Parent, v.Policy = f.Get("parent"), Policy(f.Get("policy"))
		v.Kind, v.Queue = f.Get("kind"), f.Get("queue")
		v.Callback = f.Get("callback")
		_, v.Private = f["private"]
		for _, name := range f["stage"] {
			n, w, _ := strings.Cut(name, ":")
			weight := 1.0
			if w != "" {
				x, err := strconv.ParseFloat(w, 64)
				if err != nil {
					return fmt.Errorf("%w: stage %q: weight must be a number", ErrInvalid, name)
				}
				weight = x
			}
			v.Stages = append(v.Stages, Stage{Name: n, Weight: weight})
		}
		total, _, err := num("total")
		v.Total = total
		if err != nil {
			return err
		}
		v.Weight, _, err = num("weight")
		return err
	case *Report:
		v.Stage, v.Message = f.Get("stage"), f.Get("message")
		done, _, err := num("done")
		if err != nil {
			return err
		}
		v.Done = done
		total, ok, err := num("total")
		if ok {
			v.Total = &total
		}
		return err
	case *Outcome:
		v.State, v.Error = State(f.Get("state")), f.Get("error")
		if res := f.Get("result"); res != "" {
			v.Result = json.RawMessage(res)
		}
		return nil
	}
	return nil
}

// statuses are the statuses of this API's errors; the token errors are
// shared with the Mercure handler (see internal/httperr). An error from
// publishing the job's event is a 503.
var statuses = httperr.Rules{
	{Err: ErrUnknownJob, Status: http.StatusNotFound},
	{Err: ErrJobExists, Status: http.StatusConflict},
	{Err: ErrFinished, Status: http.StatusConflict},
	{Err: ErrInvalid, Status: http.StatusBadRequest},
	{Err: nil, Status: http.StatusServiceUnavailable},
}

func writeError(w http.ResponseWriter, err error) { statuses.Write(w, err) }

// refuse answers err without the request's body being read.
func refuse(w http.ResponseWriter, r *http.Request, err error) {
	httperr.LeaveBody(w, r)
	writeError(w, err)
}

func respond(w http.ResponseWriter, okStatus int, v any, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(okStatus)
	json.NewEncoder(w).Encode(v)
}
