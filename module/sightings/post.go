package sightings

import (
	"context"
	"fmt"

	"gopkg.in/cenkalti/backoff.v1"

	"github.com/openctibeat/openctibeat/internal/ctxsleep"
	"github.com/openctibeat/openctibeat/module/sightings/alerts"
	"github.com/openctibeat/openctibeat/opencti/api"
)

// post sends one mutation per indicator of the batch and records in next
// what OpenCTI confirmed. It stops at the first error that is not OpenCTI
// rejecting the data (next is then discarded and the poll retried).
//
// reads are the sightings adopt read in this poll: their first write uses
// that read instead of reading again.
func (m *Module) post(ctx context.Context, b *batch, next *State, reads map[string]preread) error {
	for _, ind := range sortedKeys(b.perInd) {
		add := b.perInd[ind]
		key := sightingStixID(ind, m.identityID)
		rec, known := next.Sightings[key]
		target := add
		if known {
			target = rec.Totals.merge(add)
		}
		var first *preread
		if r, ok := reads[key]; ok {
			first = &r
		}
		got, sent, err := m.write(ctx, ind, key, target, first)
		if err != nil {
			if !rejected(err) {
				return fmt.Errorf("sighting of indicator %s (%s): %w", ind, key, err)
			}
			m.metrics.failure()
			b.recheckIdentity = true
			m.metrics.skip(alerts.ReasonRejectedByOpenCTI, add.Count)
			b.skipped[alerts.ReasonRejectedByOpenCTI] += add.Count
			m.log.Errorw("OpenCTI rejected a sighting; its alerts are skipped", "indicator_id", ind, "sighting_stix_id", key, "alerts", add.Count, "error", err)
			continue
		}
		if sent {
			b.posted++
			m.metrics.sighting()
		} else {
			m.metrics.sightingUnchanged()
		}
		confirmed := totalsOf(got)
		if !confirmed.equal(target) {
			m.metrics.mismatch()
			m.log.Warnw("OpenCTI stored other totals than expected for a sighting (merged with a sighting of another source, or a higher confidence on the stored one); continuing from OpenCTI's",
				"indicator_id", ind, "sighting_id", got.ID, "expected", target, "stored", confirmed)
		}
		next.Sightings[key] = Record{Indicator: ind, SightingID: got.ID, Totals: confirmed}
	}
	return nil
}

// write brings the sighting key to target: it reads the sighting as OpenCTI
// has it now, computes the count that makes OpenCTI's upsert end at target
// (see plan) and sends it. A transport error leaves the outcome unknown, so
// the retry reads again before sending: a lost answer is never counted
// twice. sent is false when the sighting was already at target. first, when
// set, is the sighting as read earlier in the poll, used by the first try.
func (m *Module) write(ctx context.Context, indicator, key string, target Totals, first *preread) (got api.Sighting, sent bool, err error) {
	// Waits from m.backoff, doubling, no jitter; m.retry bounds them, so
	// the cap is the last wait it allows.
	waits := &backoff.ExponentialBackOff{
		InitialInterval: m.backoff,
		Multiplier:      2,
		MaxInterval:     m.backoff << max(m.retry-2, 0),
		Clock:           backoff.SystemClock,
	}
	waits.Reset()
	for attempt := 0; ; attempt++ {
		var cur *api.Sighting
		if attempt == 0 && first != nil {
			cur = first.s
		} else if cur, err = m.octi.Sighting(ctx, key); err != nil {
			return api.Sighting{}, false, err
		}
		var curTotals *Totals
		if cur != nil {
			t := totalsOf(*cur)
			curTotals = &t
		}
		count, send := plan(curTotals, target)
		if !send {
			return *cur, false, nil
		}
		got, err = m.octi.AddSighting(ctx, m.input(indicator, key, target, count))
		if err == nil {
			return got, true, nil
		}
		if !api.IsTransient(err) || attempt+1 >= m.retry || ctx.Err() != nil {
			return api.Sighting{}, false, err
		}
		m.log.Debugw("sighting mutation failed; reading the sighting again before retrying", "sighting_stix_id", key, "attempt", attempt+1, "error", err)
		if err := ctxsleep.Sleep(ctx, waits.NextBackOff()); err != nil {
			return api.Sighting{}, false, err
		}
	}
}

func (m *Module) input(indicator, key string, target Totals, count int) api.SightingInput {
	conf := m.cfg.Confidence
	in := api.SightingInput{
		StixID:      key,
		FromID:      indicator,
		ToID:        m.identity.ID,
		FirstSeen:   target.FirstSeen,
		LastSeen:    target.LastSeen,
		Count:       count,
		Confidence:  &conf,
		Description: m.cfg.Description,
	}
	if m.marking != "" {
		in.Markings = []string{m.marking}
	}
	return in
}
