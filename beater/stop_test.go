package beater

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/elastic/beats/v7/libbeat/beat"
	"github.com/elastic/elastic-agent-libs/logp/logptest"
	"github.com/elastic/elastic-agent-libs/monitoring"

	"github.com/openctibeat/openctibeat/checkpoint"
	"github.com/openctibeat/openctibeat/config"
	"github.com/openctibeat/openctibeat/testbed/octiserver"
)

// silentPipeline is an output that acknowledges nothing (an engine that
// is down or does not answer) in front of a queue of size events: once it
// is full, publishing blocks until the client is closed, as libbeat's does.
type silentPipeline struct{ size int }

func (p silentPipeline) ConnectWith(cfg beat.ClientConfig) (beat.Client, error) {
	return &silentClient{listener: cfg.EventListener, room: p.size, closed: make(chan struct{})}, nil
}

func (p silentPipeline) Connect() (beat.Client, error) { return p.ConnectWith(beat.ClientConfig{}) }

type silentClient struct {
	listener beat.EventListener
	mu       sync.Mutex
	room     int
	closed   chan struct{}
	once     sync.Once
}

func (c *silentClient) Publish(e beat.Event) { c.PublishAll([]beat.Event{e}) }

func (c *silentClient) PublishAll(es []beat.Event) {
	for _, e := range es {
		c.mu.Lock()
		full := c.room == 0
		if !full {
			c.room--
		}
		c.mu.Unlock()
		if full {
			<-c.closed // a full queue: wait for room that never comes
			return
		}
		c.listener.AddEvent(e, true)
	}
}

func (c *silentClient) Close() error { c.once.Do(func() { close(c.closed) }); return nil }

// TestStopWithTheOutputDown: with an output that acknowledges nothing, the
// pipeline's queue fills up, the publishing goroutine waits for room in
// it, the handoff queue fills up behind it and the stream handler waits for
// room there. Stopping returns all the same (issue #10: it hung for ever)
// and the saved position is still the start.
func TestStopWithTheOutputDown(t *testing.T) {
	malware := func(n, v int) map[string]any {
		return map[string]any{"type": "malware", "spec_version": "2.1", "id": fmt.Sprintf("malware--%08d-0000-4000-8000-000000000000", n),
			"name": fmt.Sprintf("m%d v%d", n, v), "created": "2024-01-01T00:00:00.000Z", "modified": fmt.Sprintf("2024-01-01T00:00:%02d.000Z", v)}
	}
	// A create and an update of one object (the update waits for the
	// create's acknowledgement), then more creates than the queues hold.
	events := []octiserver.Event{
		{ID: "1-0", Name: "create", Data: octiserver.Envelope("create", malware(1, 1), nil)},
		{ID: "2-0", Name: "update", Data: octiserver.Envelope("update", malware(1, 2), nil)},
	}
	for i := 3; i < handoffSize+50; i++ {
		events = append(events, octiserver.Event{ID: fmt.Sprintf("%d-0", i), Name: "create", Data: octiserver.Envelope("create", malware(i, 1), nil)})
	}
	srv, err := octiserver.New(octiserver.Options{Token: "tok", Events: events, HeartbeatInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	cfg := config.Default()
	cfg.OpenCTI.URL, cfg.OpenCTI.Token = srv.URL(), "tok"
	cfg.Mode = config.ModeSTIX
	cfg.Start.Recover = false
	store := checkpoint.NewStore(filepath.Join(t.TempDir(), "position.json"))
	reg := monitoring.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Params{Config: cfg, Log: logptest.NewTestingLogger(t, ""), Pipeline: silentPipeline{size: 20},
			Registry: reg, Store: store, DataPath: t.TempDir()})
	}()

	// The pipeline takes 20, the publishing goroutine waits with the 21st,
	// handoffSize messages fill the handoff queue and one more waits for
	// room: nothing moves any more.
	received := func() int64 {
		ints := monitoring.CollectFlatSnapshot(reg, monitoring.Full, false).Ints
		return ints["events.received.create_total"] + ints["events.received.update_total"]
	}
	waitUntil(t, "the stream to wait for the output", func() bool { return received() >= handoffSize+20 })
	// Until nothing moves for half a second (the race detector slows the
	// last steps down).
	stable := received()
	waitUntil(t, "the stream to stop moving", func() bool {
		time.Sleep(500 * time.Millisecond)
		n := received()
		moved := n != stable
		stable = n
		return !moved
	})
	if stable >= int64(len(events)) {
		t.Fatalf("the stream did not wait for the output: all %d messages received", stable)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30 s of the stop")
	}
	if pos, ok, err := store.Load(); err != nil || !ok || pos != (checkpoint.Position{StartFrom: "0-0"}) {
		t.Fatalf("saved position %+v (%v, %v); the output acknowledged nothing: it must be the start", pos, ok, err)
	}
}

// TestAwaitStop: Run's result is returned as it comes; once stopped, a Run
// that does not return is given up on after the timeout.
func TestAwaitStop(t *testing.T) {
	errRun := errors.New("run failed")
	done := make(chan error, 1)
	done <- errRun
	if err := awaitStop(context.Background(), done, time.Hour, logptest.NewTestingLogger(t, "")); !errors.Is(err, errRun) {
		t.Fatalf("awaitStop = %v, want %v", err, errRun)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	log, logs := logptest.NewTestingLoggerWithObserver(t, "")
	if err := awaitStop(ctx, make(chan error), time.Millisecond, log); err != nil {
		t.Fatalf("awaitStop = %v, want nil", err)
	}
	if n := logs.FilterMessageSnippet("did not stop in time").Len(); n != 1 {
		t.Fatalf("%d log lines about the stop timeout, want 1", n)
	}
}
