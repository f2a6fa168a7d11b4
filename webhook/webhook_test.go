package webhook_test

import (
	"errors"
	"testing"
	"time"

	"github.com/heraldhub/herald/webhook"
)

func TestVerifyAcceptsOnlyTheSignedBodyWithTheSecretInTime(t *testing.T) {
	secret, body := []byte("s3cret-s3cret-s3cret"), []byte(`{"id":"1"}`)
	at := time.Unix(1_700_000_000, 0)
	header := webhook.Sign(secret, at, body)
	cases := []struct {
		name   string
		secret []byte
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"as signed", secret, header, body, at.Add(time.Minute), nil},
		{"with a rotated secret's signature beside", secret, "t=1700000000,v1=00ff," + header[len("t=1700000000,"):], body, at, nil},
		{"another body", secret, header, []byte(`{"id":"2"}`), at, webhook.ErrMismatch},
		{"another secret", []byte("other"), header, body, at, webhook.ErrMismatch},
		{"too late", secret, header, body, at.Add(time.Hour), webhook.ErrExpired},
		{"too early", secret, header, body, at.Add(-time.Hour), webhook.ErrExpired},
		{"no v1", secret, "t=1700000000", body, at, webhook.ErrMalformed},
		{"no t", secret, "v1=abcd", body, at, webhook.ErrMalformed},
		{"not hex", secret, "t=1700000000,v1=zz", body, at, webhook.ErrMalformed},
		{"empty", secret, "", body, at, webhook.ErrMalformed},
	}
	for _, c := range cases {
		err := webhook.Verify(c.secret, c.header, c.body, c.now, 5*time.Minute)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: Verify = %v, want %v", c.name, err, c.want)
		}
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("t=1700000000,v1=00ff", []byte("{}"))
	f.Add("t=1,v1=zz,v1=", []byte(""))
	f.Add(",,=,t=", []byte("x"))
	f.Add(webhook.Sign([]byte("k"), time.Unix(1_700_000_000, 0), []byte("{}")), []byte("{}"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		// Never panics; accepts only a signature of the body with the key.
		err := webhook.Verify([]byte("k"), header, body, time.Unix(1_700_000_000, 0), time.Minute)
		if err == nil && webhook.Verify([]byte("other key"), header, body, time.Unix(1_700_000_000, 0), time.Minute) == nil {
			t.Fatalf("header %q verifies with two keys", header)
		}
	})
}
