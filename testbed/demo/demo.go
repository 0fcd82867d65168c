// Package demo runs openctibeat end to end on this machine: the project's
// OpenCTI test server replays the bundled sample stream, the beat binary
// writes it to a search engine, and the result is printed.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/openctibeat/openctibeat/checkpoint"
	"github.com/openctibeat/openctibeat/config"
	"github.com/openctibeat/openctibeat/testbed/esproxy"
	"github.com/openctibeat/openctibeat/testbed/octiserver"
)

// Options configure a demo run.
type Options struct {
	// Beat is the beat binary.
	Beat string
	// Dir holds the run's configuration, data and log.
	Dir string
	// Events is the stream to replay (JSON lines, see octiserver.LoadEvents).
	Events string
	// EngineURL is the search engine (OpenSearch or Elasticsearch).
	EngineURL string
	// Mode is the beat's mode: "ecs" (default) or "stix".
	Mode string
	// Index receives the documents.
	Index string
	// Objects is a JSON file of STIX objects (an array) in the platform's
	// database without stream events (the authors, markings, places the
	// events refer to, which OpenCTI sends before them); "" for none. The
	// TLP marking definitions are always there, as on the platform.
	Objects string
	// Timeout bounds the wait for the stream to be indexed.
	Timeout time.Duration
	Out     io.Writer
}

const token = "demo-token"

// Run replays the stream and prints what was indexed.
func Run(ctx context.Context, o Options) error {
	events, err := octiserver.LoadEvents(o.Events)
	if err != nil {
		return err
	}
	if len(events) == 0 {
		return fmt.Errorf("%s holds no events", o.Events)
	}
	if o.Mode == "" {
		o.Mode = "ecs"
	}
	// The sample's indicators are long expired: add a few current ones so
	// that ecs mode has something to show.
	events = append(events, freshIndicators(events[len(events)-1].ID, time.Now())...)
	objects, err := loadObjects(o.Objects)
	if err != nil {
		return err
	}
	octi, err := octiserver.New(octiserver.Options{Token: token, StreamIDs: []string{"demo"}, Events: events, Objects: objects, HeartbeatInterval: time.Second})
	if err != nil {
		return err
	}
	defer octi.Close()
	proxy, err := esproxy.New(o.EngineURL)
	if err != nil {
		return err
	}
	defer proxy.Close()

	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return err
	}
	_ = os.RemoveAll(filepath.Join(o.Dir, "data"))
	cfg := fmt.Sprintf(`openctibeat:
  opencti.url: %q
  opencti.token: %q
  stream.id: demo
  start.from: "0-0"
  start.recover: false
  mode: %s
  %s.index: %q
output.elasticsearch.hosts: [%q]
setup.ilm.enabled: false
logging.to_files: false
logging.to_stderr: true
`, octi.URL(), token, o.Mode, o.Mode, o.Index, proxy.URL())
	cfgPath := filepath.Join(o.Dir, "opencti-beat.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	logPath := filepath.Join(o.Dir, "beat.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	if err := deleteIndex(o.EngineURL, o.Index); err != nil {
		return err
	}

	fmt.Fprintf(o.Out, "demo: OpenCTI test server %s replays %d events of %s\n", octi.URL(), len(events), o.Events)
	fmt.Fprintf(o.Out, "demo: openctibeat (%s mode) -> %s (engine %s), index %s; log in %s\n", o.Mode, proxy.URL(), o.EngineURL, o.Index, logPath)
	cmd := exec.CommandContext(ctx, o.Beat, "-e", "--path.home", o.Dir, "--path.config", o.Dir, "--path.data", filepath.Join(o.Dir, "data"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = config.WithoutLegacyEnv(os.Environ())
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopBeat := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			return err
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			return errors.New("the beat did not stop within 30s")
		}
	}

	last := events[len(events)-1].ID
	store := checkpoint.NewStore(filepath.Join(o.Dir, "data", "opencti-stream-position.json"))
	deadline := time.Now().Add(o.Timeout)
	for {
		pos, ok, _ := store.Load()
		if ok && pos.StartFrom == last {
			break
		}
		select {
		case err := <-exited:
			return fmt.Errorf("the beat exited early (%v); see %s", err, logPath)
		case <-ctx.Done():
			_ = stopBeat()
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = stopBeat()
			return fmt.Errorf("the stream was not indexed within %s; see %s", o.Timeout, logPath)
		}
	}
	if err := stopBeat(); err != nil {
		return err
	}
	return report(o)
}

func report(o Options) error {
	if _, err := request(http.MethodPost, o.EngineURL+"/"+url.PathEscape(o.Index)+"/_refresh", ""); err != nil {
		return err
	}
	var count struct {
		Count int `json:"count"`
	}
	body, err := request(http.MethodGet, o.EngineURL+"/"+url.PathEscape(o.Index)+"/_count", "")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, &count); err != nil {
		return err
	}
	var types struct {
		Aggregations struct {
			Types struct {
				Buckets []struct {
					Key   string `json:"key"`
					Count int    `json:"doc_count"`
				} `json:"buckets"`
			} `json:"types"`
		} `json:"aggregations"`
		Hits struct {
			Hits []struct {
				ID     string          `json:"_id"`
				Source json.RawMessage `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	typeField, label, first := "type", "STIX type", `{"term":{"type":"indicator"}}`
	if o.Mode == "ecs" {
		typeField, label, first = "threat.indicator.type", "threat.indicator.type", `{"term":{"threat.indicator.type":"ipv4-addr"}}`
	}
	q := `{"size":1,"post_filter":` + first + `,"aggs":{"types":{"terms":{"field":"` + typeField + `","size":50}}}}`
	body, err = request(http.MethodPost, o.EngineURL+"/"+url.PathEscape(o.Index)+"/_search", q)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, &types); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "\ndemo: %d documents in index %s\n", count.Count, o.Index)
	var parts []string
	for _, b := range types.Aggregations.Types.Buckets {
		parts = append(parts, fmt.Sprintf("%s=%d", b.Key, b.Count))
	}
	fmt.Fprintf(o.Out, "demo: by %s: %s\n", label, strings.Join(parts, " "))
	if len(types.Hits.Hits) > 0 {
		h := types.Hits.Hits[0]
		var pretty map[string]any
		_ = json.Unmarshal(h.Source, &pretty)
		b, _ := json.MarshalIndent(pretty, "", "  ")
		fmt.Fprintf(o.Out, "demo: one document (_id %s):\n%s\n", h.ID, b)
	}
	return nil
}

func deleteIndex(engine, index string) error {
	req, err := http.NewRequest(http.MethodDelete, engine+"/"+url.PathEscape(index)+"?ignore_unavailable=true", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("search engine %s unreachable: %w", engine, err)
	}
	resp.Body.Close()
	return nil
}

func request(method, u, body string) ([]byte, error) {
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("%s %s: HTTP %d: %s", method, u, resp.StatusCode, b)
	}
	return b, nil
}

// loadObjects reads the platform's objects: the TLP markings, then path's.
func loadObjects(path string) ([]any, error) {
	var objs []any
	for _, m := range octiserver.TLPMarkings() {
		objs = append(objs, m)
	}
	if path == "" {
		return objs, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var more []any
	if err := json.Unmarshal(b, &more); err != nil {
		return nil, fmt.Errorf("%s: a JSON array of STIX objects: %w", path, err)
	}
	return append(objs, more...), nil
}
