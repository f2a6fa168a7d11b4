package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// clearHeraldEnv unsets every HERALD_* variable for the test.
func clearHeraldEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "HERALD_") {
			t.Setenv(k, "") // restored when the test ends
			os.Unsetenv(k)
		}
	}
}

// writeFile writes content to name in a fresh directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// printedConfig runs herald serve --print-config with args and returns
// what it printed, failing the test unless it exits 0.
func printedConfig(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), append(append([]string{"serve"}, args...), "--print-config"), &stdout, &stderr); code != 0 {
		t.Fatalf("herald serve %v --print-config: exit %d: %s", args, code, stderr.String())
	}
	return stdout.String()
}

// decodeConfig reads --print-config's output.
func decodeConfig(t *testing.T, printed string) map[string]any {
	t.Helper()
	var doc map[string]any
	if _, err := toml.Decode(printed, &doc); err != nil {
		t.Fatalf("--print-config printed invalid TOML: %v\n%s", err, printed)
	}
	return doc
}

const twoIssuers = `
heartbeat = "20s"
max-update-bytes = "8MiB"
cors-origin = ["https://a.example", "https://b.example"]
subscriptions = true
max-conns-per-ip = 7

[[issuers]]
id = "https://auth.example"
publisher-keys = ["auth-publisher-secret-1", "auth-publisher-secret-2"]
subscriber-jwks-url = "https://auth.example/jwks.json"

[[issuers]]
id = "https://partner.example"
subscriber-keys = ["partner-subscriber-secret"]
subscriber-alg = "HS256"
`

func TestConfigFileSetsSettingsAndFlagsOverrideIt(t *testing.T) {
	clearHeraldEnv(t)
	path := writeFile(t, "herald.toml", twoIssuers)
	doc := decodeConfig(t, printedConfig(t, "--config", path, "--heartbeat", "5s"))
	want := map[string]any{
		"heartbeat":        "5s", // the flag wins
		"max-update-bytes": int64(8 << 20),
		"cors-origin":      []any{"https://a.example", "https://b.example"},
		"subscriptions":    true,
		"max-conns-per-ip": int64(7),
		"retain-count":     int64(0), // a default
	}
	for k, v := range want {
		if !reflect.DeepEqual(doc[k], v) {
			t.Errorf("%s = %#v, want %#v", k, doc[k], v)
		}
	}
	issuers, _ := doc["issuers"].([]map[string]any)
	if len(issuers) != 2 || issuers[0]["id"] != "https://auth.example" || issuers[1]["id"] != "https://partner.example" ||
		issuers[0]["subscriber-jwks-url"] != "https://auth.example/jwks.json" || !reflect.DeepEqual(issuers[0]["publisher-keys"], []any{"****", "****"}) {
		t.Errorf("issuers = %v, want both issuers of the file, keys masked", doc["issuers"])
	}
}

func TestEnvironmentOverridesConfigFileAndFlagsOverrideBoth(t *testing.T) {
	clearHeraldEnv(t)
	t.Setenv("HERALD_HEARTBEAT", "7s")
	t.Setenv("HERALD_CORS_ORIGIN", "https://env.example")
	t.Setenv("HERALD_MAX_UPDATE_BYTES", "2MiB")
	path := writeFile(t, "herald.toml", twoIssuers)
	doc := decodeConfig(t, printedConfig(t, "--config", path, "--max-update-bytes", "3MiB"))
	if doc["heartbeat"] != "7s" || !reflect.DeepEqual(doc["cors-origin"], []any{"https://env.example"}) || doc["max-update-bytes"] != int64(3<<20) || doc["max-conns-per-ip"] != int64(7) {
		t.Errorf("heartbeat %v, cors-origin %v, max-update-bytes %v, max-conns-per-ip %v; want 7s and https://env.example from the environment, 3MiB from the flag, 7 from the file",
			doc["heartbeat"], doc["cors-origin"], doc["max-update-bytes"], doc["max-conns-per-ip"])
	}
}

func TestConfigFileMayBeYAML(t *testing.T) {
	clearHeraldEnv(t)
	yamlPath := writeFile(t, "herald.yaml", `
heartbeat: 20s
max-update-bytes: 8MiB
cors-origin: [https://a.example, https://b.example]
subscriptions: true
max-conns-per-ip: 7
issuers:
  - id: https://auth.example
    publisher-keys: [auth-publisher-secret-1, auth-publisher-secret-2]
    subscriber-jwks-url: https://auth.example/jwks.json
  - id: https://partner.example
    subscriber-keys: [partner-subscriber-secret]
    subscriber-alg: HS256
`)
	tomlPath := writeFile(t, "herald.toml", twoIssuers)
	if fromYAML, fromTOML := printedConfig(t, "--config", yamlPath), printedConfig(t, "--config", tomlPath); fromYAML != fromTOML {
		t.Errorf("the same settings in YAML and TOML print differently:\nYAML:\n%s\nTOML:\n%s", fromYAML, fromTOML)
	}
}

func TestPrintConfigMasksSecretsAndRoundTrips(t *testing.T) {
	clearHeraldEnv(t)
	pem := writeFile(t, "subscriber.pem", "-----BEGIN PUBLIC KEY-----\n")
	path := writeFile(t, "herald.toml", twoIssuers+`
`)
	args := []string{"--config", path, "--publisher-key", "top-level-publisher-secret",
		"--subscriber-alg", "RS256", "--subscriber-key", pem, "--log", "redis://default:redis-password@127.0.0.1:6379/0?stream=s"}
	printed := printedConfig(t, args...)
	for _, secret := range []string{"top-level-publisher-secret", "auth-publisher-secret", "partner-subscriber-secret", "redis-password"} {
		if strings.Contains(printed, secret) {
			t.Errorf("--print-config shows the secret %q:\n%s", secret, printed)
		}
	}
	doc := decodeConfig(t, printed)
	if doc["publisher-key"] != "****" || doc["subscriber-key"] != pem || doc["log"] != "redis://default:****@127.0.0.1:6379/0?stream=s" {
		t.Errorf("publisher-key %v, subscriber-key %v, log %v; want the secret masked, the PEM file's path kept, the password masked", doc["publisher-key"], doc["subscriber-key"], doc["log"])
	}
	again := writeFile(t, "printed.toml", printed)
	if reprinted := printedConfig(t, "--config", again); reprinted != printed {
		t.Errorf("--print-config of its own output differs:\nfirst:\n%s\nsecond:\n%s", printed, reprinted)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"serve", "--config", again, "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), `"****" is the mask --print-config writes`) {
		t.Errorf("serving with masked keys: exit %d, %q; want a refusal naming the mask", code, stderr.String())
	}
}

func TestConfigFileErrorsNameTheFileTheLineAndTheFix(t *testing.T) {
	clearHeraldEnv(t)
	tests := []struct {
		name, file, content string
		args                []string
		wantErr             string
	}{
		{"unknown key", "h.toml", "addr = \":1\"\nbogus = 5\n", nil, `h.toml:2: unknown setting "bogus"`},
		{"underscores", "h.toml", "max_update_bytes = \"1MiB\"\n", nil, `h.toml:1: unknown setting "max_update_bytes": did you mean "max-update-bytes"?`},
		{"wrong type", "h.toml", "\nheartbeat = 5\n", nil, `h.toml:2: heartbeat must be a duration, such as "15s", not a whole number`},
		{"bad duration", "h.toml", "heartbeat = \"5 s\"\n", nil, `h.toml:1: heartbeat: "5 s" is not a duration`},
		{"bad size", "h.toml", "max-update-bytes = \"lots\"\n", nil, `h.toml:1: max-update-bytes: "lots" is not a size in bytes`},
		{"list for a string", "h.toml", "addr = [\":1\"]\n", nil, `h.toml:1: addr must be a string in quotes, not a list`},
		{"the config itself", "h.toml", "config = \"other.toml\"\n", nil, `h.toml:1: config cannot be set in the configuration file`},
		{"not TOML", "h.toml", "addr = \n", nil, `h.toml:1: not valid TOML`},
		{"singular issuer tables", "h.toml", "[[issuer]]\nid = \"x\"\n", nil, `h.toml:1: issuer must be a string in quotes, not tables (issuers with their own keys go in [[issuers]] tables)`},
		{"unknown issuer key", "h.toml", "[[issuers]]\nid = \"x\"\npublisher-key = \"k\"\n", nil, `h.toml:3: unknown issuer setting "publisher-key"`},
		{"issuer without id", "h.toml", "\n[[issuers]]\npublisher-keys = [\"k\"]\n", nil, `h.toml:2: an [[issuers]] table needs an id`},
		{"issuer without keys", "h.toml", "[[issuers]]\nid = \"x\"\n", nil, `h.toml:1: issuer "x" has no keys`},
		{"issuer twice", "h.toml", "[[issuers]]\nid = \"x\"\npublisher-keys = [\"k\"]\n[[issuers]]\nid = \"x\"\npublisher-keys = [\"k\"]\n", nil, `h.toml:4: issuer "x" is given twice`},
		{"issuer also a flag", "h.toml", "[[issuers]]\nid = \"x\"\npublisher-keys = [\"k\"]\n", []string{"--issuer", "x"}, `issuer "x" is both --issuer and an [[issuers]] table`},
		{"unknown YAML key", "h.yaml", "addr: \":1\"\nbogus: 5\n", nil, `h.yaml:2: unknown setting "bogus"`},
		{"YAML not a mapping", "h.yml", "- addr\n", nil, `h.yml:1: the top level must be a mapping`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.file, tt.content)
			var stdout, stderr bytes.Buffer
			args := append([]string{"serve", "--config", path, "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, tt.args...)
			code := run(context.Background(), args, &stdout, &stderr)
			errOut := stderr.String()
			if code != 1 || !strings.HasPrefix(errOut, "herald serve: ") || !strings.Contains(errOut, tt.wantErr) || strings.Count(errOut, "\n") != 1 {
				t.Fatalf("exit %d, stderr %q; want exit 1 and one line containing %q", code, errOut, tt.wantErr)
			}
		})
	}
	var stdout, stderr bytes.Buffer
	missing := filepath.Join(t.TempDir(), "missing.toml")
	if code := run(context.Background(), []string{"serve", "--config", missing}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "--config: open "+missing) {
		t.Errorf("missing file: exit %d, %q; want exit 1 naming the file", code, stderr.String())
	}
}

// The configuration file sets flags by name, and the environment beats it
// because each flag's default is its HERALD_* variable: every flag must
// have the variable envName derives from its name.
func TestEveryServeFlagHasTheEnvironmentVariableOfItsName(t *testing.T) {
	var stdout, stderr bytes.Buffer
	run(context.Background(), []string{"serve", "-h"}, &stdout, &stderr)
	blocks := strings.Split(stderr.String(), "\n  -")[1:]
	if len(blocks) < 30 {
		t.Fatalf("herald serve -h lists %d flags:\n%s", len(blocks), stderr.String())
	}
	for _, b := range blocks {
		name, _, _ := strings.Cut(b, " ")
		name, _, _ = strings.Cut(name, "\n")
		if notInFile[name] && name != "config" {
			continue
		}
		if usage := strings.Join(strings.Fields(b), " "); !strings.Contains(usage, "env "+envName(name)) {
			t.Errorf("flag --%s does not say it reads %s: %q", name, envName(name), usage)
		}
	}
}

// A real node serves what its configuration file says: the size limit and
// the public URL come from the file, and probes reach it on any host.
func TestNodeServesWhatItsConfigFileSays(t *testing.T) {
	path := writeFile(t, "herald.toml", "max-update-bytes = \"100B\"\npublic-url = [\"http://hub.example\"]\n")
	p := startHerald(t, "--config", path) // waits for /healthz, on the node's own address
	post := func(host, data string) int {
		req, _ := http.NewRequest(http.MethodPost, p.URL()+"/.well-known/mercure", strings.NewReader("topic=t&data="+data))
		req.Host = host
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+publisherToken(t, testPublisherKey))
		resp, err := procRequests.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(strings.TrimPrefix(p.URL(), "http://"), "small"); got != http.StatusMisdirectedRequest {
		t.Errorf("publish to the node's address: %d, want 421 (public-url from the file)", got)
	}
	if got := post("hub.example", "small"); got != http.StatusOK {
		t.Errorf("small publish to hub.example: %d, want 200", got)
	}
	if got := post("hub.example", strings.Repeat("x", 200)); got != http.StatusRequestEntityTooLarge {
		t.Errorf("200-byte publish: %d, want 413 (max-update-bytes from the file)", got)
	}
}
