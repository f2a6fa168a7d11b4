package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Stamped at build time, e.g.
//
//	go build -ldflags "-X main.version=v1.2.0 -X main.commit=$(git rev-parse HEAD) -X main.date=$(date -u +%FT%TZ)" ./cmd/herald
//
// Left empty, they fall back to what the Go toolchain recorded in the
// binary (the module version of "go install ...@v1.2.0", and the VCS
// revision and time of a build from a checkout), and finally to "devel" and
// "unknown". The Dockerfile and .goreleaser.yaml stamp these three names.
var (
	version string
	commit  string
	date    string
)

func init() {
	register("version", "print the version, commit and build date", runVersion)
}

// buildInfo is what "herald version" prints.
type buildInfo struct {
	Version, Commit, Date string
}

// currentBuild returns the stamped values, falling back to the toolchain's
// build information.
func currentBuild() buildInfo {
	b := buildInfo{Version: version, Commit: commit, Date: date}
	if info, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && b.Commit == "":
				b.Commit = s.Value
			case s.Key == "vcs.time" && b.Date == "":
				b.Date = s.Value
			}
		}
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	if b.Date == "" {
		b.Date = "unknown"
	}
	return b
}

func (b buildInfo) String() string {
	return fmt.Sprintf("herald %s (commit %s, built %s, %s %s/%s)", b.Version, b.Commit, b.Date, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	fmt.Fprintln(stdout, currentBuild())
	return nil
}
