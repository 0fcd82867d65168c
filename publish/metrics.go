package publish

import "github.com/elastic/elastic-agent-libs/monitoring"

// Metrics counts published and acknowledged documents. A nil *Metrics
// counts nothing.
type Metrics struct {
	publishedTotal *monitoring.Uint
	ackedTotal     *monitoring.Uint
	waitsTotal     *monitoring.Uint
}

// NewMetrics registers the metrics in reg.
func NewMetrics(reg *monitoring.Registry) *Metrics {
	return &Metrics{
		publishedTotal: monitoring.NewUint(reg, "published_total"),
		ackedTotal:     monitoring.NewUint(reg, "acked_total"),
		waitsTotal:     monitoring.NewUint(reg, "same_document_waits_total"),
	}
}

func (m *Metrics) published(n int) {
	if m != nil {
		m.publishedTotal.Add(uint64(n))
	}
}

func (m *Metrics) acked(n int) {
	if m != nil {
		m.ackedTotal.Add(uint64(n))
	}
}

func (m *Metrics) waited() {
	if m != nil {
		m.waitsTotal.Inc()
	}
}
