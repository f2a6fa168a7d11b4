package node

import (
	"bufio"
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// metricName finds the metric names in a PromQL expression.
var metricName = regexp.MustCompile(`\bherald_[a-zA-Z0-9_]+`)

// exprLine finds an alert rule's expression in deploy/alerts.yml (one line
// each, which the file keeps to).
var exprLine = regexp.MustCompile(`(?m)^\s*expr:\s*(.+)$`)

func TestDeployFilesNameOnlyMetricsThatExist(t *testing.T) {
	n := startNode(t, Config{})
	exported := exportedFamilies(t, n)

	var exprs []string
	b, err := os.ReadFile("../deploy/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dashboard any
	if err := json.Unmarshal(b, &dashboard); err != nil {
		t.Fatalf("deploy/grafana-dashboard.json: %v", err)
	}
	exprs = appendExprs(exprs, dashboard)
	b, err = os.ReadFile("../deploy/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range exprLine.FindAllStringSubmatch(string(b), -1) {
		exprs = append(exprs, m[1])
	}

	used := map[string]bool{}
	for _, e := range exprs {
		for _, name := range metricName.FindAllString(e, -1) {
			used[name] = true
		}
	}
	if len(used) < 5 {
		t.Fatalf("found only %d metric names in deploy/ (%v): is the parsing of the files broken?", len(used), used)
	}
	var missing []string
	for name := range used {
		if !exported[name] && !exported[family(name)] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("deploy/ names metrics a node does not export: %s", strings.Join(missing, ", "))
	}
}

// family strips a histogram series' suffix from name.
func family(name string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if f, ok := strings.CutSuffix(name, suffix); ok {
			return f
		}
	}
	return name
}

// exportedFamilies scrapes the node's /metrics and returns the names of
// its families (each of Herald's has a sample from the start).
func exportedFamilies(t *testing.T, n *node) map[string]bool {
	t.Helper()
	resp, err := n.http.Client().Get(n.http.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	names := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "# TYPE "); ok {
			names[strings.Fields(rest)[0]] = true
		}
	}
	return names
}

// appendExprs appends the "expr" strings found anywhere in a decoded JSON
// document (a Grafana dashboard's panel targets).
func appendExprs(dst []string, v any) []string {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "expr" {
				dst = append(dst, s)
				continue
			}
			dst = appendExprs(dst, x)
		}
	case []any:
		for _, x := range v {
			dst = appendExprs(dst, x)
		}
	}
	return dst
}
