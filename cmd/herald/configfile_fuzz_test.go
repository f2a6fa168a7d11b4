package main

import (
	"strings"
	"testing"
)

// FuzzParseConfigFile feeds arbitrary TOML and YAML to the configuration
// file reader: it must never panic, and every refusal names the file.
func FuzzParseConfigFile(f *testing.F) {
	f.Add(true, twoIssuers)
	f.Add(true, "addr = \n")
	f.Add(true, "[[issuer]]\nid = \"x\"\n")
	f.Add(true, "issuers = [{id = \"x\", publisher-keys = [\"k\"]}]\na.b = 1\n")
	f.Add(false, "addr: \":1\"\nissuers:\n  - id: x\n    publisher-keys: [k]\n")
	f.Add(false, "- addr\n")
	f.Add(false, "issuers: 5\n")
	f.Fuzz(func(t *testing.T, isTOML bool, src string) {
		name := "h.yaml"
		if isTOML {
			name = "h.toml"
		}
		c, err := parseConfigFile(name, []byte(src))
		if err == nil {
			_, err = c.issuerList()
		}
		if err != nil && !strings.HasPrefix(err.Error(), name+":") {
			t.Fatalf("error %q does not name the file", err)
		}
	})
}
