package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/heraldhub/herald/heraldclient"
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

// pubCmd is a `herald pub` command line.
type pubCmd struct {
	hub, token string
	update     heraldclient.Update
	retryMs    int
	timeout    time.Duration
	args       []string // left after the flags
}

func runPub(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parsePub(args, stderr)
	if err != nil {
		return err
	}
	hc, err := c.validate()
	if err != nil {
		return err
	}
	return c.publish(ctx, hc, os.Stdin, stdout)
}

// parsePub reads the flags of `herald pub`.
func parsePub(args []string, stderr io.Writer) (*pubCmd, error) {
	var c pubCmd
	fs := newFlags("pub", stderr)
	fs.StringVar(&c.hub, "hub", envOr("HERALD_HUB", "http://127.0.0.1:8080"), "hub base URL (env HERALD_HUB)")
	fs.StringVar(&c.token, "token", os.Getenv("HERALD_TOKEN"), "publisher JWT (env HERALD_TOKEN)")
	fs.Var((*listFlag)(&c.update.Topics), "topic", "topic of the update (repeatable; the first is canonical)")
	fs.StringVar(&c.update.Data, "data", "", `update data; "-" reads it from standard input`)
	fs.StringVar(&c.update.ID, "id", "", "update id (default: assigned by the hub)")
	fs.StringVar(&c.update.Type, "type", "", "event type (default: message)")
	fs.BoolVar(&c.update.Private, "private", false, "deliver only to subscribers authorized for the topic")
	fs.IntVar(&c.retryMs, "retry", 0, "reconnection delay in milliseconds sent with the update")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "give up after this long")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	c.args = fs.Args()
	c.update.Retry = time.Duration(c.retryMs) * time.Millisecond
	return &c, nil
}

// validate checks the command line and returns the client to publish
// with.
func (c *pubCmd) validate() (*heraldclient.Client, error) {
	if len(c.args) > 0 {
		return nil, fmt.Errorf("unexpected argument %q (use --data for the payload)", c.args[0])
	}
	if len(c.update.Topics) == 0 {
		return nil, errors.New("no topic: give at least one --topic")
	}
	if c.token == "" {
		return nil, errors.New("no token: pass --token or set HERALD_TOKEN (mint one with \"herald token --publish '*'\")")
	}
	return heraldclient.New(c.hub, c.token)
}

// publish sends the update (its data read from stdin if "-") and prints
// the id the hub gave it.
func (c *pubCmd) publish(ctx context.Context, hc *heraldclient.Client, stdin io.Reader, stdout io.Writer) error {
	u := c.update
	if u.Data == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return fmt.Errorf("read data from standard input: %w", err)
		}
		u.Data = string(b)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	id, err := hc.Publish(ctx, u)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, id)
	return nil
}

// mercureURL returns the hub's protocol endpoint for a base URL, accepting
// the endpoint itself too.
func mercureURL(base string) (string, error) {
	hc, err := heraldclient.New(base, "")
	if err != nil {
		return "", err
	}
	return hc.MercureURL(), nil
}

var _ flag.Value = (*listFlag)(nil)
