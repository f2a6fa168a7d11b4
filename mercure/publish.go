package mercure

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/internal/authz"
	"github.com/heraldhub/herald/internal/httperr"
)

// ReservedType is the event type Mercure 1.0 keeps for the hub's own
// events (subscription events): no publisher may use it.
const ReservedType = "mercure"

// publish answers a publication, in either dialect: Mercure 1.0's checks
// of the update's fields apply to all, and the reply is exactly 200
// text/plain with the update's id. A publisher with an access token may
// reuse an id (it resolves to its first occurrence); a 0.x token keeps
// getting 409 for an id the log retains.
func (h *Handler) publish(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Publishers == nil {
		h.refuse(w, r, errorf(http.StatusUnauthorized, "publishing is disabled: no publisher key is configured"))
		return
	}
	claims, err := h.cfg.Publishers.Verify(r)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	if l := h.cfg.PublishLimit; l != nil {
		if err := l.AllowPublish(r, claims.Subject); err != nil {
			h.refuse(w, r, err)
			return
		}
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		WriteError(w, errorf(http.StatusUnsupportedMediaType, "unsupported Content-Type %q: send the update form-encoded (application/x-www-form-urlencoded)", ct))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, int64(h.cfg.MaxUpdateBytes))
	// An update is the body's fields alone (r.PostForm): a non-nil r.Form
	// spares ParseForm copying them into it with the query string's.
	r.Form = url.Values{}
	if err := r.ParseForm(); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			WriteError(w, errorf(http.StatusRequestEntityTooLarge, "update too large: the body limit is %d bytes", h.cfg.MaxUpdateBytes))
			return
		}
		WriteError(w, errorf(http.StatusBadRequest, "malformed form body: %v", err))
		return
	}
	base := HubURL(r)
	u, err := h.parseUpdate(r, base)
	if err != nil {
		WriteError(w, err)
		return
	}
	if err := authz.CheckPublish(claims, u.Topics, base); err != nil {
		WriteError(w, err)
		return
	}
	u.ReuseID = claims.Format == auth.AccessToken
	if u.Private && h.cfg.Subscribers == nil {
		h.cfg.Logger.Warn("private update published but no subscriber key is configured: nobody can receive it", "topic", u.Topics[0])
	}
	stored, err := h.cfg.Hub.Publish(r.Context(), u)
	if err != nil {
		if errors.Is(err, eventlog.ErrDuplicateID) {
			err = errorf(http.StatusConflict, "id %q is already used by a retained update: choose a unique id", u.ID)
		}
		WriteError(w, err)
		return
	}
	w.Header()["Content-Type"] = plainText
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, stored.ID)
}

// plainText is the Content-Type of a publication's answer, shared by all
// answers (net/http only reads it).
var plainText = []string{"text/plain; charset=utf-8"}

// refuse answers a publication refused before its body is read.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	httperr.LeaveBody(w, r)
	WriteError(w, err)
}

// parseUpdate reads an update from a parsed form body; base is the hub's
// URL (HubURL).
func (h *Handler) parseUpdate(r *http.Request, base string) (eventlog.Update, error) {
	f := r.PostForm
	u := eventlog.Update{
		Topics: f["topic"],
		Data:   f.Get("data"),
		ID:     f.Get("id"),
		Type:   f.Get("type"),
	}
	_, u.Private = f["private"]
	if len(u.Topics) == 0 {
		return u, errorf(http.StatusBadRequest, "missing topic: add at least one topic field")
	}
	if len(u.Topics) > h.cfg.MaxTopics {
		return u, errorf(http.StatusRequestEntityTooLarge, "too many topics: %d, the limit is %d: publish fewer alternate topics", len(u.Topics), h.cfg.MaxTopics)
	}
	if s := f.Get("retry"); s != "" {
		ms, err := strconv.ParseUint(s, 10, 32)
		if err != nil || strings.ContainsFunc(s, func(c rune) bool { return c < '0' || c > '9' }) {
			return u, errorf(http.StatusBadRequest, "invalid retry %q: give the reconnection delay in milliseconds (digits only)", s)
		}
		u.Retry = time.Duration(ms) * time.Millisecond
	}
	if u.Type == ReservedType {
		return u, errorf(http.StatusBadRequest, "type %q is reserved for the hub's own events: choose another event type", u.Type)
	}
	if err := h.cfg.Hub.Validate(u); err != nil {
		return u, err
	}
	for _, t := range u.Topics {
		if underHubPath(t, base) {
			return u, errorf(http.StatusBadRequest, "topic %q resolves under the hub's path %s, which is reserved for the hub's own events: choose another topic", t, Path)
		}
	}
	return u, nil
}

// underHubPath reports whether topic, resolved against base (the hub's
// URL), names Path or a URL under it, whatever its scheme or host, once
// percent-encoded unreserved characters are decoded and dot segments
// removed.
func underHubPath(topic, base string) bool {
	return !absoluteOutside(topic) && resolvesUnderHubPath(topic, base)
}

// resolvesUnderHubPath is underHubPath by parsing and resolving.
func resolvesUnderHubPath(topic, base string) bool {
	ref, err := url.Parse(decodeUnreserved(topic))
	if err != nil {
		return false
	}
	b, err := url.Parse(base)
	if err != nil {
		return false
	}
	p := b.ResolveReference(ref).EscapedPath()
	return p == Path || strings.HasPrefix(p, Path+"/")
}

// absoluteOutside reports, without parsing, whether topic is an absolute
// URL (it has a scheme, so base plays no part in resolving it) whose text
// cannot hold Path: no "well-known" and no percent-encoding. Most topics
// are, and spare underHubPath its parsing.
func absoluteOutside(topic string) bool {
	scheme, _, ok := strings.Cut(topic, ":")
	if !ok || scheme == "" || strings.Contains(topic, "%") || strings.Contains(topic, "well-known") {
		return false
	}
	for i := 0; i < len(scheme); i++ {
		c := scheme[i]
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || !('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// decodeUnreserved decodes the percent-encoded unreserved characters of s
// (RFC 3986: letters, digits, "-", ".", "_", "~"), which name the same
// resource encoded or not.
func decodeUnreserved(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil && unreserved(byte(v)) {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unreserved reports whether c is an unreserved character of RFC 3986.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0
}
