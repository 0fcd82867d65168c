package sightings

import (
	"sync"

	"github.com/elastic/elastic-agent-libs/monitoring"
)

// metrics counts what the module did. A nil *metrics counts nothing.
type metrics struct {
	reg        *monitoring.Registry
	polls      *monitoring.Uint
	alerts     *monitoring.Uint
	duplicates *monitoring.Uint
	created    *monitoring.Uint
	unchanged  *monitoring.Uint
	mismatches *monitoring.Uint
	errors     *monitoring.Uint

	mu      sync.Mutex
	skipped map[string]*monitoring.Uint
	skipReg *monitoring.Registry
}

func newMetrics(reg *monitoring.Registry) *metrics {
	if reg == nil {
		return nil
	}
	return &metrics{
		reg:        reg,
		polls:      monitoring.NewUint(reg, "polls_total"),
		alerts:     monitoring.NewUint(reg, "alerts_total"),
		duplicates: monitoring.NewUint(reg, "alerts_duplicate_total"),
		created:    monitoring.NewUint(reg, "sightings_created_total"),
		unchanged:  monitoring.NewUint(reg, "sightings_unchanged_total"),
		mismatches: monitoring.NewUint(reg, "sightings_mismatch_total"),
		errors:     monitoring.NewUint(reg, "errors_total"),
		skipped:    map[string]*monitoring.Uint{},
		skipReg:    reg.GetOrCreateRegistry("skipped"),
	}
}

func inc(u *monitoring.Uint, n uint64) {
	if u != nil {
		u.Add(n)
	}
}

func (m *metrics) poll() {
	if m != nil {
		inc(m.polls, 1)
	}
}

func (m *metrics) alert() {
	if m != nil {
		inc(m.alerts, 1)
	}
}

func (m *metrics) duplicate() {
	if m != nil {
		inc(m.duplicates, 1)
	}
}

func (m *metrics) sighting() {
	if m != nil {
		inc(m.created, 1)
	}
}

func (m *metrics) sightingUnchanged() {
	if m != nil {
		inc(m.unchanged, 1)
	}
}

func (m *metrics) mismatch() {
	if m != nil {
		inc(m.mismatches, 1)
	}
}

func (m *metrics) failure() {
	if m != nil {
		inc(m.errors, 1)
	}
}

// skip counts n alerts skipped for reason (skipped.<reason>_total).
func (m *metrics) skip(reason string, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.mu.Lock()
	u, ok := m.skipped[reason]
	if !ok {
		u = monitoring.NewUint(m.skipReg, reason+"_total")
		m.skipped[reason] = u
	}
	m.mu.Unlock()
	u.Add(uint64(n))
}
