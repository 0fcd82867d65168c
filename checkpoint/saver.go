package checkpoint

import (
	"context"
	"sync"

	"github.com/elastic/elastic-agent-libs/logp"
)

// Saver writes positions to a Store off the acknowledging goroutine: Set
// never blocks; a background loop writes the newest position, coalescing
// positions that arrive while a write is under way.
type Saver struct {
	store *Store
	log   *logp.Logger

	mu      sync.Mutex
	latest  Position
	dirty   bool
	saved   Position
	hasSave bool
	wake    chan struct{}
}

// NewSaver saves into store.
func NewSaver(store *Store, log *logp.Logger) *Saver {
	return &Saver{store: store, log: log, wake: make(chan struct{}, 1)}
}

// Set records the newest acknowledged position.
func (s *Saver) Set(pos Position) {
	s.mu.Lock()
	s.latest, s.dirty = pos, true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Saved returns the last position written, if any.
func (s *Saver) Saved() (Position, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saved, s.hasSave
}

// Run writes positions until ctx ends, then writes the last one.
func (s *Saver) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			s.Flush()
			return
		case <-s.wake:
			s.Flush()
		}
	}
}

// Flush writes the newest position now if it was not written yet.
func (s *Saver) Flush() {
	s.mu.Lock()
	pos, dirty := s.latest, s.dirty
	s.dirty = false
	s.mu.Unlock()
	if !dirty {
		return
	}
	if err := s.store.Save(pos); err != nil {
		s.log.Errorw("cannot save the stream position; will retry with the next acknowledgement", "error", err)
		s.mu.Lock()
		if !s.dirty {
			s.dirty = true
		}
		s.mu.Unlock()
		return
	}
	s.mu.Lock()
	s.saved, s.hasSave = pos, true
	s.mu.Unlock()
}
