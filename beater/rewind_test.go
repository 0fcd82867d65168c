package beater

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/elastic/elastic-agent-libs/logp/logptest"
	"github.com/elastic/elastic-agent-libs/monitoring"

	"github.com/openctibeat/openctibeat/checkpoint"
	"github.com/openctibeat/openctibeat/mapping/stixmode"
	"github.com/openctibeat/openctibeat/opencti"
	"github.com/openctibeat/openctibeat/opencti/stream"
	"github.com/openctibeat/openctibeat/publish"
	"github.com/openctibeat/openctibeat/testbed/octiserver"
)

// TestRewindRereadsFromTheSavedPosition: a rewind (the engine accepts
// writes again after refusing them) stops the stream and reads it again
// from the saved position; the request is answered once the tracker
// restarted there.
func TestRewindRereadsFromTheSavedPosition(t *testing.T) {
	var events []octiserver.Event
	for i := 1; i <= 10; i++ {
		obj := map[string]any{"type": "malware", "id": fmt.Sprintf("malware--%08d-0000-4000-8000-000000000000", i), "name": "m"}
		events = append(events, octiserver.Event{ID: fmt.Sprintf("%d-0", i), Name: "create", Data: octiserver.Envelope("create", obj, nil)})
	}
	srv, err := octiserver.New(octiserver.Options{Token: "tok", Events: events, HeartbeatInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	saved := &savedPosition{pos: checkpoint.Position{StartFrom: "0-0"}}
	var mu sync.Mutex
	var resets []string
	tracker := checkpoint.NewTracker(checkpoint.Position{StartFrom: "0-0"}, func(p checkpoint.Position) {
		mu.Lock()
		resets = append(resets, p.StartFrom)
		mu.Unlock()
	})
	pub := &ackingPublisher{tracker: tracker}
	queued := newHandoff(pub, 4)
	defer func() { queued.stop(); queued.wait() }()
	c := newConsumer(consumerParams{start: checkpoint.Position{StartFrom: "0-0"}, mapper: stixmode.New(stixmode.DefaultConfig()),
		publisher: queued, log: logptest.NewTestingLogger(t, ""), metrics: newMetrics(monitoring.NewRegistry())})
	conn := opencti.DefaultConfig()
	conn.URL, conn.Token = srv.URL(), "tok"
	client, err := stream.New(conn, stream.DefaultConfig(), logptest.NewTestingLogger(t, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	requests := make(chan rewindRequest)
	done := make(chan error, 1)
	go func() {
		done <- runStream(ctx, client, c, queued, tracker, nil, streamRewinds{requests, saved}, logptest.NewTestingLogger(t, ""))
	}()

	// The last message (10-0) is published at 9-0: its group is complete
	// only once a later id comes.
	waitUntil(t, "the first pass", func() bool { return pubCount(pub, "9-0") == 1 })
	// The tracker saved 4-0 when the engine refused what came after.
	saved.set(checkpoint.Position{StartFrom: "4-0"})
	req := rewindRequest{done: make(chan struct{})}
	requests <- req
	select {
	case <-req.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the rewind was not answered")
	}
	waitUntil(t, "the second pass", func() bool { return len(srv.StreamRequests()) == 2 && pubCount(pub, "9-0") == 2 })
	cancel()
	<-done
	if r := srv.StreamRequests()[1]; r.LastEventID != "4-0" {
		t.Fatalf("read again from %q, want 4-0", r.LastEventID)
	}
	if pubCount(pub, "3-0") != 1 || pubCount(pub, "5-0") != 2 {
		t.Fatal("the second pass did not start right after the saved position")
	}
	mu.Lock()
	defer mu.Unlock()
	if index(resets, "4-0") < 0 {
		t.Fatalf("the tracker did not restart at 4-0: %v", resets)
	}
}

func TestOutputRefusals(t *testing.T) {
	if got := outputRefusals(nil)(); got != (publish.Refusals{}) {
		t.Fatalf("no registry: %+v", got)
	}
	reg := monitoring.NewRegistry()
	read := outputRefusals(reg)
	if got := read(); got != (publish.Refusals{}) {
		t.Fatalf("before the output exists: %+v", got)
	}
	out := reg.GetOrCreateRegistry("libbeat.output")
	monitoring.NewUint(out, "events.dropped").Add(2)
	monitoring.NewUint(out, "events.dead_letter").Add(5)
	monitoring.NewUint(out, "events.acked").Add(100)
	if got := read(); got != (publish.Refusals{DeadLetter: 5, Dropped: 2}) {
		t.Fatalf("got %+v", got)
	}
}
