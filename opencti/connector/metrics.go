package connector

import "github.com/elastic/elastic-agent-libs/monitoring"

// metrics counts pings and resets. A nil *metrics counts nothing.
type metrics struct {
	pings      *monitoring.Uint
	pingErrors *monitoring.Uint
	resets     *monitoring.Uint
}

// newMetrics registers the connector's counters in reg (nil: none).
func newMetrics(reg *monitoring.Registry) *metrics {
	if reg == nil {
		return nil
	}
	return &metrics{
		pings:      monitoring.NewUint(reg, "pings_total"),
		pingErrors: monitoring.NewUint(reg, "ping_errors_total"),
		resets:     monitoring.NewUint(reg, "resets_total"),
	}
}

func (m *metrics) ping() {
	if m != nil {
		m.pings.Inc()
	}
}

func (m *metrics) pingError() {
	if m != nil {
		m.pingErrors.Inc()
	}
}

func (m *metrics) reset() {
	if m != nil {
		m.resets.Inc()
	}
}
