package main

// Checks of what ships beside the binary and cannot be built here (the
// image, the unit, the manifests): each must agree with the binary.

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dockerBuildLine finds the Dockerfile's go build command.
var dockerBuildLine = regexp.MustCompile(`(?m)^RUN (CGO_ENABLED=0 go build .*-ldflags "([^"]*)".* \./cmd/herald)$`)

// stampedVars finds the main package variables an -ldflags string sets.
var stampedVars = regexp.MustCompile(`-X main\.(\w+)=`)

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func varsOf(ldflags string) []string {
	var names []string
	for _, m := range stampedVars.FindAllStringSubmatch(ldflags, -1) {
		names = append(names, m[1])
	}
	slices.Sort(names)
	return names
}

// The Dockerfile's build line, with its build arguments filled in, stamps
// what "herald version" and "herald --version" print; the release config
// stamps the same variables.
func TestVersionPrintsWhatTheDockerfileBuildStamps(t *testing.T) {
	m := dockerBuildLine.FindStringSubmatch(readRepoFile(t, "Dockerfile"))
	if m == nil {
		t.Fatal(`Dockerfile has no line "RUN CGO_ENABLED=0 go build ... -ldflags "..." ... ./cmd/herald"`)
	}
	ldflags := m[2]
	if got, want := varsOf(ldflags), []string{"commit", "date", "version"}; !slices.Equal(got, want) {
		t.Fatalf("the Dockerfile stamps main.%v, want main.%v", got, want)
	}
	m2 := regexp.MustCompile(`(?m)^\s*- (-s -w -X main\..*)$`).FindStringSubmatch(readRepoFile(t, ".goreleaser.yaml"))
	if m2 == nil || !slices.Equal(varsOf(m2[1]), varsOf(ldflags)) {
		t.Fatalf(".goreleaser.yaml's ldflags %q stamp other variables than the Dockerfile's %q", m2, ldflags)
	}

	stamp := strings.NewReplacer("${VERSION}", "v9.8.7-test", "${COMMIT}", "0123abcd4567", "${DATE}", "2031-02-03T04:05:06Z").Replace(ldflags)
	bin := filepath.Join(t.TempDir(), "herald")
	if out, err := exec.Command("go", "build", "-ldflags", stamp, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -ldflags %q: %v\n%s", stamp, err, out)
	}
	for _, arg := range []string{"version", "--version"} {
		out, err := exec.Command(bin, arg).CombinedOutput()
		if err != nil {
			t.Fatalf("herald %s: %v\n%s", arg, err, out)
		}
		for _, want := range []string{"herald v9.8.7-test", "commit 0123abcd4567", "built 2031-02-03T04:05:06Z"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("herald %s printed %q, want it to contain %q", arg, out, want)
			}
		}
	}
}

// Unstamped, the version falls back to the toolchain's and never prints an
// empty field.
func TestVersionWithoutStampsStillNamesEveryField(t *testing.T) {
	code, out, errOut := runCmd(t, "--version")
	if code != 0 || !regexp.MustCompile(`^herald \S+ \(commit \S+, built \S+, go`).MatchString(out) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestDockerfileBuildsAStaticNonRootImageThatChecksItsHealth(t *testing.T) {
	df := readRepoFile(t, "Dockerfile")
	goMod := readRepoFile(t, "go.mod")
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(goMod)
	builder := regexp.MustCompile(`(?m)^FROM golang:(\d+\.\d+)\S* AS build$`).FindStringSubmatch(df)
	if goVersion == nil || builder == nil || builder[1] != goVersion[1] {
		t.Errorf("the Dockerfile builds with golang:%v, go.mod asks for go %v: keep them the same", builder, goVersion)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^USER 65532:65532$`),
		regexp.MustCompile(`(?m)^VOLUME /data$`),
		regexp.MustCompile(`(?m)^EXPOSE 8080$`),
		regexp.MustCompile(`(?m)^HEALTHCHECK .*\n\s*CMD \["/usr/local/bin/herald", "healthcheck", "http://127\.0\.0\.1:8080/healthz"\]$`),
		regexp.MustCompile(`(?m)^CMD \["serve", "--addr", ":8080", "--data-dir", "/data"\]$`),
		regexp.MustCompile(`(?m)^FROM gcr\.io/distroless/static\S*:nonroot$`),
	} {
		if !want.MatchString(df) {
			t.Errorf("the Dockerfile has no line matching %s", want)
		}
	}
	if _, ok := commands["healthcheck"]; !ok {
		t.Error(`the image's health check runs "herald healthcheck", which does not exist`)
	}
}

// The unit parses and verifies, with its binary path pointed at an
// executable that exists here, and keeps its hardening.
func TestSystemdUnitVerifies(t *testing.T) {
	unit := readRepoFile(t, "deploy/herald.service")
	for _, want := range []string{
		"NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/herald", "DynamicUser=yes",
		"LimitNOFILE=1048576", "Restart=on-failure", "ExecReload=/bin/kill -HUP $MAINPID",
		"ExecStart=/usr/local/bin/herald serve --addr :8080 --data-dir /var/lib/herald",
	} {
		if !strings.Contains(unit, "\n"+want+"\n") {
			t.Errorf("deploy/herald.service has no line %q", want)
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the unit is checked for its lines only")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "herald.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/herald", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(analyze, "security", "--offline=yes", "--threshold=30", path).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security rates the unit's exposure above 3.0: %v\n%s", err, out)
	}
}
