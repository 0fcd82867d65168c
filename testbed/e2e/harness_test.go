//go:build integration

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openctibeat/openctibeat/checkpoint"
	"github.com/openctibeat/openctibeat/config"
	"github.com/openctibeat/openctibeat/testbed/engine"
)

var beatBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "openctibeat-e2e-bin")
	if err != nil {
		panic(err)
	}
	beatBinary = filepath.Join(dir, "openctibeat")
	build := exec.Command("go", "build", "-o", beatBinary, "github.com/openctibeat/openctibeat")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the beat failed:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// beatProc is one run of the beat binary.
type beatProc struct {
	t         *testing.T
	cmd       *exec.Cmd
	dir       string
	statsPort int
	out       *syncBuffer
	done      chan struct{}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type beatOptions struct {
	openctiURL string
	token      string
	streamID   string
	esURL      string
	index      string
	recover    bool   // start.recover
	mode       string // "" = stix
	sightings  bool   // run the sightings module (ecs mode)
	extra      string // more YAML appended to the configuration
}

func (o beatOptions) modeOrDefault() string {
	if o.mode == "" {
		return "stix"
	}
	return o.mode
}

// ecsIndex is the ecs mode index of the test: it must match logs-ti_*.
func (o beatOptions) ecsIndex() string { return "logs-ti_" + o.index + "-default" }

// writeConfig writes the beat's configuration into dir.
func writeConfig(t *testing.T, dir string, o beatOptions, statsPort int) {
	t.Helper()
	cfg := fmt.Sprintf(`
openctibeat:
  opencti.url: %q
  opencti.token: %q
  stream.id: %q
  stream.idle_timeout: 10s
  stream.backoff.init: 100ms
  stream.backoff.max: 1s
  start.from: "0-0"
  start.recover: %t
  mode: %s
  stix.index: %q
  ecs.index: %q
  ecs.expiry.check_interval: 2s
output.elasticsearch:
  hosts: [%q]
  backoff.init: 100ms
  backoff.max: 1s
  bulk_max_size: 200
  # Two bulk requests in flight, as in the reference configuration.
  worker: 2
queue.mem.flush.timeout: 50ms
setup.ilm.enabled: false
http.enabled: true
http.host: 127.0.0.1
http.port: %d
logging.level: info
logging.to_stderr: true
logging.to_files: false
logging.event_data.to_stderr: true
logging.event_data.to_files: false
openctibeat.sightings.enabled: %t
%s
`, o.openctiURL, o.token, o.streamID, o.recover, o.modeOrDefault(), o.index, o.ecsIndex(), o.esURL, statsPort, o.sightings, o.extra)
	if err := os.WriteFile(filepath.Join(dir, "opencti-beat.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startBeat runs the beat with its home (and path.data) in dir.
func startBeat(t *testing.T, dir string, o beatOptions) *beatProc {
	t.Helper()
	port := freePort(t)
	writeConfig(t, dir, o, port)
	cmd := exec.Command(beatBinary, "-e", "--path.home", dir, "--path.config", dir, "--path.data", filepath.Join(dir, "data"))
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = beatEnv()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &beatProc{t: t, cmd: cmd, dir: dir, statsPort: port, out: out, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if t.Failed() {
			p.dumpStacks()
		}
		p.kill()
		if t.Failed() {
			full := filepath.Join(os.TempDir(), fmt.Sprintf("openctibeat-e2e-%s-%d.log", strings.ReplaceAll(t.Name(), "/", "_"), cmd.Process.Pid))
			_ = os.WriteFile(full, []byte(out.String()), 0o644)
			t.Logf("beat output (last 6000 bytes; all of it in %s):\n%s", full, tail(out.String(), 6000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// beatEnv is the environment without the old connector's variables.
func beatEnv() []string { return config.WithoutLegacyEnv(os.Environ()) }

// dumpStacks makes a running beat print every goroutine's stack (Go's
// answer to SIGQUIT) into its output, for the log of a failed test.
func (p *beatProc) dumpStacks() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *beatProc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits for a clean exit.
func (p *beatProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Errorf("beat did not stop within 30s of SIGTERM")
		p.kill()
	}
}

// stats reads the beat's monitoring counters (flattened).
func (p *beatProc) stats() map[string]float64 {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/stats", p.statsPort))
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return nil
	}
	flat := map[string]float64{}
	flatten("", m, flat)
	return flat
}

func flatten(prefix string, v any, out map[string]float64) {
	switch x := v.(type) {
	case map[string]any:
		for k, vv := range x {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			flatten(key, vv, out)
		}
	case float64:
		out[prefix] = x
	}
}

// position reads the saved stream position.
func (p *beatProc) position() (checkpoint.Position, bool) {
	pos, ok, err := checkpoint.NewStore(filepath.Join(p.dir, "data", "opencti-stream-position.json")).Load()
	if err != nil {
		p.t.Fatal(err)
	}
	return pos, ok
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// indexState returns every document of index by _id (without @timestamp).
func indexState(t *testing.T, esURL, index string) map[string]map[string]any {
	t.Helper()
	engine.Refresh(t, esURL, index)
	out := map[string]map[string]any{}
	for _, h := range engine.All(t, esURL, index) {
		src := h.Source
		delete(src, "@timestamp")
		out[h.ID] = src
	}
	return out
}

func uniqueIndex(t *testing.T) string {
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	return fmt.Sprintf("e2e-%s-%d", name, time.Now().UnixNano()%1e6)
}

// startProxy serves h on a loopback port for the test's duration.
func startProxy(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
