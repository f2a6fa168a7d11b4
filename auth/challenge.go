package auth

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// metadataPrefix is where RFC 9728 places protected resource metadata.
const metadataPrefix = "/.well-known/oauth-protected-resource"

// MetadataURL returns the URL of the RFC 9728 protected resource metadata
// of resource: the path /.well-known/oauth-protected-resource inserted
// between its host and its path, so that for
// https://example.com/.well-known/mercure it is
// https://example.com/.well-known/oauth-protected-resource/.well-known/mercure.
// It returns "" if resource is not an absolute URL.
func MetadataURL(resource string) string {
	u, err := url.Parse(resource)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	out := u.Scheme + "://" + u.Host + metadataPrefix + path
	if strings.ContainsFunc(out, func(c rune) bool { return c < 0x21 || c > 0x7e || c == '"' || c == '\\' }) {
		return "" // not safe in a quoted header parameter
	}
	return out
}

// metadataError is an error of this package bound to the request it
// refuses, so that the refusal can point to the resource's metadata.
type metadataError struct {
	err error
	url string
}

func (e *metadataError) Error() string { return e.err.Error() }
func (e *metadataError) Unwrap() error { return e.err }

// WithMetadata returns err carrying metadataURL (see MetadataURL), for
// Challenge to name in its resource_metadata parameter. A nil err stays nil.
func WithMetadata(err error, metadataURL string) error {
	if err == nil || metadataURL == "" {
		return err
	}
	var m *metadataError
	if errors.As(err, &m) {
		return err
	}
	return &metadataError{err: err, url: metadataURL}
}

// Challenge returns the WWW-Authenticate value (RFC 6750, section 3) for a
// refusal wrapping one of this package's sentinel errors, "" for any other
// error: ErrNoToken gives a challenge without an error code,
// ErrInvalidToken error="invalid_token", ErrForbidden
// error="insufficient_scope" and ErrInvalidRequest error="invalid_request".
// The resource_metadata parameter names the metadata URL the error carries
// (WithMetadata), if any.
func Challenge(err error) string {
	var code string
	switch {
	case errors.Is(err, ErrInvalidRequest):
		code = "invalid_request"
	case errors.Is(err, ErrInvalidToken):
		code = "invalid_token"
	case errors.Is(err, ErrForbidden):
		code = "insufficient_scope"
	case errors.Is(err, ErrNoToken):
	default:
		return ""
	}
	params := []string{`realm="herald"`}
	if code != "" {
		params = append(params, `error="`+code+`"`)
	}
	var m *metadataError
	if errors.As(err, &m) {
		params = append(params, `resource_metadata="`+m.url+`"`)
	}
	return "Bearer " + strings.Join(params, ", ")
}

// RequestMetadataURL returns the metadata URL for a request to a hub whose
// configured resource identifier is resource ("" derives it from the
// request; see Resource).
func RequestMetadataURL(r *http.Request, resource string) string {
	return MetadataURL(Resource(r, resource))
}
