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
	adoptions  *monitoring.Uint
	prunes     *monitoring.Uint
	errors     *monitoring.Uint

	mu        sync.Mutex
	skipped   map[string]*monitoring.Uint
	skipReg   *monitoring.Registry
	lookups   map[string]*monitoring.Uint
	lookupReg *monitoring.Registry
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
		adoptions:  monitoring.NewUint(reg, "sightings_adopted_total"),
		prunes:     monitoring.NewUint(reg, "sightings_pruned_total"),
		errors:     monitoring.NewUint(reg, "errors_total"),
		skipped:    map[string]*monitoring.Uint{},
		skipReg:    reg.GetOrCreateRegistry("skipped"),
		lookups:    map[string]*monitoring.Uint{},
		lookupReg:  reg.GetOrCreateRegistry("lookup_skipped"),
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

func (m *metrics) adopted() {
	if m != nil {
		inc(m.adoptions, 1)
	}
}

func (m *metrics) pruned(n int) {
	if m != nil && n > 0 {
		inc(m.prunes, uint64(n))
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
	m.reasonCounter(m.skipped, m.skipReg, reason).Add(uint64(n))
}

// lookupSkip counts a matched document not looked up for reason
// (lookup_skipped.<reason>_total).
func (m *metrics) lookupSkip(reason string) {
	if m == nil {
		return
	}
	m.reasonCounter(m.lookups, m.lookupReg, reason).Add(1)
}

func (m *metrics) reasonCounter(set map[string]*monitoring.Uint, reg *monitoring.Registry, reason string) *monitoring.Uint {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := set[reason]
	if !ok {
		u = monitoring.NewUint(reg, reason+"_total")
		set[reason] = u
	}
	return u
}
