package publish

import "github.com/elastic/elastic-agent-libs/monitoring"

// Metrics counts published and acknowledged documents, and what the engine
// refused. A nil *Metrics counts nothing.
type Metrics struct {
	publishedTotal *monitoring.Uint
	ackedTotal     *monitoring.Uint
	waitsTotal     *monitoring.Uint
	parkedTotal    *monitoring.Uint
	// refusedTotal: documents the output refused for good while the
	// engine accepted the write check (the position moved past them).
	refusedTotal *monitoring.Uint
	// blockedTotal: times the engine refused the write check.
	blockedTotal *monitoring.Uint
	// rewindsTotal: times the stream was read again from the saved
	// position after the engine accepted writes again.
	rewindsTotal *monitoring.Uint
	// Deletes sent by the beat itself (output.elasticsearch).
	deletesDeleted *monitoring.Uint
	deletesMissing *monitoring.Uint
	deletesRefused *monitoring.Uint
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
		waitsTotal:     monitoring.NewUint(reg, "parked_full_waits_total"),
		refusedTotal:   monitoring.NewUint(reg, "refused_total"),
		blockedTotal:   monitoring.NewUint(reg, "blocked_total"),
		rewindsTotal:   monitoring.NewUint(reg, "rewinds_total"),
		deletesDeleted: monitoring.NewUint(reg, "deletes.deleted_total"),
		deletesMissing: monitoring.NewUint(reg, "deletes.missing_total"),
		deletesRefused: monitoring.NewUint(reg, "deletes.refused_total"),
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

func (m *Metrics) refusedDocs(n uint64) {
	if m != nil {
		m.refusedTotal.Add(n)
	}
}

func (m *Metrics) blockedOnce() {
	if m != nil {
		m.blockedTotal.Inc()
	}
}

func (m *Metrics) rewound() {
	if m != nil {
		m.rewindsTotal.Inc()
	}
}

func (m *Metrics) deleteDone() {
	if m != nil {
		m.deletesDeleted.Inc()
	}
}

func (m *Metrics) deleteMissing() {
	if m != nil {
		m.deletesMissing.Inc()
	}
}

func (m *Metrics) deleteRefused() {
	if m != nil {
		m.deletesRefused.Inc()
	}
}
