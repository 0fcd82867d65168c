package sightings

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/elastic/elastic-agent-libs/logp"

	"github.com/openctibeat/openctibeat/module/sightings/alerts"
)

// maxSkipLogs is how many skipped alerts per reason and poll are logged one
// by one; the poll's summary counts the rest.
const maxSkipLogs = 10

// batch is what one poll read: new alerts aggregated per indicator.
type batch struct {
	from      time.Time
	perInd    map[string]Totals // indicator internal id -> this poll's alerts
	seen      map[string]int64  // new alert ids -> @timestamp ms
	cursor    []any
	watermark time.Time
	more      bool
	alerts    int
	skipped   map[string]int
	posted    int
	// recheckIdentity is set when OpenCTI rejected a sighting: the next
	// poll makes sure the identity still exists (it may be what is missing).
	recheckIdentity bool
}

// logSummary logs the poll's skipped alerts, and the matched documents not
// looked up (lookupSkipped, per reason), beyond the ones logged one by one.
func (b *batch) logSummary(log *logp.Logger, lookupSkipped map[string]int) {
	if b.alerts == 0 {
		return
	}
	skipped := 0
	for _, n := range b.skipped {
		skipped += n
	}
	if skipped > 0 {
		log.Warnw("sightings poll skipped alerts", "alerts", b.alerts, "skipped", b.skipped, "indicators", len(b.perInd))
	}
	if len(lookupSkipped) > 0 {
		log.Warnw("sightings poll did not look up invalid matched documents (the matched values were tried instead)", "alerts", b.alerts, "lookup_skipped", lookupSkipped)
	}
	log.Debugw("sightings poll done", "alerts", b.alerts, "indicators", len(b.perInd), "mutations", b.posted, "more", b.more)
}

// collect reads the alerts after the checkpoint, page by page, skipping the
// ones already counted, until the end or max_alerts_per_poll new alerts.
func (m *Module) collect(ctx context.Context) (*batch, error) {
	st := &m.state
	b := &batch{perInd: map[string]Totals{}, seen: map[string]int64{}, skipped: map[string]int{}}
	b.from = st.Watermark.Add(-m.cfg.Overlap)
	if st.Watermark.IsZero() {
		b.from = m.now().Add(-m.cfg.FirstLookback)
	}
	var after []any
	if (m.cfg.Overlap == 0 || st.Continue) && len(st.Cursor) > 0 {
		after = st.Cursor
	}
	for {
		hits, err := m.src.Page(ctx, alerts.Query{From: b.from, After: after, Size: m.cfg.PageSize})
		if err != nil {
			return nil, err
		}
		for _, h := range hits {
			after = h.Sort
			if err := m.take(ctx, b, h); err != nil {
				return nil, err
			}
		}
		if len(hits) < m.cfg.PageSize {
			return b, nil
		}
		if b.alerts >= m.cfg.MaxAlertsPerPoll {
			b.more = true
			return b, nil
		}
	}
}

// take counts one hit: already seen, skipped, or added to its indicators.
func (m *Module) take(ctx context.Context, b *batch, h alerts.Hit) error {
	if _, ok := m.state.Seen[h.ID]; ok {
		m.metrics.duplicate()
		return nil
	}
	if _, ok := b.seen[h.ID]; ok {
		m.metrics.duplicate()
		return nil
	}
	created, ok := sortTime(h.Sort)
	if !ok {
		created = b.from
	}
	b.seen[h.ID] = created.UnixMilli()
	b.cursor = h.Sort
	if created.After(b.watermark) {
		b.watermark = created
	}
	b.alerts++
	m.metrics.alert()

	a, err := alerts.Parse(h)
	if err != nil {
		var se *alerts.SkipError
		if errors.As(err, &se) {
			m.skipAlert(b, h, se.Reason, se.Err)
			return nil
		}
		return err
	}
	ids, err := m.resolve.alert(ctx, a)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		m.skipAlert(b, h, alerts.ReasonUnknownIndicator, errors.New("no enrichment leads to an OpenCTI indicator (ids, matched document, matched value)"))
		return nil
	}
	for _, id := range ids {
		b.perInd[id] = b.perInd[id].add(a.Time)
	}
	return nil
}

func (m *Module) skipAlert(b *batch, h alerts.Hit, reason string, err error) {
	b.skipped[reason]++
	m.metrics.skip(reason, 1)
	if b.skipped[reason] <= maxSkipLogs {
		m.log.Warnw("alert skipped", "alert_id", h.ID, "index", h.Index, "reason", reason, "error", err)
	}
}

// sortTime reads the @timestamp sort value (epoch milliseconds).
func sortTime(sortValues []any) (time.Time, bool) {
	if len(sortValues) == 0 {
		return time.Time{}, false
	}
	switch v := sortValues[0].(type) {
	case json.Number:
		ms, err := v.Int64()
		if err != nil {
			return time.Time{}, false
		}
		return time.UnixMilli(ms).UTC(), true
	case float64:
		return time.UnixMilli(int64(v)).UTC(), true
	case int64:
		return time.UnixMilli(v).UTC(), true
	case int:
		return time.UnixMilli(int64(v)).UTC(), true
	}
	return time.Time{}, false
}
