package publish

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/openctibeat/openctibeat/checkpoint"
	"github.com/openctibeat/openctibeat/mapping"
)

// closingPipeline behaves as libbeat's pipeline does when it closes with
// events its output never took: it drops them, and reports the dropped
// events to the client as acknowledged.
type closingPipeline struct {
	*fakePipeline
	acked  int // events acknowledged so far
	closed bool
}

func (c *closingPipeline) ack(n int) {
	c.acked += n
	c.fakePipeline.ack(n)
}

func (c *closingPipeline) Close() error {
	c.closed = true
	if n := len(c.published()) - c.acked; n > 0 {
		c.ack(n)
	}
	return nil
}

// guarded publishes one document per position, "1-0" to "<n>-0", through a
// Guard over a closingPipeline, and records the saved positions.
func guarded(t *testing.T, n int, wait time.Duration) (*closingPipeline, *Guard, *Publisher, func() string) {
	t.Helper()
	cp := &closingPipeline{fakePipeline: &fakePipeline{}}
	g := NewGuard(cp, wait)
	var mu sync.Mutex
	last := ""
	tr := checkpoint.NewTracker(checkpoint.Position{StartFrom: "0-0"}, func(p checkpoint.Position) { mu.Lock(); last = p.StartFrom; mu.Unlock() })
	p, err := New(g, tr, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		p.Publish(checkpoint.Position{StartFrom: positionID(i)}, []mapping.Doc{{Op: mapping.Index, Index: "i", ID: positionID(i), Fields: map[string]any{"a": 1}}})
	}
	return cp, g, p, func() string { mu.Lock(); defer mu.Unlock(); return last }
}

func positionID(i int) string { return fmt.Sprintf("%d-0", i) }

// TestGuardIgnoresTheDropsOfClose: the events libbeat's pipeline drops as
// it closes, and reports as acknowledged, do not move the position.
func TestGuardIgnoresTheDropsOfClose(t *testing.T) {
	cp, g, _, saved := guarded(t, 3, 10*time.Millisecond)
	cp.ack(1)
	if got := saved(); got != "1-0" {
		t.Fatalf("saved %q before the close, want 1-0", got)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if !cp.closed {
		t.Fatal("the pipeline was not closed")
	}
	if got := saved(); got != "1-0" {
		t.Fatalf("saved %q after the close, want 1-0: events dropped at close counted as acknowledged", got)
	}
}

// TestGuardWaitsForPendingAcknowledgements: the acknowledgements that come
// while Close waits count; events published once it closes never go to the
// pipeline.
func TestGuardWaitsForPendingAcknowledgements(t *testing.T) {
	cp, g, p, saved := guarded(t, 3, time.Minute)
	closed := make(chan error, 1)
	go func() { closed <- g.Close() }()
	for !g.isClosing() {
		time.Sleep(time.Millisecond)
	}
	p.Publish(checkpoint.Position{StartFrom: "4-0"}, []mapping.Doc{{Op: mapping.Index, Index: "i", ID: "4", Fields: map[string]any{"a": 1}}})
	if n := len(cp.published()); n != 3 {
		t.Fatalf("%d events reached the pipeline, want 3: one was published after the close began", n)
	}
	cp.ack(3)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if got := saved(); got != "3-0" {
		t.Fatalf("saved %q, want 3-0", got)
	}
}
