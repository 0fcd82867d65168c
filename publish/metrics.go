package publish

import "github.com/elastic/elastic-agent-libs/monitoring"

// Metrics counts published and acknowledged documents. A nil *Metrics
// counts nothing.
type Metrics struct {
	publishedTotal *monitoring.Uint
	ackedTotal     *monitoring.Uint
	waitsTotal     *monitoring.Uint
	parkedTotal    *monitoring.Uint
}

// NewMetrics registers the metrics in reg.
func NewMetrics(reg *monitoring.Registry) *Metrics {
	return &Metrics{
		publishedTotal: monitoring.NewUint(reg, "published_total"),
		ackedTotal:     monitoring.NewUint(reg, "acked_total"),
		// Writes that waited for the acknowledgement of an earlier write
		// of their document (other documents went on meanwhile).
		parkedTotal: monitoring.NewUint(reg, "same_document_waits_total"),
		// Times the publisher stopped taking messages because too many
		// writes were waiting so.
		waitsTotal: monitoring.NewUint(reg, "parked_full_waits_total"),
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

func (m *Metrics) parkedWrite() {
	if m != nil {
		m.parkedTotal.Inc()
	}
}

func (m *Metrics) waited() {
	if m != nil {
		m.waitsTotal.Inc()
	}
}
