package beater

import (
	"sync"

	"github.com/elastic/elastic-agent-libs/monitoring"

	"github.com/openctibeat/openctibeat/checkpoint"
)

// lag reports how far the acknowledged position is behind the newest event
// id seen on the stream (heartbeats excluded), in seconds (event ids are Redis stream ids whose
// first part is a time in ms): openctibeat.stream.lag_seconds.
type lag struct {
	mu     sync.Mutex
	newest uint64 // ms of the newest id seen
	acked  uint64 // ms of the acknowledged position, 0 while unknown
	gauge  *monitoring.Float
}

func newLag(reg *monitoring.Registry) *lag {
	return &lag{gauge: monitoring.NewFloat(reg, "lag_seconds")}
}

// seen records an id received on the stream.
func (l *lag) seen(id string) {
	e, err := checkpoint.ParseEventID(id)
	if err != nil {
		return
	}
	l.mu.Lock()
	if e.Millis > l.newest {
		l.newest = e.Millis
	}
	l.updateLocked()
	l.mu.Unlock()
}

// acknowledged records the acknowledged position (a recovery or a date
// leaves the lag as it was).
func (l *lag) acknowledged(pos checkpoint.Position) {
	e, err := checkpoint.ParseEventID(pos.StartFrom)
	if err != nil || e.Millis == 0 || pos.Recovering() {
		return
	}
	l.mu.Lock()
	l.acked = e.Millis
	l.updateLocked()
	l.mu.Unlock()
}

func (l *lag) updateLocked() {
	if l.acked == 0 {
		return
	}
	d := 0.0
	if l.newest > l.acked {
		d = float64(l.newest-l.acked) / 1000
	}
	l.gauge.Set(d)
}
