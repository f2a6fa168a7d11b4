package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// flattenYAML reads the block-style subset of YAML the Kubernetes examples
// are written in (mappings, lists of mappings, scalars, JSON flow values;
// documents separated by ---) into one map per document from dotted paths
// ("spec.template.spec.containers[0].image") to scalar values. It reports
// what it does not understand rather than guess: the module has no YAML
// library, and the examples keep to this subset.
func flattenYAML(src string) ([]map[string]string, error) {
	type frame struct {
		indent int
		path   string
	}
	var docs []map[string]string
	doc := map[string]string{}
	var stack []frame
	items := map[string]int{}
	for n, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if trimmed == "---" {
			docs, doc, stack, items = append(docs, doc), map[string]string{}, nil, map[string]int{}
			continue
		}
		if strings.ContainsRune(line, '\t') {
			return nil, fmt.Errorf("line %d: a tab", n+1)
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		parent := ""
		if len(stack) > 0 {
			parent = stack[len(stack)-1].path
		}
		if rest, ok := strings.CutPrefix(trimmed, "- "); ok {
			item := fmt.Sprintf("%s[%d]", parent, items[parent])
			items[parent]++
			stack = append(stack, frame{indent, item})
			indent, parent, trimmed = indent+2, item, rest
			if !strings.Contains(rest, ": ") && !strings.HasSuffix(rest, ":") {
				doc[item] = unquote(rest)
				continue
			}
		}
		key, value, ok := strings.Cut(trimmed, ":")
		if !ok || strings.ContainsAny(key, `"'{}[]`) {
			return nil, fmt.Errorf("line %d: %q is not a key: value", n+1, trimmed)
		}
		path := strings.TrimPrefix(parent+"."+key, ".")
		stack = append(stack, frame{indent, path})
		if value = strings.TrimSpace(value); value != "" {
			doc[path] = unquote(value)
		}
	}
	return append(docs, doc), nil
}

func unquote(v string) string {
	if s, err := strconv.Unquote(v); err == nil {
		return s
	}
	return v
}

// serveOptions returns the flag names and HERALD_ variables herald serve
// defines, from its source.
func serveOptions(t *testing.T) (flags, env map[string]bool) {
	t.Helper()
	src, err := os.ReadFile("serve.go")
	if err != nil {
		t.Fatal(err)
	}
	flags, env = map[string]bool{}, map[string]bool{}
	for _, m := range regexp.MustCompile(`fs\.\w+\([^"]*"([a-z0-9-]+)"`).FindAllStringSubmatch(string(src), -1) {
		flags[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`"(HERALD_[A-Z0-9_]+)"`).FindAllStringSubmatch(string(src), -1) {
		env[m[1]] = true
	}
	return flags, env
}

// The examples parse, name only serve flags and variables that exist, and
// give every Herald container its probes, its port and its storage.
func TestKubernetesExamplesProbeAndKeepTheirLog(t *testing.T) {
	flags, env := serveOptions(t)
	files, _ := filepath.Glob("../../deploy/kubernetes/*.yaml")
	if len(files) < 3 {
		t.Fatalf("deploy/kubernetes has %d YAML files, want secret, statefulset and cluster", len(files))
	}
	kinds := map[string]map[string]string{}
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := flattenYAML(string(src))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for i, doc := range docs {
			for _, key := range []string{"apiVersion", "kind", "metadata.name"} {
				if doc[key] == "" {
					t.Errorf("%s, document %d: no %s", file, i+1, key)
				}
			}
			kinds[doc["kind"]+" in "+filepath.Base(file)] = doc
		}
	}
	for name, doc := range kinds {
		if !strings.HasPrefix(name, "StatefulSet") && !strings.HasPrefix(name, "Deployment") {
			continue
		}
		c := "spec.template.spec.containers[0]."
		want := map[string]string{
			c + "readinessProbe.httpGet.path": "/readyz",
			c + "livenessProbe.httpGet.path":  "/healthz",
			c + "ports[0].containerPort":      "8080",
			c + "ports[0].name":               "http",
		}
		for k, v := range want {
			if doc[k] != v {
				t.Errorf("%s: %s is %q, want %q", name, k, doc[k], v)
			}
		}
		var args []string
		if err := json.Unmarshal([]byte(doc[c+"args"]), &args); err != nil || len(args) == 0 || args[0] != "serve" {
			t.Errorf("%s: args %q: want a JSON list starting with serve", name, doc[c+"args"])
		}
		for _, a := range args[min(1, len(args)):] {
			if f, ok := strings.CutPrefix(a, "--"); ok && !flags[f] {
				t.Errorf("%s: herald serve has no flag %s", name, a)
			}
		}
		for i := 0; doc[fmt.Sprintf("%senv[%d].name", c, i)] != ""; i++ {
			if v := doc[fmt.Sprintf("%senv[%d].name", c, i)]; !env[v] {
				t.Errorf("%s: herald serve reads no variable %s", name, v)
			}
		}
		i := slices.Index(args, "--data-dir")
		if i < 0 || i+1 == len(args) {
			t.Errorf("%s: args %v give no --data-dir", name, args)
		} else if mount := doc[c+"volumeMounts[0].mountPath"]; mount != args[i+1] {
			t.Errorf("%s: the data dir %s is not the mounted volume %q", name, args[i+1], mount)
		}
	}
	sts := kinds["StatefulSet in statefulset.yaml"]
	if sts["spec.volumeClaimTemplates[0].metadata.name"] != sts["spec.template.spec.containers[0].volumeMounts[0].name"] || sts["spec.replicas"] != "1" {
		t.Errorf("the StatefulSet must keep its bolt log on its volume claim, with one replica: %v", sts)
	}
	dep := kinds["Deployment in cluster.yaml"]
	if n, _ := strconv.Atoi(dep["spec.replicas"]); n < 2 || !strings.HasPrefix(dep["spec.template.spec.containers[0].env[0].value"], "redis://") {
		t.Errorf("the Deployment must run several nodes on a shared Redis log: replicas %q, log %q", dep["spec.replicas"], dep["spec.template.spec.containers[0].env[0].value"])
	}
}

func TestFlattenYAMLReadsListsOfMappings(t *testing.T) {
	docs, err := flattenYAML("a: 1\nb:\n  - name: x\n    port: 80\n  - name: \"y\"\n    args: [\"p\", \"q\"]\n---\nkind: K\n")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "1", "b[0].name": "x", "b[0].port": "80", "b[1].name": "y", "b[1].args": `["p", "q"]`}
	if len(docs) != 2 || fmt.Sprint(docs[0]) != fmt.Sprint(want) || docs[1]["kind"] != "K" {
		t.Fatalf("got %v, want [%v map[kind:K]]", docs, want)
	}
}
