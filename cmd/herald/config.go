package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhub/herald/node"
)

// A configuration file (herald serve --config) sets flags by their names:
// the flags defined in serve.go are the one list of settings. Flags given
// on the command line win, then HERALD_* variables (already the flags'
// defaults), then the file, then the defaults. Issuers, which flags express
// badly, come as [[issuers]] tables.

// notInFile names the flags of serve that are about the configuration file
// itself, and so cannot be set in one.
var notInFile = map[string]bool{"config": true, "print-config": true}

// envName returns the environment variable of serve's flag name:
// HERALD_ and the name in capitals, dashes as underscores.
func envName(flagName string) string {
	return "HERALD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// flagKind is the type of value a flag takes, as a file writes it.
type flagKind int

const (
	kindString flagKind = iota
	kindBool
	kindInt
	kindDuration
	kindSize
	kindList
)

// want describes the values of kind k for an error message.
func (k flagKind) want() string {
	switch k {
	case kindBool:
		return "true or false"
	case kindInt:
		return "a whole number"
	case kindDuration:
		return `a duration, such as "15s"`
	case kindSize:
		return `a size, such as "8MiB" or 1048576`
	case kindList:
		return `a list of strings, such as ["https://a.example"]`
	}
	return "a string in quotes"
}

func kindOf(f *flag.Flag) flagKind {
	switch v := f.Value.(type) {
	case *listFlag:
		return kindList
	case sizeFlag:
		return kindSize
	case flag.Getter:
		switch v.Get().(type) {
		case bool:
			return kindBool
		case int:
			return kindInt
		case time.Duration:
			return kindDuration
		}
	}
	return kindString
}

// flagArgs turns a file's value into the arguments of flag.Set: one, or
// one per element for a list.
func flagArgs(k flagKind, v any) ([]string, bool) {
	switch v := v.(type) {
	case string:
		return []string{v}, k == kindString || k == kindDuration || k == kindSize || k == kindList
	case bool:
		return []string{strconv.FormatBool(v)}, k == kindBool
	case int64:
		return []string{strconv.FormatInt(v, 10)}, k == kindInt || k == kindSize
	case []any:
		args := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			args = append(args, s)
		}
		return args, k == kindList
	}
	return nil, false
}

// describe names the type of a file's value for an error message.
func describe(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64:
		return "a whole number"
	case float64:
		return "a fractional number"
	case []any:
		return "a list"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "tables (issuers with their own keys go in [[" + issuersKey + "]] tables)"
	case nil:
		return "empty"
	}
	return fmt.Sprintf("a %T", v)
}

// applyConfigFile reads the configuration file at path and sets from it
// every flag of fs given neither on the command line nor in its HERALD_*
// variable. It returns the file's issuers.
func applyConfigFile(fs *flag.FlagSet, path string) ([]node.Issuer, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	c, err := parseConfigFile(path, src)
	if err != nil {
		return nil, err
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	for _, s := range c.top.settings {
		f := fs.Lookup(s.key)
		if f == nil || notInFile[s.key] {
			return nil, c.at(s.line, "%s", unknownSetting(fs, s.key))
		}
		k := kindOf(f)
		args, ok := flagArgs(k, s.value)
		if !ok {
			return nil, c.at(s.line, "%s must be %s, not %s", s.key, k.want(), describe(s.value))
		}
		if onCommandLine[s.key] || inEnv(s.key, k) {
			continue
		}
		for _, a := range args {
			if err := fs.Set(s.key, a); err != nil {
				return nil, c.at(s.line, "%s: %s", s.key, setError(err, k, a))
			}
		}
	}
	return c.issuerList()
}

// setError explains a value flag.Set refused; the flag package's own
// reasons ("parse error") say nothing of what to write instead.
func setError(err error, k flagKind, arg string) string {
	if msg := err.Error(); msg != "parse error" && msg != "value out of range" {
		return msg
	}
	return fmt.Sprintf("%q is not %s", arg, k.want())
}

// inEnv reports whether the HERALD_* variable of the flag name is set (a
// list flag's only if not empty, as serve.go reads them).
func inEnv(name string, k flagKind) bool {
	v, ok := os.LookupEnv(envName(name))
	return ok && (k != kindList || v != "")
}

// unknownSetting explains a key that is no flag of serve.
func unknownSetting(fs *flag.FlagSet, key string) string {
	if notInFile[key] {
		return fmt.Sprintf("%s cannot be set in the configuration file: give it on the command line", key)
	}
	if dashed := strings.ReplaceAll(key, "_", "-"); fs.Lookup(dashed) != nil {
		return fmt.Sprintf("unknown setting %q: did you mean %q? Settings are named like the flags, with dashes", key, dashed)
	}
	return fmt.Sprintf("unknown setting %q: settings are the flags of \"herald serve -h\" without the dashes (e.g. max-update-bytes), and [[%s]] tables", key, issuersKey)
}

// issuerFields returns the settings of an [[issuers]] table, each with
// the field of is it sets: a *string or a *[]string.
func issuerFields(is *node.Issuer) map[string]any {
	return map[string]any{
		"id":                  &is.ID,
		"publisher-keys":      &is.PublisherKeys,
		"publisher-alg":       &is.PublisherAlg,
		"subscriber-keys":     &is.SubscriberKeys,
		"subscriber-alg":      &is.SubscriberAlg,
		"publisher-jwks-url":  &is.PublisherJWKSURL,
		"subscriber-jwks-url": &is.SubscriberJWKSURL,
	}
}

// issuerList reads the file's [[issuers]] tables.
func (c *configFile) issuerList() ([]node.Issuer, error) {
	var list []node.Issuer
	seen := map[string]bool{}
	for _, t := range c.issuers {
		var is node.Issuer
		for _, s := range t.settings {
			if err := c.setIssuerField(&is, s); err != nil {
				return nil, err
			}
		}
		switch {
		case is.ID == "":
			return nil, c.at(t.line, "an [[%s]] table needs an id: the iss of its tokens", issuersKey)
		case seen[is.ID]:
			return nil, c.at(t.line, "issuer %q is given twice: merge its tables", is.ID)
		case len(is.PublisherKeys) == 0 && len(is.SubscriberKeys) == 0 && is.PublisherJWKSURL == "" && is.SubscriberJWKSURL == "":
			return nil, c.at(t.line, "issuer %q has no keys: give publisher-keys, subscriber-keys or a JWKS URL", is.ID)
		}
		seen[is.ID] = true
		list = append(list, is)
	}
	return list, nil
}

func (c *configFile) setIssuerField(is *node.Issuer, s fileSetting) error {
	fields := issuerFields(is)
	field, ok := fields[s.key]
	if !ok {
		return c.at(s.line, "unknown issuer setting %q: an [[%s]] table takes %s", s.key, issuersKey, strings.Join(sortedKeys(fields), ", "))
	}
	want := kindString
	list, isList := field.(*[]string)
	if isList {
		want = kindList
	}
	args, ok := flagArgs(want, s.value)
	if !ok {
		return c.at(s.line, "issuer setting %s must be %s, not %s", s.key, want.want(), describe(s.value))
	}
	if isList {
		*list = args
	} else {
		*field.(*string) = args[0]
	}
	return nil
}

// checkIssuers refuses an issuer named both by --issuer and by a table,
// whose keys would then be in two places.
func checkIssuers(issuer string, issuers []node.Issuer) error {
	for _, is := range issuers {
		if issuer != "" && is.ID == issuer {
			return fmt.Errorf("issuer %q is both --issuer and an [[%s]] table: give its keys in one place", issuer, issuersKey)
		}
	}
	return nil
}

// checkUnmasked refuses to serve with a key that is the mask
// --print-config writes in place of a secret.
func checkUnmasked(cfg *node.Config) error {
	keys := map[string][]string{"--publisher-key": {cfg.PublisherKey}, "--subscriber-key": {cfg.SubscriberKey}}
	for _, is := range cfg.Issuers {
		keys["the keys of issuer "+strconv.Quote(is.ID)] = append(append([]string{}, is.PublisherKeys...), is.SubscriberKeys...)
	}
	for name, list := range keys {
		for _, k := range list {
			if k == secretMask {
				return fmt.Errorf("%s: %q is the mask --print-config writes in place of a secret: put the real key back", name, secretMask)
			}
		}
	}
	return nil
}
