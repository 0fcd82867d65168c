package sightings

import (
	"math/rand"
	"testing"
	"time"
)

// upsertModel is OpenCTI's upsert of a sighting (see plan): what the stored
// totals cur (nil: none) become when totals sent are upserted.
func upsertModel(cur *Totals, sent Totals) Totals {
	if cur == nil {
		return sent
	}
	out, moved := *cur, false
	if sent.FirstSeen.Before(out.FirstSeen) {
		out.FirstSeen, moved = sent.FirstSeen, true
	}
	if sent.LastSeen.After(out.LastSeen) {
		out.LastSeen, moved = sent.LastSeen, true
	}
	if moved {
		out.Count = cur.Count + sent.Count
	} else {
		out.Count = sent.Count
	}
	return out
}

func ts(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }

func TestPlan(t *testing.T) {
	tests := []struct {
		name      string
		cur       *Totals
		target    Totals
		wantCount int
		wantSend  bool
	}{
		{"new sighting: the total", nil, Totals{ts(0), ts(5), 3}, 3, true},
		{"dates move: the difference", &Totals{ts(0), ts(5), 3}, Totals{ts(0), ts(9), 5}, 2, true},
		{"first_seen moves back: the difference", &Totals{ts(0), ts(5), 3}, Totals{ts(-9), ts(5), 4}, 1, true},
		{"inside the span: the total", &Totals{ts(0), ts(5), 3}, Totals{ts(0), ts(5), 4}, 4, true},
		{"already there: nothing", &Totals{ts(0), ts(5), 3}, Totals{ts(0), ts(5), 3}, 0, false},
		{"stored wider than the target: the total", &Totals{ts(-60), ts(60), 10}, Totals{ts(0), ts(5), 4}, 4, true},
		{"sub-millisecond differences do not move dates", &Totals{ts(0), ts(5), 3}, Totals{ts(0).Add(300 * time.Microsecond), ts(5), 4}, 4, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			count, send := plan(tt.cur, tt.target)
			if count != tt.wantCount || send != tt.wantSend {
				t.Fatalf("plan = %d, %v; want %d, %v", count, send, tt.wantCount, tt.wantSend)
			}
		})
	}
}

// TestPlanReachesTarget: whatever OpenCTI holds, the upsert of what plan
// sends ends at the target's count, with the union of the time spans.
func TestPlanReachesTarget(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	span := func() (time.Time, time.Time) {
		a, b := ts(rng.Intn(100)), ts(rng.Intn(100))
		if b.Before(a) {
			a, b = b, a
		}
		return a, b
	}
	for i := 0; i < 10000; i++ {
		var cur *Totals
		if rng.Intn(4) > 0 {
			f, l := span()
			cur = &Totals{f, l, rng.Intn(50)}
		}
		f, l := span()
		target := Totals{f, l, rng.Intn(100) + 1}
		count, send := plan(cur, target)
		if cur == nil && !send {
			t.Fatalf("nothing sent for a new sighting %+v", target)
		}
		var got Totals
		if cur != nil {
			got = *cur
		}
		if send {
			got = upsertModel(cur, Totals{target.FirstSeen, target.LastSeen, count})
		}
		if got.Count != target.Count {
			t.Fatalf("cur %+v target %+v: sent %d (%v), OpenCTI ends at %d", cur, target, count, send, got.Count)
		}
		wantFirst, wantLast := target.FirstSeen, target.LastSeen
		if cur != nil && cur.FirstSeen.Before(wantFirst) {
			wantFirst = cur.FirstSeen
		}
		if cur != nil && cur.LastSeen.After(wantLast) {
			wantLast = cur.LastSeen
		}
		if !got.FirstSeen.Equal(wantFirst) || !got.LastSeen.Equal(wantLast) {
			t.Fatalf("cur %+v target %+v: dates %+v", cur, target, got)
		}
	}
}

// TestReplayNeverInflates models polls, crashes and replays: the module's
// state is saved only after a poll's mutations, a crash loses the unsaved
// state, and the replayed alerts are the same; OpenCTI ends at the true
// number of alerts every time.
func TestReplayNeverInflates(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for round := 0; round < 2000; round++ {
		var stored *Totals // OpenCTI
		var saved *Totals  // module state (OpenCTI's totals as last confirmed and saved)
		var pending []time.Time
		truth := Totals{}
		for step := 0; step < 12; step++ {
			// New alerts arrive.
			for n := rng.Intn(4); n > 0; n-- {
				pending = append(pending, ts(rng.Intn(200)))
			}
			crash := step < 11 && rng.Intn(3) == 0 // the last poll completes
			// A poll: target = saved + pending alerts.
			add := Totals{}
			for _, at := range pending {
				add = add.add(at)
			}
			if add.Count == 0 {
				continue
			}
			target := add
			if saved != nil {
				target = saved.merge(add)
			}
			count, send := plan(stored, target)
			if send {
				s := upsertModel(stored, Totals{target.FirstSeen, target.LastSeen, count})
				stored = &s
			}
			if crash {
				continue // before saving: the same alerts come again
			}
			saved = stored
			for _, at := range pending {
				truth = truth.add(at)
			}
			pending = nil
		}
		if saved != nil && (stored.Count != truth.Count || !stored.equal(truth)) {
			t.Fatalf("round %d: OpenCTI holds %+v, alerts say %+v", round, *stored, truth)
		}
	}
}
