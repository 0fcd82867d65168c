package beater

import (
	"sync"
	"sync/atomic"

	"github.com/openctibeat/openctibeat/checkpoint"
	"github.com/openctibeat/openctibeat/mapping"
)

// handoff publishes on its own goroutine: the stream goroutine decodes and
// maps the next messages while earlier ones go through libbeat's client
// (its processors and event normalisation run in the caller of Publish).
// One queue and one goroutine keep the stream's order, so the position
// still moves only over acknowledged events in order. This put a second
// core to work on the beat's own stages (issue #6).
//
// Publish must not be called concurrently with drain or after stop.
type handoff struct {
	next    publisher
	queue   chan handoffItem
	pending sync.WaitGroup
	stopped atomic.Bool
	done    chan struct{}
}

type handoffItem struct {
	pos  checkpoint.Position
	docs []mapping.Doc
}

// newHandoff starts the publishing goroutine; size bounds the messages
// waiting for it (back-pressure reaches the stream beyond that).
func newHandoff(next publisher, size int) *handoff {
	h := &handoff{next: next, queue: make(chan handoffItem, size), done: make(chan struct{})}
	go h.run()
	return h
}

// Publish queues the documents of the message that moved the stream to pos.
func (h *handoff) Publish(pos checkpoint.Position, docs []mapping.Doc) {
	h.pending.Add(1)
	h.queue <- handoffItem{pos, docs}
}

func (h *handoff) run() {
	defer close(h.done)
	for it := range h.queue {
		if !h.stopped.Load() {
			h.next.Publish(it.pos, it.docs)
		}
		h.pending.Done()
	}
}

// drain returns when every queued message has been published.
func (h *handoff) drain() { h.pending.Wait() }

// stop ends the goroutine; messages still queued are not published (their
// positions are never acknowledged, so they are read again after a
// restart). Call wait after the publisher below is closed, which releases
// a Publish blocked on a full pipeline.
func (h *handoff) stop() {
	h.stopped.Store(true)
	close(h.queue)
}

// wait returns when the goroutine has ended.
func (h *handoff) wait() { <-h.done }
