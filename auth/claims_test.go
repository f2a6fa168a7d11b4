package auth

import (
	"errors"
	"strings"
	"testing"
)

// prefixMatch stands in for the hub's selector matcher: a selector ending in
// "/" matches the topics under it.
func prefixMatch(selector, topic string) bool {
	if strings.HasSuffix(selector, "/") {
		return strings.HasPrefix(topic, selector)
	}
	return selector == topic
}

func TestCheckPublishNeedsEveryTopicAllowed(t *testing.T) {
	tests := []struct {
		name    string
		claims  *Claims
		topics  []string
		match   func(string, string) bool
		wantErr error
		errText string
	}{
		{"wildcard", &Claims{Publish: []string{"*"}}, []string{"a", "b"}, nil, nil, ""},
		{"wildcard whatever the matcher", &Claims{Publish: []string{"*"}}, []string{"a"}, func(string, string) bool { return false }, nil, ""},
		{"exact without a matcher", &Claims{Publish: []string{"a", "b"}}, []string{"b", "a"}, nil, nil, ""},
		{"matcher decides", &Claims{Publish: []string{"books/"}}, []string{"books/1", "books/2"}, prefixMatch, nil, ""},
		{"one topic refused refuses all", &Claims{Publish: []string{"books/"}}, []string{"books/1", "users/1"}, prefixMatch, ErrForbidden, `may not publish to topic "users/1"`},
		{"no publish selectors", &Claims{Subscribe: []string{"*"}}, []string{"a"}, nil, ErrForbidden, "no mercure.publish selectors"},
		{"no token", nil, []string{"a"}, nil, ErrNoToken, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.claims.CheckPublish(tt.topics, tt.match)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("CheckPublish = %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("error = %q, want it to contain %q", err, tt.errText)
			}
		})
	}
}

func TestCanReceivePrivateNeedsOneTopicAllowed(t *testing.T) {
	tests := []struct {
		name   string
		claims *Claims
		topics []string
		want   bool
	}{
		{"anonymous", nil, []string{"a"}, false},
		{"no subscribe selectors", &Claims{Publish: []string{"*"}}, []string{"a"}, false},
		{"wildcard", &Claims{Subscribe: []string{"*"}}, []string{"a"}, true},
		{"canonical topic", &Claims{Subscribe: []string{"books/"}}, []string{"books/1", "x"}, true},
		{"alternate topic", &Claims{Subscribe: []string{"users/alice/"}}, []string{"books/1", "users/alice/books/1"}, true},
		{"no topic matches", &Claims{Subscribe: []string{"users/alice/"}}, []string{"books/1", "users/bob/books/1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.claims.CanReceivePrivate(tt.topics, prefixMatch); got != tt.want {
				t.Fatalf("CanReceivePrivate = %v, want %v", got, tt.want)
			}
		})
	}
}
