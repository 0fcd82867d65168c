package beater

import (
	"sync"

	"github.com/elastic/elastic-agent-libs/monitoring"
)

// metrics counts stream messages by event name, the objects OpenCTI sent
// on its own (origin.referer "init": a recovery; "dependencies": objects an
// event refers to, sent before it) and skipped events by reason.
type metrics struct {
	connections *monitoring.Uint
	received    *counterSet
	origin      *counterSet
	skipped     *counterSet
}

func newMetrics(reg *monitoring.Registry) *metrics {
	return &metrics{
		connections: monitoring.NewUint(reg, "connections_total"),
		received:    newCounterSet(reg.GetOrCreateRegistry("received"), knownEvents),
		origin:      newCounterSet(reg.GetOrCreateRegistry("origin"), knownOrigins),
		skipped:     newCounterSet(reg.GetOrCreateRegistry("skipped"), nil),
	}
}

// knownEvents bounds the metric names: any other event counts as "other".
var knownEvents = map[string]bool{
	"create": true, "update": true, "delete": true, "merge": true, "connected": true,
	"heartbeat": true, "consumer_metrics": true, "no-recover": true, "error": true,
}

// knownOrigins are the referers counted under events.origin.
var knownOrigins = map[string]bool{"init": true, "dependencies": true}

func (m *metrics) receive(name string) { m.received.inc(name) }

// replayed counts a data event OpenCTI sent on its own.
func (m *metrics) replayed(referer string) {
	if knownOrigins[referer] {
		m.origin.inc(referer)
	}
}
func (m *metrics) skip(reason string) { m.skipped.inc(reason) }

// counterSet is a family of counters <name>_total created on first use.
type counterSet struct {
	reg   *monitoring.Registry
	known map[string]bool // nil: any name
	mu    sync.Mutex
	set   map[string]*monitoring.Uint
}

func newCounterSet(reg *monitoring.Registry, known map[string]bool) *counterSet {
	return &counterSet{reg: reg, known: known, set: map[string]*monitoring.Uint{}}
}

func (s *counterSet) inc(name string) {
	if s.known != nil && !s.known[name] {
		name = "other"
	}
	s.mu.Lock()
	c, ok := s.set[name]
	if !ok {
		c = monitoring.NewUint(s.reg, name+"_total")
		s.set[name] = c
	}
	s.mu.Unlock()
	c.Inc()
}
