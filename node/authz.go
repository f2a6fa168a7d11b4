package node

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/internal/authz"
	"github.com/heraldhub/herald/mercure"
)

// authorizer applies the hub's token rules (package internal/authz) to the
// jobs API.
type authorizer struct {
	pub, sub    mercure.Verifier
	noAnonymous bool
	resource    string // Config.ResourceIdentifier
}

// AuthenticatePublisher returns nil if r carries a valid publisher token.
func (a authorizer) AuthenticatePublisher(r *http.Request) error {
	_, err := a.publisher(r)
	return err
}

// AuthorizePublish returns nil if r's publisher token may publish to topic.
func (a authorizer) AuthorizePublish(r *http.Request, topic string) error {
	claims, err := a.publisher(r)
	if err != nil {
		return err
	}
	return authz.CheckPublish(claims, []string{topic}, mercure.HubURL(r))
}

// publisher returns the claims of r's publisher token.
func (a authorizer) publisher(r *http.Request) (*auth.Claims, error) {
	if a.pub == nil {
		return nil, fmt.Errorf("%w: publishing is disabled: no publisher key is configured", auth.ErrForbidden)
	}
	return a.pub.Verify(r)
}

// AuthorizeSubscribe returns nil if r may read topic (private, if private).
func (a authorizer) AuthorizeSubscribe(r *http.Request, topic string, private bool) error {
	var claims *auth.Claims
	if a.sub != nil {
		var err error
		claims, err = a.sub.Verify(r)
		switch {
		case errors.Is(err, auth.ErrNoToken):
			claims = nil
		case err != nil:
			return err
		}
	}
	switch {
	case claims == nil && a.noAnonymous:
		return auth.WithMetadata(auth.ErrNoToken, auth.RequestMetadataURL(r, a.resource))
	case !private:
		return nil
	case claims == nil:
		return auth.WithMetadata(authz.CheckReceive(nil, []string{topic}, mercure.HubURL(r)), auth.RequestMetadataURL(r, a.resource))
	}
	return authz.CheckReceive(claims, []string{topic}, mercure.HubURL(r))
}
