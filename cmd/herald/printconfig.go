package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/heraldhub/herald/node"
)

// secretMask stands in for a secret in --print-config's output.
const secretMask = "****"

// issuerTable is an [[issuers]] table as --print-config writes it.
type issuerTable struct {
	ID                string   `toml:"id"`
	PublisherKeys     []string `toml:"publisher-keys"`
	PublisherAlg      string   `toml:"publisher-alg"`
	SubscriberKeys    []string `toml:"subscriber-keys"`
	SubscriberAlg     string   `toml:"subscriber-alg"`
	PublisherJWKSURL  string   `toml:"publisher-jwks-url"`
	SubscriberJWKSURL string   `toml:"subscriber-jwks-url"`
}

// printConfig writes every setting of fs, as the command line, the
// environment and the configuration file left it, and issuers, as a TOML
// file that --config reads back. Secrets are masked.
func printConfig(w io.Writer, fs *flag.FlagSet, issuers []node.Issuer) error {
	doc := map[string]any{}
	fs.VisitAll(func(f *flag.Flag) {
		if !notInFile[f.Name] {
			doc[f.Name] = fileValue(f)
		}
	})
	for _, role := range []string{"publisher", "subscriber"} {
		alg := fs.Lookup(role + "-alg").Value.String()
		doc[role+"-key"] = maskKey(fs.Lookup(role+"-key").Value.String(), alg)
		doc[role+"-jwks-url"] = redactURL(fs.Lookup(role + "-jwks-url").Value.String())
	}
	doc["log"] = redactURL(fs.Lookup("log").Value.String())
	if f := fs.Lookup("webhook-secret"); f != nil && f.Value.String() != "" {
		doc["webhook-secret"] = secretMask
	}
	if len(issuers) > 0 {
		tables := make([]issuerTable, 0, len(issuers))
		for _, is := range issuers {
			tables = append(tables, issuerTable{
				ID:                is.ID,
				PublisherKeys:     maskKeys(is.PublisherKeys, is.PublisherAlg),
				PublisherAlg:      orHS256(is.PublisherAlg),
				SubscriberKeys:    maskKeys(is.SubscriberKeys, is.SubscriberAlg),
				SubscriberAlg:     orHS256(is.SubscriberAlg),
				PublisherJWKSURL:  redactURL(is.PublisherJWKSURL),
				SubscriberJWKSURL: redactURL(is.SubscriberJWKSURL),
			})
		}
		doc[issuersKey] = tables
	}
	fmt.Fprintln(w, "# The effective configuration of herald serve (command line, HERALD_* variables,")
	fmt.Fprintln(w, "# configuration file, defaults), for --config. Secrets are masked as \"****\":")
	fmt.Fprintln(w, "# put them back before serving with this file.")
	enc := toml.NewEncoder(w)
	enc.Indent = ""
	return enc.Encode(doc)
}

// orHS256 returns alg, or HS256, an issuer's default, if alg is empty.
func orHS256(alg string) string {
	if alg == "" {
		return "HS256"
	}
	return alg
}

// fileValue returns the value of f as a configuration file writes it.
func fileValue(f *flag.Flag) any {
	switch v := f.Value.(type) {
	case *listFlag:
		return append([]string{}, *v...)
	case sizeFlag:
		return int64(*v.n)
	case flag.Getter:
		switch g := v.Get().(type) {
		case bool:
			return g
		case int:
			return int64(g)
		case time.Duration:
			return g.String()
		}
	}
	return f.Value.String()
}

// maskKey returns key, unless it is a secret: an HMAC key, or anything
// but the path of a PEM file.
func maskKey(key, alg string) string {
	if key == "" {
		return ""
	}
	if alg != "" && !strings.HasPrefix(strings.ToUpper(alg), "HS") {
		if st, err := os.Stat(key); err == nil && st.Mode().IsRegular() {
			return key
		}
	}
	return secretMask
}

func maskKeys(keys []string, alg string) []string {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, maskKey(k, alg))
	}
	return out
}

// redactURL masks the password of a URL (a Redis log's, a JWKS URL's).
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); !ok {
		return s
	}
	return strings.Replace(u.Redacted(), ":xxxxx@", ":"+secretMask+"@", 1)
}
