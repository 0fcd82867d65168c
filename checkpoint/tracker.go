package checkpoint

import "sync"

// Tracker turns in-order acknowledgements into the newest position such that
// it and everything received before it are acknowledged.
type Tracker struct {
	mu      sync.Mutex
	pending []*Entry // in receive order
	head    int      // index of the oldest incomplete entry in pending
	saved   Position // the position last handed to onSave (or the start)
	onSave  func(Position)
}

// Entry is one received message awaiting its documents' acknowledgements.
// It is the Private value of every event published for the message.
type Entry struct {
	pos       Position
	remaining int
	dead      bool // dropped by Reset: its acknowledgements no longer count
}

// NewTracker starts at start and calls onSave each time the acknowledged
// position moves (or is reset), in the order the positions were reached:
// onSave runs under the tracker's lock, so it must be quick and must not
// call the tracker. (Called outside the lock, an acknowledgement racing
// the publishing goroutine or a reset could hand over an older position
// after a newer one: the saved position moved backwards or overwrote a
// reset.)
func NewTracker(start Position, onSave func(Position)) *Tracker {
	return &Tracker{saved: start, onSave: onSave}
}

// Add registers a received message whose handling published docs documents
// and after which the stream is at pos. Call it before publishing them.
func (t *Tracker) Add(pos Position, docs int) *Entry {
	e := &Entry{pos: pos, remaining: docs}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending = append(t.pending, e)
	t.advanceLocked()
	return e
}

// ACK records the acknowledgement of published events by their Private
// values, in the order they were acknowledged. Values that are not *Entry
// are ignored.
func (t *Tracker) ACK(privates []any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range privates {
		if e, ok := p.(*Entry); ok && !e.dead && e.remaining > 0 {
			e.remaining--
		}
	}
	t.advanceLocked()
}

// Reset restarts the tracker at pos: messages received before are dropped
// (their later acknowledgements are ignored) and pos is saved. It serves an
// operator's reset of the connector's state in OpenCTI.
func (t *Tracker) Reset(pos Position) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.pending[t.head:] {
		e.dead = true
	}
	t.pending, t.head = nil, 0
	t.saved = pos
	t.onSave(pos)
}

// Pending is the number of messages not yet fully acknowledged.
func (t *Tracker) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pending) - t.head
}

// advanceLocked moves past the acknowledged prefix and hands a new
// position to onSave.
func (t *Tracker) advanceLocked() {
	var last *Entry
	for t.head < len(t.pending) && t.pending[t.head].remaining == 0 {
		last = t.pending[t.head]
		t.pending[t.head] = nil
		t.head++
	}
	if t.head > 1024 && t.head*2 > len(t.pending) {
		t.pending = append(t.pending[:0:0], t.pending[t.head:]...)
		t.head = 0
	}
	if last == nil || last.pos == t.saved {
		return
	}
	t.saved = last.pos
	t.onSave(last.pos)
}

// Position is where the stream is after the entry's message.
func (e *Entry) Position() Position { return e.pos }
