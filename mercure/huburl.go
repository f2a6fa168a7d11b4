package mercure

import "net/http"

// HubURL returns the URL of the hub r was sent to: the request's scheme and
// host, and Path. Relative URL patterns, and the topics they test, are
// resolved against it.
func HubURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + Path
}
