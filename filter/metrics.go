package filter

import (
	"github.com/elastic/elastic-agent-libs/monitoring"
)

// Metrics counts the indicators refused, one counter per reason:
// dropped.<reason>_total.
type Metrics struct {
	dropped map[string]*monitoring.Uint
}

// NewMetrics registers the counters under reg (the beat gives its
// "filter" sub-registry).
func NewMetrics(reg *monitoring.Registry) *Metrics {
	d := reg.GetOrCreateRegistry("dropped")
	m := &Metrics{dropped: map[string]*monitoring.Uint{}}
	for _, r := range []string{ReasonLabel, ReasonType, ReasonScore, ReasonTLP, ReasonDetection} {
		m.dropped[r] = monitoring.NewUint(d, r+"_total")
	}
	return m
}

// Dropped counts one indicator refused for reason. Nil-safe.
func (m *Metrics) Dropped(reason string) {
	if m == nil {
		return
	}
	if c, ok := m.dropped[reason]; ok {
		c.Inc()
	}
}
