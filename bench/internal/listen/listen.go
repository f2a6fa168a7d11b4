// Package listen serves a baseline's handler over plain HTTP/1.1, or over
// TLS (with HTTP/2, as net/http offers it) given -tls-cert and -tls-key:
// the same for every server bench/run.sh compares.
package listen

import (
	"flag"
	"net/http"
)

var (
	cert = flag.String("tls-cert", "", "PEM certificate file: serve HTTPS and HTTP/2")
	key  = flag.String("tls-key", "", "PEM private key file for -tls-cert")
)

// Serve serves h on addr until it fails.
func Serve(addr string, h http.Handler) error {
	if *cert != "" {
		return http.ListenAndServeTLS(addr, *cert, *key, h)
	}
	return http.ListenAndServe(addr, h)
}
