package sightings

import (
	"time"

	"github.com/openctibeat/openctibeat/opencti/api"
)

// add returns t extended by one alert at time at.
func (t Totals) add(at time.Time) Totals {
	at = at.UTC().Truncate(time.Millisecond)
	if t.Count == 0 || at.Before(t.FirstSeen) {
		t.FirstSeen = at
	}
	if t.Count == 0 || at.After(t.LastSeen) {
		t.LastSeen = at
	}
	t.Count++
	return t
}

// merge returns t extended by u (u's alerts are new: their counts add up).
func (t Totals) merge(u Totals) Totals {
	if u.Count == 0 {
		return t
	}
	if t.Count == 0 && t.FirstSeen.IsZero() {
		return u
	}
	if u.FirstSeen.Before(t.FirstSeen) {
		t.FirstSeen = u.FirstSeen
	}
	if u.LastSeen.After(t.LastSeen) {
		t.LastSeen = u.LastSeen
	}
	t.Count += u.Count
	return t
}

// equal compares at OpenCTI's precision (milliseconds).
func (t Totals) equal(u Totals) bool {
	return t.Count == u.Count && sameMilli(t.FirstSeen, u.FirstSeen) && sameMilli(t.LastSeen, u.LastSeen)
}

func sameMilli(a, b time.Time) bool { return a.UnixMilli() == b.UnixMilli() }

func totalsOf(s api.Sighting) Totals {
	return Totals{
		FirstSeen: s.FirstSeen.UTC().Truncate(time.Millisecond),
		LastSeen:  s.LastSeen.UTC().Truncate(time.Millisecond),
		Count:     s.Count,
	}
}

// plan returns the attribute_count to send so that OpenCTI's upsert of the
// sighting currently stored as cur (nil: none yet) ends at target, and false
// when the sighting is already there.
//
// OpenCTI's upsert of a sighting (buildUpdatePatchForUpsert, OpenCTI 6 and
// 7) sets first_seen to the earliest and last_seen to the latest of stored
// and sent dates; when either date moved, attribute_count becomes stored +
// sent, otherwise it becomes sent. So: when the dates move the module sends
// the difference, when they do not it sends the total.
func plan(cur *Totals, target Totals) (count int, send bool) {
	if cur == nil {
		return target.Count, true
	}
	first, last := cur.FirstSeen, cur.LastSeen
	if target.FirstSeen.Before(first) {
		first = target.FirstSeen
	}
	if target.LastSeen.After(last) {
		last = target.LastSeen
	}
	moved := !sameMilli(first, cur.FirstSeen) || !sameMilli(last, cur.LastSeen)
	switch {
	case moved:
		return target.Count - cur.Count, true
	case cur.Count == target.Count:
		return 0, false
	default:
		return target.Count, true
	}
}
