package doctor

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func jwtWith(payload string) string {
	return "eyJhbGciOiJIUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".sig"
}

func TestTokenExpiry(t *testing.T) {
	tests := []struct {
		name    string
		token   string
		want    time.Time
		wantErr string
	}{
		{"exp", jwtWith(`{"exp":1900000000}`), time.Unix(1900000000, 0), ""},
		{"fractional exp", jwtWith(`{"exp":1900000000.5}`), time.Unix(1900000000, 5e8), ""},
		{"no exp", jwtWith(`{"sub":"x"}`), time.Time{}, ""},
		{"padded payload", strings.Replace(jwtWith(`{"exp":1}`), ".sig", "", 1) + "=.sig", time.Unix(1, 0), ""},
		{"not a JWT", "abc", time.Time{}, "not a JWT"},
		{"payload not base64", "a.!!!.c", time.Time{}, "not base64url"},
		{"exp a string", jwtWith(`{"exp":"soon"}`), time.Time{}, "numeric exp"},
		{"exp negative", jwtWith(`{"exp":-5}`), time.Time{}, "out of range"},
		{"exp huge", jwtWith(`{"exp":1e300}`), time.Time{}, "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tokenExpiry(tt.token)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func FuzzTokenExpiry(f *testing.F) {
	for _, s := range []string{jwtWith(`{"exp":1900000000}`), jwtWith(`{"exp":1e300}`), jwtWith(`{}`), "a.b.c", "..", "abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		exp, err := tokenExpiry(token)
		if err != nil && !exp.IsZero() {
			t.Fatalf("an error with a time: %v, %v", exp, err)
		}
		if err == nil && !exp.IsZero() && (exp.Before(time.Unix(0, 0)) || exp.Year() > 30000) {
			t.Fatalf("exp %v out of the range it promises", exp)
		}
	})
}
