//go:build mage

// Targets of openctibeat. Run them with "go run mage.go TARGET" (no mage
// install needed); "go run mage.go -l" lists them.
package main

import (
	"context"
	"encoding/json"
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

	"github.com/openctibeat/openctibeat/testbed/bench"
	"github.com/openctibeat/openctibeat/testbed/demo"
)

var Default = Build

const (
	binary      = "build/openctibeat"
	engineEnv   = "OPENCTIBEAT_OPENSEARCH_URL"
	requireEnv  = "OPENCTIBEAT_REQUIRE_ENGINE"
	sampleEvent = "testbed/octiserver/testdata/sample-stream.jsonl"
	// The objects the sample's events refer to, in the platform's database.
	sampleObjects = "testbed/octiserver/testdata/sample-objects.json"
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

// Test runs the whole suite: checks, the unit tests under the race
// detector (-short: without the tests that build and run the binary, and
// the 200k-event throughput test), then every unit and integration test on
// a real OpenSearch started (and stopped) by scripts/opensearch.sh.
func Test() error {
	mg.Deps(Check)
	if err := sh.RunV("go", "test", "-race", "-short", "-count=1", "-timeout", "20m", "./..."); err != nil {
		return err
	}
	url, stop, err := engine("test")
	if err != nil {
		return err
	}
	defer stop()
	return sh.RunWithV(map[string]string{engineEnv: url, requireEnv: "1"},
		"go", "test", "-tags", "integration", "-count=1", "-timeout", "45m", "./...")
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
		Beat: mustAbs(binary), Dir: mustAbs("build/demo"), Events: sampleEvent, Objects: sampleObjects,
		EngineURL: url, Mode: "ecs", Index: "logs-ti_openctibeat.indicator-demo", Timeout: 3 * time.Minute, Out: os.Stdout,
	})
}

// Bench runs the throughput benchmark (issue #6) and prints its figures,
// as human lines and one "BENCH_JSON {...}" line (also saved in
// build/bench/report.json). It generates BENCH_N (default 200000) synthetic
// indicators, runs build/openctibeat against a fast bulk sink and against a
// local OpenSearch, and the two baselines (a bare SSE+JSON loop, a plain
// bulk loader). Knobs: BENCH_N; BENCH_REPEAT (default 1: runs of the fast
// sink and the bare loop, medians reported); BENCH_PROFILE=1 (a profiled
// run; CPU and heap profiles in build/bench/); BENCH_SKIP_ENGINE=1 (fast-sink
// parts only); BENCH_FLUSH_TIMEOUT (the beat's queue.mem.flush.timeout,
// default 1s; "default" keeps libbeat's 10s); BENCH_OCTISERVER=0 (skip the
// cross-check run fed by the OpenCTI test server); BENCH_KEEP_CAPTURE=1
// (keep build/bench/opensearch-docs.ndjson, the documents sent to the
// engine); BENCH_LIVE_RATE / BENCH_LIVE_SECONDS (default 2000 events/s for
// 15 s: a paced "live" run into the fast sink for its latency; BENCH_LIVE=0
// skips it); BENCH_BEAT_EXTRA (YAML appended to the beat's configuration,
// e.g. "output.elasticsearch.worker: 2"); BENCH_SKIP_FAST=1 (OpenSearch parts
// only). OPENCTIBEAT_OPENSEARCH_URL uses a running engine instead of
// starting one. The sightings module has its own target, BenchSightings.
func Bench() error {
	mg.Deps(Build)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	o, err := bench.OptionsFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	o.Beat, o.Dir, o.Out = mustAbs(binary), mustAbs("build/bench"), os.Stdout
	if os.Getenv("BENCH_SKIP_ENGINE") != "1" {
		o.Engine = func() (string, func(), error) { return engine("bench") }
	}
	rep, err := bench.Run(ctx, o)
	if rep != nil {
		if b, jerr := json.MarshalIndent(rep, "", "  "); jerr == nil {
			_ = os.WriteFile(filepath.Join(o.Dir, "report.json"), b, 0o644)
		}
	}
	return err
}

// BenchSightings runs the sightings benchmark (issue #6) and prints its
// figures: 100,000 alerts over 1,000 indicators are bulk-loaded into a local
// OpenSearch (not timed), then the sightings module polls them to the end
// against the project's fake OpenCTI and every sighting count is checked
// exact. It prints alerts/s, polls, mutations made, GraphQL requests, CPU
// (test process and engine), and one "BENCH_SIGHTINGS_JSON {...}" line; no
// time is asserted. Knobs: BENCH_SIGHTINGS_ALERTS, BENCH_SIGHTINGS_INDICATORS.
// OPENCTIBEAT_OPENSEARCH_URL uses a running engine instead of starting one.
func BenchSightings() error {
	url, stop, err := engine("bench-sightings")
	if err != nil {
		return err
	}
	defer stop()
	return sh.RunWithV(map[string]string{engineEnv: url, requireEnv: "1"},
		"go", "test", "-tags", "integration", "-count=1", "-timeout", "60m",
		"-run", "^$", "-bench", "^BenchmarkIntegrationSightings$", "-benchtime", "1x", "./module/sightings/")
}

// Faults runs the fault-injection suite at full scale (issue #6): 20
// SIGKILLs during a 100,000-indicator backfill compared with an
// uninterrupted run, the engine process stopped and started again
// mid-stream, 50 forced disconnects, the token in no log line. The normal
// test run runs the same tests at a smaller scale.
func Faults() error {
	url, stop, err := engine("faults")
	if err != nil {
		return err
	}
	defer stop()
	return sh.RunWithV(map[string]string{engineEnv: url, requireEnv: "1", "OPENCTIBEAT_FAULTS": "full"},
		"go", "test", "-tags", "integration", "-count=1", "-timeout", "80m", "-v",
		"-run", "TestFault|TestTokenNeverLogged", "./testbed/e2e/")
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
