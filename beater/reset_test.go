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
	"github.com/openctibeat/openctibeat/mapping"
	"github.com/openctibeat/openctibeat/mapping/stixmode"
	"github.com/openctibeat/openctibeat/opencti"
	"github.com/openctibeat/openctibeat/opencti/stream"
	"github.com/openctibeat/openctibeat/testbed/octiserver"
)

// ackingPublisher acknowledges at once, like an output that always succeeds.
type ackingPublisher struct {
	tracker *checkpoint.Tracker
	mu      sync.Mutex
	got     []string
}

func (a *ackingPublisher) Publish(pos checkpoint.Position, docs []mapping.Doc) {
	e := a.tracker.Add(pos, len(docs))
	privates := make([]any, len(docs))
	for i := range docs {
		privates[i] = e
	}
	a.tracker.ACK(privates)
	a.mu.Lock()
	a.got = append(a.got, pos.StartFrom)
	a.mu.Unlock()
}

// TestResetRestartsTheStream: a reset position stops the stream, is saved,
// and the stream is read again from it.
func TestResetRestartsTheStream(t *testing.T) {
	var events []octiserver.Event
	for i := 1; i <= 10; i++ {
		obj := map[string]any{"type": "malware", "id": fmt.Sprintf("malware--%08d-0000-4000-8000-000000000000", i), "name": "m"}
		events = append(events, octiserver.Event{ID: fmt.Sprintf("%d-0", i), Name: "create", Data: octiserver.Envelope("create", obj, nil)})
	}
	// The last group (10-0) is complete once a heartbeat carries a later id:
	// the platform's "<now>-0" after an empty read.
	srv, err := octiserver.New(octiserver.Options{Token: "tok", Events: events, HeartbeatInterval: 20 * time.Millisecond, BatchTime: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	var mu sync.Mutex
	var saved []string
	tracker := checkpoint.NewTracker(checkpoint.Position{StartFrom: "0-0"}, func(p checkpoint.Position) {
		mu.Lock()
		saved = append(saved, p.StartFrom)
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
	resets := make(chan checkpoint.Position, 1)
	done := make(chan error, 1)
	go func() {
		done <- runStream(ctx, client, c, queued, tracker, resets, streamRewinds{}, logptest.NewTestingLogger(t, ""))
	}()

	waitUntil(t, "the first pass", func() bool { mu.Lock(); defer mu.Unlock(); return len(saved) > 0 && saved[len(saved)-1] == "10-0" })
	pub.mu.Lock()
	before := len(pub.got)
	pub.mu.Unlock()
	resets <- checkpoint.Position{StartFrom: "3-0"}
	waitUntil(t, "the second pass", func() bool { return len(srv.StreamRequests()) == 2 && pubCountAfter(pub, before, "10-0") > 0 })
	cancel()
	<-done
	if r := srv.StreamRequests()[1]; r.LastEventID != "3-0" {
		t.Fatalf("restart from %q, want 3-0", r.LastEventID)
	}
	mu.Lock()
	defer mu.Unlock()
	if i := index(saved, "3-0"); i < 0 || saved[len(saved)-1] != "10-0" {
		t.Fatalf("saved %v", saved)
	}
}

func pubCount(p *ackingPublisher, id string) int { return pubCountAfter(p, 0, id) }

func pubCountAfter(p *ackingPublisher, from int, id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, g := range p.got[from:] {
		if g == id {
			n++
		}
	}
	return n
}

func index(s []string, x string) int {
	for i, y := range s {
		if y == x {
			return i
		}
	}
	return -1
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
