package publish

import (
	"io"
	"sync"
	"time"

	"github.com/elastic/beats/v7/libbeat/beat"
)

// Guard is libbeat's pipeline, as the beat's clients and libbeat's stop
// see it, minus the acknowledgements that acknowledge nothing.
//
// When libbeat's pipeline closes, the batches its output gives back (a
// bulk request cut short, an engine that does not answer) are dropped, and
// libbeat reports dropped events to the client exactly as acknowledged
// ones (publisher/pipeline ttlBatch.Drop and eventConsumer.retry). Counted,
// they would move the saved position past events the engine never
// received (issue #10). So the Guard, which libbeat closes instead of the
// pipeline (it closes the pipeline before it calls the beater's Stop):
//  1. takes no new events;
//  2. waits up to its wait for the events already published to be
//     acknowledged (an output that works acknowledges them in
//     milliseconds; they count);
//  3. from then on forwards no acknowledgement: the events not acknowledged
//     by then are read again at the next start;
//  4. closes the pipeline.
type Guard struct {
	next beat.Pipeline
	wait time.Duration

	mu      sync.Mutex
	cond    *sync.Cond
	pending int  // events published and not yet acknowledged
	closing bool // no new events
	sealed  bool // no more acknowledgements forwarded
}

var (
	_ beat.Pipeline = (*Guard)(nil)
	_ io.Closer     = (*Guard)(nil)
)

// NewGuard wraps pipeline; wait bounds step 2 of Close.
func NewGuard(pipeline beat.Pipeline, wait time.Duration) *Guard {
	g := &Guard{next: pipeline, wait: wait}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// ConnectWith connects a client of the pipeline whose acknowledgements go
// through the Guard.
func (g *Guard) ConnectWith(cfg beat.ClientConfig) (beat.Client, error) {
	if cfg.EventListener != nil {
		cfg.EventListener = &guardedListener{g: g, next: cfg.EventListener}
	}
	c, err := g.next.ConnectWith(cfg)
	if err != nil {
		return nil, err
	}
	return &guardedClient{g: g, next: c}, nil
}

// Connect connects a client with the default settings.
func (g *Guard) Connect() (beat.Client, error) { return g.ConnectWith(beat.ClientConfig{}) }

// Close takes no new events, waits for the pending acknowledgements (up to
// the Guard's wait), stops forwarding any, then closes the pipeline.
func (g *Guard) Close() error {
	g.mu.Lock()
	g.closing = true
	timer := time.AfterFunc(g.wait, func() {
		g.mu.Lock()
		g.sealed = true
		g.cond.Broadcast()
		g.mu.Unlock()
	})
	for g.pending > 0 && !g.sealed {
		g.cond.Wait()
	}
	g.sealed = true
	g.mu.Unlock()
	timer.Stop()
	if c, ok := g.next.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

func (g *Guard) isClosing() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closing
}

// guardedClient drops the events published once the Guard is closing:
// they are never acknowledged, so the position never passes them.
type guardedClient struct {
	g    *Guard
	next beat.Client
}

func (c *guardedClient) Publish(e beat.Event) {
	if !c.g.isClosing() {
		c.next.Publish(e)
	}
}

func (c *guardedClient) PublishAll(es []beat.Event) {
	if !c.g.isClosing() {
		c.next.PublishAll(es)
	}
}

func (c *guardedClient) Close() error { return c.next.Close() }

// guardedListener counts the pending events and forwards the
// acknowledgements until the Guard is sealed.
type guardedListener struct {
	g    *Guard
	next beat.EventListener
}

func (l *guardedListener) AddEvent(e beat.Event, published bool) {
	if published {
		l.g.mu.Lock()
		l.g.pending++
		l.g.mu.Unlock()
	}
	l.next.AddEvent(e, published)
}

func (l *guardedListener) ACKEvents(n int) {
	l.g.mu.Lock()
	l.g.pending -= n
	sealed := l.g.sealed
	l.g.cond.Broadcast()
	l.g.mu.Unlock()
	if !sealed {
		l.next.ACKEvents(n)
	}
}

func (l *guardedListener) ClientClosed() { l.next.ClientClosed() }
