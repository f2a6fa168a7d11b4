package doctor

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The fixes, one line per server.
const (
	fixBuffered = "nginx: proxy_buffering off; (Herald also sends X-Accel-Buffering: no)\n" +
		"Caddy: reverse_proxy { flush_interval -1 }\n" +
		"HAProxy: remove option http-buffer-request and any compression/cache filter on this path\n" +
		"CDN or cloud balancer: bypass caching and response buffering for this path"
	fixCompressed = "nginx: gzip off; in the hub's location\n" +
		"Caddy: keep text/event-stream out of encode (encode { match header Content-Type text/html* })\n" +
		"HAProxy: compression type without text/event-stream\n" +
		"CDN: disable compression for text/event-stream"
	fixHeaders = "pass the hub's Content-Type and Cache-Control through unchanged (nginx: no add_header, proxy_hide_header or proxy_cache on this path)"
	fixIdle    = "nginx: proxy_read_timeout 1h; proxy_send_timeout 1h;\n" +
		"Caddy: no read timeout on this route (servers { timeouts { read_body 0 } })\n" +
		"HAProxy: timeout tunnel 1h\n" +
		"cloud balancer (AWS ALB, GCP, Azure): idle timeout above Herald's --heartbeat (e.g. 120 s), or run herald serve --heartbeat below it"
	fixProtocol = "serve HTTP/2 at the edge: nginx: listen 443 ssl; http2 on; · Caddy: on by default with TLS · HAProxy: bind ... ssl alpn h2,http/1.1"
	fixCORS     = "start Herald with --cors-origin ORIGIN (or HERALD_CORS_ORIGIN), and let the proxy pass Access-Control-* headers and OPTIONS requests through"
	fixClock    = "synchronize the clocks of the hub's and this machine's hosts (chrony or systemd-timesyncd)"
	fixToken    = "mint a fresh token: herald token --publish '*' (or from your issuer)"
)

// maxSkew is how far the hub's clock may be from this one's.
const maxSkew = 10 * time.Second

func (r *run) checkDelivery(st *stream) {
	res := Result{Check: "delivery"}
	data := r.probeData()
	acked, err := r.publish(data)
	if err != nil {
		res.Status, res.Problem, res.Finding = Fail, "no probe update could be published", err.Error()
		r.add(res)
		return
	}
	at, ok := st.await(data, r.cfg.Wait)
	switch delay := max(at.Sub(acked), 0); {
	case !ok:
		res.Status, res.Problem, res.Fix = Fail, "the stream is buffered", fixBuffered
		res.Finding = fmt.Sprintf("the probe update did not arrive within %s of its publication", r.cfg.Wait)
		if st.ended.IsZero() {
			break
		}
		res.Finding += fmt.Sprintf(" (%v)", st.err)
	case delay > r.cfg.MaxDelay:
		res.Status, res.Problem, res.Fix = Fail, "the stream is buffered", fixBuffered
		res.Finding = fmt.Sprintf("the probe update arrived %s after its publication (limit %s)", delay.Round(time.Millisecond), r.cfg.MaxDelay)
	default:
		res.Finding = fmt.Sprintf("the probe update arrived %s after its publication", delay.Round(time.Millisecond))
	}
	r.add(res)
}

func (r *run) checkIdle(st *stream) {
	res := Result{Check: "idle"}
	start, before := time.Now(), st.read.Load()
	timer := time.NewTimer(r.cfg.Idle)
	defer timer.Stop()
	select {
	case <-st.done:
		if r.ctx.Err() != nil {
			res.Status, res.Problem, res.Finding = Fail, "the idle check was interrupted", r.ctx.Err().Error()
			r.add(res)
			return
		}
		res.Status, res.Problem, res.Fix = Fail, "the idle connection was closed", fixIdle
		res.Finding = fmt.Sprintf("the stream was cut %s into %s without updates: %v", st.ended.Sub(start).Round(100*time.Millisecond), r.cfg.Idle, st.err)
		r.add(res)
		return
	case <-timer.C:
	case <-r.ctx.Done():
		res.Status, res.Problem, res.Finding = Fail, "the idle check was interrupted", r.ctx.Err().Error()
		r.add(res)
		return
	}
	heartbeats := st.read.Load() - before
	data := r.probeData()
	if _, err := r.publish(data); err != nil {
		res.Status, res.Problem, res.Finding = Fail, "no probe update could be published", err.Error()
		r.add(res)
		return
	}
	if _, ok := st.await(data, r.cfg.Wait); !ok {
		res.Status, res.Problem, res.Fix = Fail, "the idle connection was closed", fixIdle
		res.Finding = fmt.Sprintf("after %s without updates the stream delivered nothing within %s", r.cfg.Idle, r.cfg.Wait)
		if !st.ended.IsZero() {
			res.Finding += fmt.Sprintf(" (%v)", st.err)
		}
		r.add(res)
		return
	}
	res.Finding = fmt.Sprintf("the stream stayed open %s without updates (%d heartbeat bytes) and delivered the next one", r.cfg.Idle, heartbeats)
	r.add(res)
}

func (r *run) checkHeaders(resp *http.Response) {
	res := Result{Check: "headers"}
	h := resp.Header
	ctype, cache := h.Get("Content-Type"), h.Get("Cache-Control")
	switch enc := h.Get("Content-Encoding"); {
	case enc != "" && enc != "identity":
		res.Status, res.Problem, res.Fix = Fail, "the stream is compressed", fixCompressed
		res.Finding = fmt.Sprintf("Content-Encoding: %s: a compressor holds events back until its block fills", enc)
	case !strings.HasPrefix(strings.ToLower(ctype), "text/event-stream"):
		res.Status, res.Problem, res.Fix = Fail, "the stream's headers are rewritten", fixHeaders
		res.Finding = fmt.Sprintf("Content-Type: %q, want text/event-stream", ctype)
	case !strings.Contains(strings.ToLower(cache), "no-cache") && !strings.Contains(strings.ToLower(cache), "no-store"):
		res.Status, res.Problem, res.Fix = Fail, "the stream's headers are rewritten", fixHeaders
		res.Finding = fmt.Sprintf("Cache-Control: %q, want no-cache: a cache may hold or replay the stream", cache)
	default:
		res.Finding = fmt.Sprintf("uncompressed, Content-Type: %s, Cache-Control: %s", ctype, cache)
	}
	r.add(res)
}

func (r *run) checkProtocol(resp *http.Response) {
	res := Result{Check: "protocol"}
	switch {
	case resp.ProtoMajor >= 2:
		res.Finding = resp.Proto + ": browsers share one connection among all their streams to this origin"
	case resp.ProtoMajor == 1 && resp.ProtoMinor == 1:
		res.Status, res.Problem, res.Fix = Warn, "browsers get HTTP/1.1", fixProtocol
		res.Finding = "a browser opens at most 6 HTTP/1.1 connections to an origin, so a 7th tab's stream waits"
	default:
		res.Status, res.Problem, res.Fix = Fail, "the stream is served over "+resp.Proto, fixProtocol
		res.Finding = resp.Proto + " has no chunked responses: events reach the client only when the stream ends"
	}
	r.add(res)
}

// checkPreflight sends the preflight a browser sends before a cross-origin
// subscription with a Last-Event-ID or Authorization header.
func (r *run) checkPreflight() {
	if r.cfg.Origin == "" {
		return
	}
	res := Result{Check: "cors"}
	defer func() {
		if res.Status == Fail {
			r.add(res)
		}
	}()
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.Wait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodOptions, r.cfg.URL, nil)
	if err != nil {
		res.Status, res.Problem, res.Finding = Fail, "the preflight failed", err.Error()
		return
	}
	req.Header.Set("Origin", r.cfg.Origin)
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "authorization, last-event-id")
	resp, err := r.cfg.Client.Do(req)
	if err != nil {
		res.Status, res.Problem, res.Finding = Fail, "the preflight failed", err.Error()
		return
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		res.Status, res.Problem, res.Fix = Fail, "the preflight is refused for "+r.cfg.Origin, fixCORS
		res.Finding = fmt.Sprintf("OPTIONS with Origin: %s answered %s", r.cfg.Origin, resp.Status)
		return
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != r.cfg.Origin && got != "*" {
		res.Status, res.Problem, res.Fix = Fail, "the preflight does not allow "+r.cfg.Origin, fixCORS
		res.Finding = fmt.Sprintf("the preflight answered Access-Control-Allow-Origin: %q", got)
	}
}

// checkSimpleCORS checks the stream's own answer to the Origin it was
// opened with, unless the preflight has already failed.
func (r *run) checkSimpleCORS(resp *http.Response) {
	if r.cfg.Origin == "" {
		r.add(Result{Check: "cors", Status: Skip, Finding: "no --origin given"})
		return
	}
	if r.has("cors") {
		return
	}
	res := Result{Check: "cors"}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != r.cfg.Origin && got != "*" {
		res.Status, res.Problem, res.Fix = Fail, "the stream does not allow "+r.cfg.Origin, fixCORS
		res.Finding = fmt.Sprintf("the stream answered Access-Control-Allow-Origin: %q", got)
	} else {
		res.Finding = "the preflight and the stream allow " + r.cfg.Origin
	}
	r.add(res)
}

// checkClock compares the hub's Date with this clock, and the token's
// expiry with the hub's clock (this one's without a response).
func (r *run) checkClock(resp *http.Response) {
	res := Result{Check: "clock"}
	now, local := time.Now(), time.Now()
	var notes []string
	if resp != nil {
		if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
			skew := d.Sub(local.Truncate(time.Second))
			now = d
			notes = append(notes, fmt.Sprintf("the hub's clock is %s from this one", skew.Round(time.Second)))
			if skew > maxSkew || skew < -maxSkew {
				res.Status, res.Problem, res.Fix = Fail, "the clocks disagree", fixClock
			}
		} else {
			notes = append(notes, "the stream had no Date header to compare clocks with")
		}
	}
	if r.cfg.Token != "" {
		exp, err := tokenExpiry(r.cfg.Token)
		switch left := exp.Sub(now); {
		case err != nil:
			res.Status, res.Problem, res.Fix = Fail, "the token cannot be read", fixToken
			notes = append(notes, err.Error())
		case exp.IsZero():
			notes = append(notes, "the token has no exp")
		case left <= 0:
			res.Status, res.Problem, res.Fix = Fail, "the token has expired", fixToken
			notes = append(notes, fmt.Sprintf("the token expired %s ago by the hub's clock", (-left).Round(time.Second)))
		case left < max(time.Minute, r.cfg.Idle+2*r.cfg.Wait):
			res.Status, res.Problem, res.Fix = Fail, "the token is about to expire", fixToken
			notes = append(notes, fmt.Sprintf("the token expires in %s by the hub's clock: too soon to trust it through the checks", left.Round(time.Second)))
		default:
			notes = append(notes, fmt.Sprintf("the token expires in %s", left.Round(time.Second)))
		}
	}
	if len(notes) == 0 {
		notes = append(notes, "nothing to compare")
	}
	res.Finding = strings.Join(notes, "; ")
	r.add(res)
}
