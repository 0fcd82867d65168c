package ecsmode

import "github.com/elastic/elastic-agent-libs/monitoring"

// Metrics counts what the mapping could not represent in full. A nil
// *Metrics counts nothing.
type Metrics struct {
	observablesTruncatedTotal *monitoring.Uint
}

// NewMetrics registers the metrics in reg (the beat gives its "mapping"
// sub-registry).
func NewMetrics(reg *monitoring.Registry) *Metrics {
	return &Metrics{
		observablesTruncatedTotal: monitoring.NewUint(reg, "observables_truncated_total"),
	}
}

// truncated counts one indicator whose observables were cut at the cap.
func (m *Metrics) truncated() {
	if m != nil {
		m.observablesTruncatedTotal.Inc()
	}
}
