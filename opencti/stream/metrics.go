package stream

import "github.com/elastic/elastic-agent-libs/monitoring"

// Metrics counts what the stream client saw. A nil *Metrics counts nothing.
type Metrics struct {
	reconnects *monitoring.Uint
}

// NewMetrics registers the stream metrics in reg.
func NewMetrics(reg *monitoring.Registry) *Metrics {
	return &Metrics{reconnects: monitoring.NewUint(reg, "reconnects_total")}
}

func (m *Metrics) reconnect() {
	if m != nil {
		m.reconnects.Inc()
	}
}
