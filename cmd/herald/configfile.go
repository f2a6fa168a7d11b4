package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"
)

// fileSetting is one "key = value" of a configuration file. value is a
// string, int64, float64, bool, []any of those, or something else that
// no setting takes (reported as a wrong type).
type fileSetting struct {
	key   string
	line  int // 1-based; 0 if not known
	value any
}

// fileTable is a group of settings: the top level of the file, or one
// [[issuers]] table.
type fileTable struct {
	line     int
	settings []fileSetting
}

// configFile is a parsed configuration file: its top-level settings, in
// file order, and its issuer tables.
type configFile struct {
	path    string
	top     fileTable
	issuers []fileTable
}

// issuersKey names the array of issuer tables in a configuration file.
const issuersKey = "issuers"

// at prefixes msg with the file and, if known, the line.
func (c *configFile) at(line int, format string, args ...any) error {
	if line > 0 {
		return fmt.Errorf("%s:%d: %s", c.path, line, fmt.Sprintf(format, args...))
	}
	return fmt.Errorf("%s: %s", c.path, fmt.Sprintf(format, args...))
}

// parseConfigFile reads src as YAML if path ends in .yaml or .yml, and as
// TOML otherwise.
func parseConfigFile(path string, src []byte) (*configFile, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		return parseYAML(path, src)
	default:
		return parseTOML(path, src)
	}
}

func parseTOML(path string, src []byte) (*configFile, error) {
	c := &configFile{path: path}
	var raw map[string]any
	md, err := toml.Decode(string(src), &raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, c.at(pe.Position.Line, "not valid TOML: %s", pe.Message)
		}
		return nil, c.at(0, "not valid TOML: %v", err)
	}
	lines := strings.Split(string(src), "\n")
	for _, key := range topKeys(md, raw) {
		if key != issuersKey {
			c.top.settings = append(c.top.settings, fileSetting{key, tomlKeyLine(lines, key, 0), raw[key]})
			continue
		}
		tables, ok := asTables(raw[key])
		if !ok {
			return nil, c.at(tomlKeyLine(lines, key, 0), "%s must be [[%s]] tables, one per issuer", key, key)
		}
		from := 0
		for _, t := range tables {
			header := tomlHeaderLine(lines, key, from)
			if header > 0 {
				from = header
			}
			ft := fileTable{line: header}
			for _, name := range sortedKeys(t) {
				ft.settings = append(ft.settings, fileSetting{name, tomlKeyLine(lines, name, from), t[name]})
			}
			c.issuers = append(c.issuers, ft)
		}
	}
	return c, nil
}

// topKeys returns the top-level keys of a TOML document in the order they
// first appear (dotted keys and tables by their first part).
func topKeys(md toml.MetaData, raw map[string]any) []string {
	var keys []string
	seen := map[string]bool{}
	for _, k := range md.Keys() {
		if len(k) > 0 && !seen[k[0]] {
			seen[k[0]] = true
			keys = append(keys, k[0])
		}
	}
	for _, k := range sortedKeys(raw) {
		if !seen[k] {
			keys = append(keys, k)
		}
	}
	return keys
}

// asTables returns v as a list of tables, as [[name]] headers or an
// inline array of inline tables give it.
func asTables(v any) ([]map[string]any, bool) {
	switch v := v.(type) {
	case []map[string]any:
		return v, true
	case []any:
		tables := make([]map[string]any, 0, len(v))
		for _, e := range v {
			t, ok := e.(map[string]any)
			if !ok {
				return nil, false
			}
			tables = append(tables, t)
		}
		return tables, true
	}
	return nil, false
}

// tomlKeyLine returns the line, after line from (1-based), where key is
// assigned or opens a table, or 0. The TOML decoder keeps no positions, so this is a
// search; a key assigned on two lines is a decoding error already.
func tomlKeyLine(lines []string, key string, from int) int {
	q := regexp.QuoteMeta(key)
	re := regexp.MustCompile(`^\s*((` + q + `|"` + q + `"|'` + q + `')\s*[=.]|\[\[?\s*` + q + `\s*[\].])`)
	for i := from; i < len(lines); i++ {
		if re.MatchString(lines[i]) {
			return i + 1
		}
	}
	return 0
}

// tomlHeaderLine returns the line after line from (1-based) with the
// next [[name]] header, or 0.
func tomlHeaderLine(lines []string, name string, from int) int {
	re := regexp.MustCompile(`^\s*\[\[\s*` + regexp.QuoteMeta(name) + `\s*\]\]`)
	for i := from; i < len(lines); i++ {
		if re.MatchString(lines[i]) {
			return i + 1
		}
	}
	return 0
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func parseYAML(path string, src []byte) (*configFile, error) {
	c := &configFile{path: path}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, c.at(0, "not valid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) == 0 {
		return c, nil // an empty file sets nothing
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, c.at(root.Line, "the top level must be a mapping of settings, such as addr: \":8080\"")
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != issuersKey {
			c.top.settings = append(c.top.settings, fileSetting{k.Value, k.Line, yamlValue(v)})
			continue
		}
		if v.Kind != yaml.SequenceNode {
			return nil, c.at(k.Line, "%s must be a list of mappings, one per issuer", issuersKey)
		}
		for _, t := range v.Content {
			if t.Kind != yaml.MappingNode {
				return nil, c.at(t.Line, "each of %s must be a mapping, such as id: https://issuer.example", issuersKey)
			}
			ft := fileTable{line: t.Line}
			for j := 0; j+1 < len(t.Content); j += 2 {
				ft.settings = append(ft.settings, fileSetting{t.Content[j].Value, t.Content[j].Line, yamlValue(t.Content[j+1])})
			}
			c.issuers = append(c.issuers, ft)
		}
	}
	return c, nil
}

// yamlValue decodes a YAML node into the types a TOML decoder gives: whole
// numbers as int64, lists as []any.
func yamlValue(n *yaml.Node) any {
	var v any
	if err := n.Decode(&v); err != nil {
		return nil
	}
	return normalize(v)
}

func normalize(v any) any {
	switch v := v.(type) {
	case int:
		return int64(v)
	case []any:
		for i := range v {
			v[i] = normalize(v[i])
		}
		return v
	}
	return v
}
