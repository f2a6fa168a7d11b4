package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/heraldhub/herald/heraldclient"
)

// cleanEnv unsets the variables the publishing commands read.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"HERALD_HUB", "HERALD_TOKEN"} {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)
	}
}

func TestParsePubReadsEveryFlagIntoTheUpdate(t *testing.T) {
	cleanEnv(t)
	c, err := parsePub([]string{"--hub", "http://h:1", "--token", "T", "--topic", "a", "--topic", "b",
		"--data", "d", "--id", "i", "--type", "ty", "--private", "--retry", "1500", "--timeout", "2s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := heraldclient.Update{Topics: []string{"a", "b"}, Data: "d", ID: "i", Type: "ty", Retry: 1500 * time.Millisecond, Private: true}
	u := c.update
	if c.hub != "http://h:1" || c.token != "T" || c.timeout != 2*time.Second || u.Data != want.Data || u.ID != want.ID ||
		u.Type != want.Type || u.Retry != want.Retry || !u.Private || strings.Join(u.Topics, ",") != "a,b" {
		t.Fatalf("parsed %+v, want %+v", c, want)
	}
	if _, err := parsePub([]string{"--retry", "soon"}, io.Discard); err == nil {
		t.Fatal("--retry soon was accepted")
	}
}

func TestValidatePubRefusesWhatCannotBePublished(t *testing.T) {
	cleanEnv(t)
	for _, tc := range []struct {
		args []string
		want string // "" accepts
	}{
		{[]string{"--topic", "a", "--token", "T"}, ""},
		{[]string{"--topic", "a", "--token", "T", "--hub", "http://h/.well-known/mercure"}, ""},
		{[]string{"--topic", "a", "--token", "T", "payload"}, `unexpected argument "payload"`},
		{[]string{"--token", "T"}, "no topic"},
		{[]string{"--topic", "a"}, "no token"},
		{[]string{"--topic", "a", "--token", "T", "--hub", "h:8080"}, "invalid hub URL"},
	} {
		c, err := parsePub(tc.args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestPubReadsDataFromStandardInputAndPrintsTheID(t *testing.T) {
	jobNode(t) // sets HERALD_HUB and HERALD_TOKEN
	c, err := parsePub([]string{"--topic", "jobs/x", "--data", "-", "--id", "piped"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := c.validate()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := c.publish(context.Background(), hc, strings.NewReader("from stdin"), &out); err != nil || out.String() != "piped\n" {
		t.Fatalf("publish: %v, printed %q; want the id", err, out.String())
	}
	code, out2, errOut := runCmd(t, "pub", "--topic", "elsewhere", "--data", "x")
	if code == 0 || !strings.HasPrefix(errOut, "herald pub: hub answered 403 Forbidden: ") || strings.Count(errOut, "\n") != 1 || out2 != "" {
		t.Fatalf("pub to a topic the token does not allow: exit %d, %q; want the status and the hub's reason on one line", code, errOut)
	}
}
