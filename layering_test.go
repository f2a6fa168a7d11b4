package herald

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/heraldhub/herald"

// allowed lists, for each package, the module's packages it may import
// (non-test files). Arrows point one way: cmd → node → mercure/jobs/web →
// hub → eventlog → sse, and hub → hub/detach (its connection engine). A backend never imports the hub.
var allowed = map[string][]string{
	"sse":                            {},
	"client":                         {"sse"},
	"eventlog":                       {"sse"},
	"eventlog/logtest":               {"eventlog", "sse", "internal/tcpproxy"},
	"eventlog/boltlog":               {"eventlog", "sse"},
	"eventlog/redislog":              {"eventlog", "sse"},
	"eventlog/natslog":               {"eventlog", "sse"},
	"hub":                            {"eventlog", "sse", "hub/detach"},
	"auth":                           {},
	"mercure":                        {"hub", "auth", "eventlog", "sse", "internal/httperr", "internal/cors", "internal/clientaddr", "internal/authz"},
	"jobs":                           {"eventlog", "sse", "auth", "internal/httperr"},
	"web":                            {},
	"hub/hubtest":                    {"sse"},
	"internal/demo":                  {"jobs", "internal/httperr"},
	"internal/loadgen":               {"sse", "client", "internal/uring"},
	"internal/tcpproxy":              {},
	"internal/httperr":               {"auth", "eventlog"},
	"internal/cors":                  {},
	"internal/authz":                 {"auth", "hub"},
	"internal/ratelimit":             {"internal/httperr", "internal/clientaddr"},
	"internal/browsertest":           {},
	"internal/proctest":              {},
	"node":                           {"*"},
	"cmd/herald":                     {"*"},
	".":                              {},
	"internal/clientaddr":            {},
	"internal/floodtest":             {},
	"scripts/attack-selectors":       {"internal/floodtest"},
	"hub/detach":                     {"internal/uring"},
	"internal/uring":                 {},
	"internal/doctor":                {"sse"},
	"presence":                       {"hub", "auth", "eventlog", "sse", "internal/httperr", "internal/authz"},
	"internal/dashboard":             {"hub", "auth", "eventlog", "jobs", "internal/authz", "internal/httperr"},
	"webhook":                        {},
	"internal/outbound":              {"webhook"},
	"internal/outbound/outboundtest": {"webhook"},
	"push":                           {"hub", "auth", "eventlog", "sse", "mercure", "internal/authz", "internal/httperr", "internal/outbound"},
	"jobhook":                        {"jobs", "eventlog", "sse", "internal/outbound"},
	"heraldclient":                   {"client", "jobs", "sse"},
}

// packages returns every package directory of the module (relative path →
// non-test Go files), skipping testdata and the separate bench module.
func packages(t *testing.T) map[string][]string {
	t.Helper()
	pkgs := map[string][]string{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") || path == "bench" || path == "examples") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			pkgs[filepath.Dir(path)] = append(pkgs[filepath.Dir(path)], path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

func TestPackagesImportOnlyLayersBelowThem(t *testing.T) {
	fset := token.NewFileSet()
	for dir, files := range packages(t) {
		rules, known := allowed[dir]
		if !known {
			t.Errorf("package %s is not in the layering table of layering_test.go: add it with what it may import", dir)
			continue
		}
		for _, file := range files {
			f, err := parser.ParseFile(fset, file, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if !strings.HasPrefix(path, module+"/") {
					continue
				}
				dep := strings.TrimPrefix(path, module+"/")
				if !permits(rules, dep) {
					t.Errorf("%s imports %s, which is not below it (allowed: %v)", file, dep, rules)
				}
			}
		}
	}
}

func permits(rules []string, dep string) bool {
	for _, r := range rules {
		if r == "*" {
			return !strings.HasPrefix(dep, "cmd/")
		}
		if r == dep {
			return true
		}
	}
	return false
}

func TestEveryPackageHasADocComment(t *testing.T) {
	fset := token.NewFileSet()
	for dir, files := range packages(t) {
		documented := false
		for _, file := range files {
			f, err := parser.ParseFile(fset, file, nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "" {
				documented = true
			}
		}
		if !documented {
			t.Errorf("package %s has no package doc comment (add a doc.go)", dir)
		}
		if _, err := os.Stat(filepath.Join(dir, "doc.go")); err != nil && dir != "cmd/herald" {
			t.Errorf("package %s has no doc.go", dir)
		}
	}
}
