//go:build mage

// Targets of openctibeat. Run them with "go run mage.go TARGET" (no mage
// install needed); "go run mage.go -l" lists them.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/magefile/mage/mg"
	"github.com/magefile/mage/sh"

	"github.com/openctibeat/openctibeat/internal/demo"
)

var Default = Build

const (
	binary      = "build/openctibeat"
	engineEnv   = "OPENCTIBEAT_OPENSEARCH_URL"
	requireEnv  = "OPENCTIBEAT_REQUIRE_ENGINE"
	sampleEvent = "internal/testbed/octiserver/testdata/sample-stream.jsonl"
)

// Build compiles the beat into build/openctibeat.
func Build() error {
	return sh.RunV("go", "build", "-o", binary, ".")
}

// Config regenerates opencti-beat.yml from _meta/config/beat.yml.tmpl.
func Config() error {
	b, err := os.ReadFile("_meta/config/beat.yml.tmpl")
	if err != nil {
		return err
	}
	return os.WriteFile("opencti-beat.yml", b, 0o600)
}

// Check runs gofmt and go vet (with and without the integration tag).
func Check() error {
	out, err := sh.Output("gofmt", "-l", ".")
	if err != nil {
		return err
	}
	if strings.TrimSpace(out) != "" {
		return fmt.Errorf("gofmt would change:\n%s", out)
	}
	if err := sh.RunV("go", "vet", "./..."); err != nil {
		return err
	}
	return sh.RunV("go", "vet", "-tags", "integration", "./...")
}

// Test runs the whole suite: checks, unit tests and the integration tests
// on a real OpenSearch started (and stopped) by scripts/opensearch.sh.
func Test() error {
	mg.Deps(Check)
	url, stop, err := engine("test")
	if err != nil {
		return err
	}
	defer stop()
	return sh.RunWithV(map[string]string{engineEnv: url, requireEnv: "1"},
		"go", "test", "-tags", "integration", "-count=1", "-timeout", "30m", "./...")
}

// Run runs the beat. With OPENCTI_URL set it runs against that OpenCTI and
// the output configured in opencti-beat.yml (or ELASTICSEARCH_HOSTS) until
// interrupted. Without it, it runs the demo: the project's OpenCTI test
// server replays a sample stream into a local OpenSearch started by
// scripts/opensearch.sh, and the result is printed.
func Run() error {
	mg.Deps(Build)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if os.Getenv("OPENCTI_URL") != "" {
		home, _ := filepath.Abs("build/home")
		if err := os.MkdirAll(home, 0o755); err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, binary, "-e", "-c", mustAbs("opencti-beat.yml"), "--path.home", home)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = 30 * time.Second
		return cmd.Run()
	}
	fmt.Println("OPENCTI_URL is not set: running the demo (set OPENCTI_URL and OPENCTI_TOKEN to run against your OpenCTI).")
	url, stop, err := engine("demo")
	if err != nil {
		return err
	}
	defer stop()
	return demo.Run(ctx, demo.Options{
		Beat: mustAbs(binary), Dir: mustAbs("build/demo"), Events: sampleEvent,
		EngineURL: url, Mode: "ecs", Index: "logs-ti_openctibeat.indicator-demo", Timeout: 3 * time.Minute, Out: os.Stdout,
	})
}

// engine returns the search engine to use: OPENCTIBEAT_OPENSEARCH_URL when
// set, else a fresh OpenSearch from scripts/opensearch.sh, stopped by stop.
func engine(purpose string) (url string, stop func(), err error) {
	if u := os.Getenv(engineEnv); u != "" {
		return u, func() {}, nil
	}
	runDir := filepath.Join(os.TempDir(), fmt.Sprintf("openctibeat-opensearch-%s-%d", purpose, os.Getpid()))
	env := map[string]string{"OPENCTIBEAT_RUN_DIR": runDir}
	fmt.Println("starting OpenSearch (installed once into the cache by scripts/opensearch.sh) ...")
	out, err := sh.OutputWith(env, "bash", "scripts/opensearch.sh", "start")
	stop = func() {
		if err := sh.RunWith(env, "bash", "scripts/opensearch.sh", "stop"); err != nil {
			fmt.Fprintln(os.Stderr, "stopping OpenSearch:", err)
		}
	}
	if err != nil {
		stop()
		return "", nil, errors.Join(errors.New("cannot start OpenSearch with scripts/opensearch.sh"), err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return strings.TrimSpace(lines[len(lines)-1]), stop, nil
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		panic(err)
	}
	return a
}
