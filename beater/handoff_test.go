package beater

import (
	"fmt"
	"sync"
	"testing"

	"github.com/openctibeat/openctibeat/checkpoint"
	"github.com/openctibeat/openctibeat/mapping"
)

// gatedPublisher records positions; each Publish waits for the gate.
type gatedPublisher struct {
	gate chan struct{}
	mu   sync.Mutex
	got  []string
}

func (g *gatedPublisher) Publish(pos checkpoint.Position, _ []mapping.Doc) {
	<-g.gate
	g.mu.Lock()
	g.got = append(g.got, pos.StartFrom)
	g.mu.Unlock()
}

func (g *gatedPublisher) published() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.got...)
}

func TestHandoffKeepsOrderAndDrains(t *testing.T) {
	g := &gatedPublisher{gate: make(chan struct{})}
	close(g.gate)
	h := newHandoff(g, 3)
	var want []string
	for i := 1; i <= 100; i++ {
		id := fmt.Sprintf("%d-0", i)
		want = append(want, id)
		h.Publish(checkpoint.Position{StartFrom: id}, nil)
	}
	h.drain()
	if got := g.published(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("published %v", got)
	}
	h.stop()
	h.wait()
}

func TestHandoffStopDropsTheQueue(t *testing.T) {
	g := &gatedPublisher{gate: make(chan struct{})}
	h := newHandoff(g, 8)
	for i := 1; i <= 5; i++ {
		h.Publish(checkpoint.Position{StartFrom: fmt.Sprintf("%d-0", i)}, nil)
	}
	// The first message is being published (waiting at the gate); the
	// others are queued. Stopping lets the first one finish and drops the
	// rest: their positions are never acknowledged.
	h.stop()
	close(g.gate)
	h.wait()
	if got := g.published(); len(got) > 1 || (len(got) == 1 && got[0] != "1-0") {
		t.Fatalf("published after stop: %v", got)
	}
}
