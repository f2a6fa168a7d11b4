package node

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestProtectedResourceMetadataNamesTheIssuersAndTheHub(t *testing.T) {
	n := startNode(t, Config{
		Issuer:        "https://auth.example",
		Issuers:       []Issuer{{ID: "https://other.example", SubscriberKeys: []string{"k"}}, {ID: "https://auth.example"}},
		Subscriptions: true,
		CORSOrigins:   []string{"https://app.example"},
	})
	host := strings.TrimPrefix(n.http.URL, "http://")
	for _, path := range []string{metadataPath, metadataPrefix} {
		status, h, body := n.get(t, "", path, http.Header{"Origin": {"https://app.example"}})
		if status != http.StatusOK || h.Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s: %d %s %q, want 200 application/json", path, status, h.Get("Content-Type"), body)
		}
		if got := h.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
			t.Errorf("GET %s from https://app.example: Access-Control-Allow-Origin %q, want the origin", path, got)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(body), &doc); err != nil {
			t.Fatalf("GET %s: %v in %q", path, err, body)
		}
		want := map[string]any{
			"resource":                              "http://" + host + "/.well-known/mercure",
			"authorization_servers":                 []any{"https://auth.example", "https://other.example"},
			"authorization_details_types_supported": []any{"https://mercure.rocks/authorization-detail"},
			"bearer_methods_supported":              []any{"header"},
			"mercure_cookie":                        "__Secure-mercure_access_token",
			"mercure_matcher_types_supported":       []any{"exact", "urlpattern"},
			"mercure_subscriptions":                 true,
		}
		if !reflect.DeepEqual(doc, want) {
			t.Errorf("GET %s:\n got %v\nwant %v", path, doc, want)
		}
	}
}

func TestProtectedResourceMetadataUsesTheConfiguredResourceAndCookie(t *testing.T) {
	n := startNode(t, Config{ResourceIdentifier: "https://hub.example/.well-known/mercure", AccessTokenCookie: "hub_token"})
	_, _, body := n.get(t, "", metadataPath, nil)
	var doc resourceMetadata
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Resource != "https://hub.example/.well-known/mercure" || doc.MercureCookie != "hub_token" || doc.MercureSubscriptions || doc.AuthorizationServers == nil {
		t.Errorf("metadata %+v: want the configured resource and cookie, no subscriptions API, an empty list of issuers", doc)
	}
}

func TestProtectedResourceMetadataIsReadOnly(t *testing.T) {
	n := startNode(t, Config{})
	status, h, body := n.do(t, http.MethodHead, "", metadataPath, nil)
	if status != http.StatusOK || body != "" || h.Get("Content-Type") != "application/json" {
		t.Errorf("HEAD: %d %q %q, want 200 application/json without a body", status, h.Get("Content-Type"), body)
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		status, h, body := n.do(t, m, "", metadataPrefix, nil)
		if status != http.StatusMethodNotAllowed || h.Get("Allow") != "GET, HEAD" || strings.Count(body, "\n") != 1 {
			t.Errorf("%s: %d Allow %q %q, want 405 with Allow: GET, HEAD and a one-line reason", m, status, h.Get("Allow"), body)
		}
	}
}
