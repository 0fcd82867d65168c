package publish

import (
	"sync"

	"github.com/elastic/beats/v7/libbeat/beat"
)

// fakePipeline hands out one client whose events the test acknowledges.
type fakePipeline struct {
	mu       sync.Mutex
	listener beat.EventListener
	events   []beat.Event
}

func (f *fakePipeline) ConnectWith(cfg beat.ClientConfig) (beat.Client, error) {
	f.listener = cfg.EventListener
	return &fakeClient{f: f}, nil
}

func (f *fakePipeline) Connect() (beat.Client, error) { return f.ConnectWith(beat.ClientConfig{}) }

// ack acknowledges the n oldest unacknowledged events.
func (f *fakePipeline) ack(n int) { f.listener.ACKEvents(n) }

func (f *fakePipeline) published() []beat.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]beat.Event(nil), f.events...)
}

type fakeClient struct{ f *fakePipeline }

func (c *fakeClient) Publish(e beat.Event) { c.PublishAll([]beat.Event{e}) }

func (c *fakeClient) PublishAll(es []beat.Event) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	for _, e := range es {
		c.f.listener.AddEvent(e, true)
		c.f.events = append(c.f.events, e)
	}
}

func (c *fakeClient) Close() error { return nil }
