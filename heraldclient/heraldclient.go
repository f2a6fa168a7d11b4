package heraldclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to one hub with one token. Its methods may be called
// concurrently.
type Client struct {
	// HTTPClient sends the requests; nil means http.DefaultClient.
	// Watch uses it only if it has no Timeout (a timeout would cut the
	// stream).
	HTTPClient *http.Client

	base  string // the hub's base URL, without a trailing slash
	token string
}

// New returns a client of the hub at hubURL, an http or https URL such as
// "http://127.0.0.1:8080" (its Mercure endpoint, ending in
// /.well-known/mercure, is accepted too), that sends token as a bearer
// token (none if empty).
func New(hubURL, token string) (*Client, error) {
	u, err := url.Parse(hubURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid hub URL %q: want http(s)://host:port", hubURL)
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), mercurePath)
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return &Client{base: u.String(), token: token}, nil
}

const mercurePath = "/.well-known/mercure"

// MercureURL is the hub's Mercure endpoint, where updates are published
// and subscribed to.
func (c *Client) MercureURL() string { return c.base + mercurePath }

// Error is a refusal from the hub: a status other than 2xx. Its message
// is one line.
type Error struct {
	StatusCode int    // 401, 403, 404…
	Status     string // the status line's text, such as "404 Not Found"
	Reason     string // the hub's one-line reason, from the body
}

// Error says what the hub answered and why.
func (e *Error) Error() string { return "hub answered " + e.Status + ": " + e.Reason }

// Update is one update to publish.
type Update struct {
	// Topics are the update's topics; the first is its canonical one. At
	// least one is needed.
	Topics []string
	// Data is the update's content.
	Data string
	// ID is the update's id; empty lets the hub assign one.
	ID string
	// Type is the event type; empty means "message".
	Type string
	// Retry, if not zero, is sent as the subscribers' reconnection time,
	// in milliseconds.
	Retry time.Duration
	// Private updates go only to subscribers allowed the topic.
	Private bool
}

// form is u as the Mercure endpoint's form fields.
func (u Update) form() url.Values {
	form := url.Values{"topic": u.Topics, "data": {u.Data}}
	if u.ID != "" {
		form.Set("id", u.ID)
	}
	if u.Type != "" {
		form.Set("type", u.Type)
	}
	if u.Private {
		form.Set("private", "on")
	}
	if u.Retry != 0 {
		form.Set("retry", strconv.FormatInt(u.Retry.Milliseconds(), 10))
	}
	return form
}

// errNoTopic refuses an update without a topic before it is sent.
var errNoTopic = errors.New("no topic: an update needs at least one")

// Publish publishes u and returns the id the hub gave it.
func (c *Client) Publish(ctx context.Context, u Update) (string, error) {
	if len(u.Topics) == 0 {
		return "", errNoTopic
	}
	body, _, err := c.post(ctx, c.MercureURL(), "application/x-www-form-urlencoded", u.form().Encode(), 64<<10)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(body)), nil
}

// post sends body to url and returns the answer's body (at most limit
// bytes) and headers, or an error: *Error for a status other than 2xx.
func (c *Client) post(ctx context.Context, url, contentType, body string, limit int64) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", contentType)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot reach the hub: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if resp.StatusCode/100 != 2 {
		return nil, nil, &Error{StatusCode: resp.StatusCode, Status: resp.Status, Reason: strings.TrimSpace(string(b))}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read the hub's answer: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, limit)) // so the connection is reused
	return b, resp.Header, nil
}
