package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

func init() {
	register("pub", "publish an update to a hub and print its id", runPub)
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ", ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// envOr returns the environment variable key, or def if it is unset.
func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

func runPub(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("pub", stderr)
	hubURL := fs.String("hub", envOr("HERALD_HUB", "http://127.0.0.1:8080"), "hub base URL (env HERALD_HUB)")
	token := fs.String("token", os.Getenv("HERALD_TOKEN"), "publisher JWT (env HERALD_TOKEN)")
	var topics listFlag
	fs.Var(&topics, "topic", "topic of the update (repeatable; the first is canonical)")
	data := fs.String("data", "", `update data; "-" reads it from standard input`)
	id := fs.String("id", "", "update id (default: assigned by the hub)")
	typ := fs.String("type", "", "event type (default: message)")
	private := fs.Bool("private", false, "deliver only to subscribers authorized for the topic")
	retry := fs.Int("retry", 0, "reconnection delay in milliseconds sent with the update")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (use --data for the payload)", fs.Arg(0))
	}
	if len(topics) == 0 {
		return errors.New("no topic: give at least one --topic")
	}
	if *token == "" {
		return errors.New("no token: pass --token or set HERALD_TOKEN (mint one with \"herald token --publish '*'\")")
	}
	body := *data
	if body == "-" {
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return fmt.Errorf("read data from standard input: %w", err)
		}
		body = string(b)
	}
	form := url.Values{"topic": topics, "data": {body}}
	if *id != "" {
		form.Set("id", *id)
	}
	if *typ != "" {
		form.Set("type", *typ)
	}
	if *private {
		form.Set("private", "on")
	}
	if *retry != 0 {
		form.Set("retry", strconv.Itoa(*retry))
	}
	endpoint, err := mercureURL(*hubURL)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	got, err := postForm(ctx, endpoint, *token, form)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, got)
	return nil
}

// mercureURL returns the hub's protocol endpoint for a base URL, accepting
// the endpoint itself too.
func mercureURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("invalid hub URL %q: want http(s)://host:port", base)
	}
	if !strings.HasSuffix(u.Path, "/.well-known/mercure") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/.well-known/mercure"
	}
	return u.String(), nil
}

// postForm posts form with a bearer token and returns the response body,
// or an error carrying the hub's one-line reason.
func postForm(ctx context.Context, endpoint, token string, form url.Values) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("cannot reach the hub: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := strings.TrimSpace(string(b))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("hub answered %s: %s", resp.Status, msg)
	}
	return msg, nil
}

var _ flag.Value = (*listFlag)(nil)
