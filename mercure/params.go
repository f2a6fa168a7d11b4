package mercure

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/heraldhub/herald/hub"
)

// MethodQuery is the HTTP QUERY method: a Mercure 1.0 subscription may
// send its parameters form-encoded in the body instead of the URL.
const MethodQuery = "QUERY"

// Subscription parameters of each dialect. A request with topic= speaks
// Mercure 0.x; one with match parameters speaks 1.0.
const (
	paramTopic          = "topic"
	paramMatch          = "match"
	paramMatchExact     = "match_exact"
	paramMatchURL       = "match_urlpattern"
	paramLastEventID    = "last_event_id"
	paramLegacyLastID   = "lastEventID"
	headerCursor        = "Mercure-Last-Event-ID"
	headerLegacyCursor  = "Last-Event-ID"
	maxQueryBodyPerByte = 3 // percent-encoding triples a byte at most
)

// matcherTypes maps each 1.0 match parameter to its matcher type.
var matcherTypes = map[string]string{
	paramMatch:      hub.TypeExact,
	paramMatchExact: hub.TypeExact,
	paramMatchURL:   hub.TypeURLPattern,
}

// matcher is one requested selector: its text, and its matcher type (""
// for a 0.x topic selector).
type matcher struct {
	typ, value string
}

// subRequest is what a subscription request asks for, in either dialect.
type subRequest struct {
	// v1 is true for a Mercure 1.0 request (match parameters).
	v1       bool
	matchers []matcher
	// lastEventID is the cursor to resume after, "" for none.
	lastEventID string
}

// cursorHeader names the response header telling where the stream starts.
func (s *subRequest) cursorHeader() string {
	if s.v1 {
		return headerCursor
	}
	return headerLegacyCursor
}

// parseSubscription reads a subscription request's parameters: its query
// string, and for QUERY its form-encoded body too (at most maxBody bytes),
// merged with the query, whose last_event_id wins. It classifies the
// request's dialect and refuses, with a reason, a request that mixes them,
// names an unknown match parameter, carries a token in the URL (1.0) or a
// matcher that is not UTF-8 or holds control or format characters. It
// neither parses matchers nor applies count or length limits.
func parseSubscription(r *http.Request, maxBody int64) (subRequest, error) {
	var req subRequest
	q, _ := url.ParseQuery(r.URL.RawQuery)
	vals := q
	if r.Method == MethodQuery {
		body, err := queryBody(r, maxBody)
		if err != nil {
			return req, err
		}
		vals = mergeValues(body, q)
	}
	topics := vals[paramTopic]
	names := matchNames(vals)
	switch {
	case len(topics) > 0 && len(names) > 0:
		return req, errorf(http.StatusBadRequest, "both topic= (Mercure 0.x) and %s= (Mercure 1.0) given: use one dialect per subscription", names[0])
	case len(topics) == 0 && len(names) == 0:
		return req, errorf(http.StatusBadRequest, "missing topic: add at least one ?match=<topic> or ?match_urlpattern=<pattern> (Mercure 1.0), or ?topic=<selector> (0.x)")
	case len(topics) > 0 && r.Method == MethodQuery:
		return req, errorf(http.StatusBadRequest, "QUERY is Mercure 1.0 only: subscribe with match= or match_urlpattern=, or use GET with topic=")
	}
	if len(topics) > 0 {
		for _, t := range topics {
			req.matchers = append(req.matchers, matcher{value: t})
		}
		req.lastEventID = vals.Get(paramLegacyLastID)
	} else {
		req.v1 = true
		for _, name := range names {
			typ, ok := matcherTypes[name]
			if !ok {
				return req, errorf(http.StatusBadRequest, "unknown parameter %q: Mercure 1.0 subscriptions use match= (or match_exact=) and match_urlpattern=", name)
			}
			for _, v := range vals[name] {
				if err := hub.CheckText(v); err != nil {
					return req, errorf(http.StatusBadRequest, "invalid %s value %q: %v", name, v, err)
				}
				req.matchers = append(req.matchers, matcher{typ: typ, value: v})
			}
		}
		for _, name := range []string{"authorization", "access_token"} {
			if _, ok := vals[name]; ok {
				return req, errorf(http.StatusBadRequest, "token in the %q parameter: a Mercure 1.0 subscription never carries its token in the URL; send it as \"Authorization: Bearer <token>\" or in the cookie", name)
			}
		}
		req.lastEventID = vals.Get(paramLastEventID)
	}
	if h := r.Header.Get("Last-Event-ID"); h != "" {
		req.lastEventID = h
	}
	return req, nil
}

// matchNames returns the names in vals that start with "match" in any
// case, sorted.
func matchNames(vals url.Values) []string {
	var names []string
	for name := range vals {
		if len(name) >= len(paramMatch) && strings.EqualFold(name[:len(paramMatch)], paramMatch) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// queryBody reads the form-encoded body of a QUERY subscription.
func queryBody(r *http.Request, maxBody int64) (url.Values, error) {
	ct := r.Header.Get("Content-Type")
	if media, _, _ := mime.ParseMediaType(ct); media != "application/x-www-form-urlencoded" {
		return nil, errorf(http.StatusUnsupportedMediaType, "unsupported Content-Type %q: send a QUERY subscription's parameters form-encoded (application/x-www-form-urlencoded)", ct)
	}
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, errorf(http.StatusRequestEntityTooLarge, "subscription body too large: the limit is %d bytes (--max-subscription-bytes)", maxBody)
		}
		return nil, errorf(http.StatusBadRequest, "reading the subscription body: %v", err)
	}
	vals, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "malformed form body: %v", err)
	}
	return vals, nil
}

// mergeValues returns body and query merged: every value of both, and the
// query's cursor, if it has one, in place of the body's.
func mergeValues(body, query url.Values) url.Values {
	out := make(url.Values, len(body)+len(query))
	for k, v := range body {
		out[k] = append(out[k], v...)
	}
	for k, v := range query {
		out[k] = append(out[k], v...)
	}
	if _, ok := query[paramLastEventID]; ok {
		out[paramLastEventID] = query[paramLastEventID]
	}
	return out
}
