package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/heraldhub/herald/client"
	"github.com/heraldhub/herald/sse"
)

func init() {
	register("sub", "subscribe to any SSE URL and print its events (curl for SSE)", runSub)
}

// errCountReached ends a subscription that printed --count events.
var errCountReached = errors.New("count reached")

func runSub(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sub", stderr)
	format := fs.String("format", "text", "output format: text (readable) or json (one object per line: type, data, id)")
	count := fs.Int("count", 0, "exit after this many events (0: never)")
	timeout := fs.Duration("timeout", 0, "fail if --count events have not arrived within this time; without --count, listen this long and exit 0 (0: no limit)")
	lastID := fs.String("last-event-id", "", "resume after this event id (sent as Last-Event-ID)")
	var headers listFlag
	fs.Var(&headers, "header", "extra request header 'Name: value' (repeatable)")
	token := fs.String("token", "", "bearer token sent as Authorization: Bearer (default: $HERALD_TOKEN)")
	noReconnect := fs.Bool("no-reconnect", false, "exit when the stream ends instead of reconnecting")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: herald sub [flags] URL\n\nPrints the events of any Server-Sent Events stream, reconnecting with\nLast-Event-ID as a browser does. With --format json, stdout holds one\nobject per event and line: {\"type\":…,\"data\":…,\"id\":…}.\n\nflags:")
		fs.PrintDefaults()
	}
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		fs.Usage()
		return errUsage
	}
	target := positional[0]
	if *token == "" {
		*token = os.Getenv("HERALD_TOKEN")
	}
	if err := checkSubArgs(target, *format, *count, *timeout); err != nil {
		return err
	}
	h, err := subHeader(headers, *token)
	if err != nil {
		return err
	}
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	print := printer(*format, stdout)
	seen := 0
	err = client.Subscribe(ctx, target, client.Options{
		Header:      h,
		LastEventID: *lastID,
		NoReconnect: *noReconnect,
		OnError: func(err error, wait time.Duration) {
			fmt.Fprintf(stderr, "herald sub: %v; reconnecting in %v\n", err, wait.Round(time.Millisecond))
		},
	}, func(ev sse.Event) error {
		if err := print(ev); err != nil {
			return err
		}
		seen++
		if *count > 0 && seen >= *count {
			return errCountReached
		}
		return nil
	})
	switch {
	case errors.Is(err, errCountReached):
		return nil
	case errors.Is(err, context.DeadlineExceeded) && *timeout > 0 && *count == 0:
		return nil // a time-boxed listen
	case errors.Is(err, context.DeadlineExceeded) && *timeout > 0:
		return fmt.Errorf("timed out after %v with %d of %d events", *timeout, seen, *count)
	case errors.Is(err, context.Canceled):
		return nil // interrupted by the user
	case err == nil, errors.Is(err, client.ErrNoContent): // the stream ended, or the server closed it for good
		if *count > 0 && seen < *count {
			return fmt.Errorf("stream ended after %d of %d events", seen, *count)
		}
		return nil
	default:
		return err
	}
}

// parseInterspersed parses args with fs, accepting flags after the
// positional arguments too (herald sub URL --count 1), and returns the
// positional arguments. Everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// printer returns a function that writes one event in format.
func printer(format string, w io.Writer) func(sse.Event) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return func(ev sse.Event) error {
			return enc.Encode(struct {
				Type string `json:"type"`
				Data string `json:"data"`
				ID   string `json:"id"`
			}{ev.Type, ev.Data, ev.ID})
		}
	}
	return func(ev sse.Event) error {
		var b strings.Builder
		b.WriteString(ev.Type)
		if ev.ID != "" {
			b.WriteString(" [" + ev.ID + "]")
		}
		b.WriteString(": ")
		b.WriteString(strings.ReplaceAll(ev.Data, "\n", "\n    "))
		b.WriteByte('\n')
		_, err := io.WriteString(w, b.String())
		return err
	}
}

// checkSubArgs refuses a target that is not an http(s) URL and flags out
// of their range.
func checkSubArgs(target, format string, count int, timeout time.Duration) error {
	if u, err := url.Parse(target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid URL %q: want http(s)://host/path", target)
	}
	if format != "text" && format != "json" {
		return fmt.Errorf("invalid --format %q: use text or json", format)
	}
	if count < 0 || timeout < 0 {
		return errors.New("--count and --timeout must not be negative")
	}
	return nil
}

// subHeader is the request header of `herald sub`: each --header line,
// and the bearer token if there is one.
func subHeader(lines []string, token string) (http.Header, error) {
	h := http.Header{}
	for _, line := range lines {
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("invalid --header %q: want 'Name: value'", line)
		}
		h.Add(textproto.TrimString(name), textproto.TrimString(value))
	}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return h, nil
}
