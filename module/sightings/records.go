package sightings

import (
	"context"
	"fmt"
	"time"

	"github.com/openctibeat/openctibeat/opencti/api"
)

// pruneAfter is how long after its last_seen a sighting's record is kept in
// the state. OpenCTI itself matches a sighting by from/to only when
// first_seen and last_seen are each within 30 days of the input's, so a
// sighting last seen longer ago is closed in OpenCTI's own view; alerts for
// it are then rare, and the one that comes finds no record and re-adopts it
// (see adopt). The records of a busy module stay bounded by the indicators
// seen in the last 30 days.
const pruneAfter = 30 * 24 * time.Hour

// preread is a sighting read from OpenCTI in this poll, before any mutation
// of it (nil: none exists).
type preread struct{ s *api.Sighting }

// adopt gives each sighting of the batch that has no record in the state a
// base: its totals as OpenCTI holds them now (none for a new sighting). It
// saves the state with these bases, checkpoint unchanged, before any
// mutation of the poll, and returns what it read for the poll's first write.
//
// Why: a missing record is either a sighting the module never created, or
// one it pruned. The target of a pruned sighting must start from what
// OpenCTI holds, or the late alert would replace its count (a lost count);
// but what OpenCTI holds includes the alerts of a poll that was killed after
// its mutation and before its save, which the next run reads again (a
// double count). Saving the base before the first mutation settles both: a
// run that restarts finds the record, and OpenCTI's totals are only ever
// read when none of the poll's alerts can be in them yet.
//
// A version 1 state (before pruning existed) is complete: a missing record
// means a sighting the module never created (or created in a killed poll),
// so it starts from zero as it always did, without adoption.
func (m *Module) adopt(ctx context.Context, b *batch) (map[string]preread, error) {
	if m.state.Version < stateVersion {
		return nil, nil
	}
	reads := map[string]preread{}
	next := m.state.clone()
	for _, ind := range sortedKeys(b.perInd) {
		key := sightingStixID(ind, m.identityID)
		if _, ok := next.Sightings[key]; ok {
			continue
		}
		cur, err := m.octi.Sighting(ctx, key)
		if err != nil {
			if rejected(err) {
				continue // post meets the same refusal and skips the alerts
			}
			return nil, fmt.Errorf("read the sighting of indicator %s (%s): %w", ind, key, err)
		}
		rec := Record{Indicator: ind}
		if cur != nil {
			rec.SightingID, rec.Totals = cur.ID, totalsOf(*cur)
			m.metrics.adopted()
			m.log.Debugw("sighting without a record (pruned, or the state was lost) adopted from OpenCTI", "indicator_id", ind, "sighting_id", cur.ID, "totals", rec.Totals)
		}
		next.Sightings[key] = rec
		reads[key] = preread{s: cur}
	}
	if len(reads) == 0 {
		return nil, nil
	}
	if _, err := m.store.save(next); err != nil {
		return nil, err
	}
	m.state = next
	return reads, nil
}

// prune drops from next the records of sightings last seen more than
// pruneAfter before now.
func (m *Module) prune(next *State) {
	cutoff := m.now().Add(-pruneAfter)
	n := 0
	for key, rec := range next.Sightings {
		if rec.LastSeen.Before(cutoff) {
			delete(next.Sightings, key)
			n++
		}
	}
	if n > 0 {
		m.metrics.pruned(n)
		m.log.Debugw("sighting records pruned", "pruned", n, "last_seen_before", cutoff, "kept", len(next.Sightings))
	}
}
