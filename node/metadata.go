package node

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/internal/httperr"
	"github.com/heraldhub/herald/mercure"
)

// RFC 9728 puts the protected resource metadata of a resource at its
// well-known prefix followed by the resource's path (the hub's).
// The document is also served at the prefix alone.
const (
	metadataPrefix = "/.well-known/oauth-protected-resource"
	metadataPath   = metadataPrefix + mercure.Path
)

// resourceMetadata is the RFC 9728 protected resource metadata of the hub,
// with the members Mercure 1.0 adds.
type resourceMetadata struct {
	Resource                           string   `json:"resource"`
	AuthorizationServers               []string `json:"authorization_servers"`
	AuthorizationDetailsTypesSupported []string `json:"authorization_details_types_supported"`
	BearerMethodsSupported             []string `json:"bearer_methods_supported"`
	MercureCookie                      string   `json:"mercure_cookie"`
	MercureMatcherTypesSupported       []string `json:"mercure_matcher_types_supported"`
	MercureSubscriptions               bool     `json:"mercure_subscriptions"`
}

// metadata serves the hub's protected resource metadata (GET and HEAD).
// The resource is Config.ResourceIdentifier, or the hub's URL at the
// origin the request came to; the authorization servers are the
// configured issuers.
func (s *Node) metadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		httperr.LeaveBody(w, r)
		httperr.Write(w, httperr.Errorf(http.StatusMethodNotAllowed, "%s is not allowed here: the protected resource metadata is read with GET", r.Method))
		return
	}
	cfg := &s.cfg
	doc := resourceMetadata{
		Resource:                           cfg.ResourceIdentifier,
		AuthorizationServers:               issuerIDs(cfg),
		AuthorizationDetailsTypesSupported: []string{auth.DetailType},
		BearerMethodsSupported:             []string{"header"},
		MercureCookie:                      cfg.AccessTokenCookie,
		MercureMatcherTypesSupported:       []string{auth.MatchExact, auth.MatchURLPattern},
		MercureSubscriptions:               cfg.Subscriptions,
	}
	if doc.Resource == "" {
		doc.Resource = s.origins.of(r) + mercure.Path
	}
	body, err := json.Marshal(doc)
	if err != nil {
		httperr.Write(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodHead {
		return
	}
	w.Write(append(body, '\n'))
}

// issuerIDs lists the configured issuers, Config.Issuer first, each once.
func issuerIDs(cfg *Config) []string {
	ids := []string{}
	add := func(id string) {
		if id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	add(cfg.Issuer)
	for _, is := range cfg.Issuers {
		add(is.ID)
	}
	return ids
}
