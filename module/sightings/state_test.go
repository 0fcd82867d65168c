package sightings

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elastic/elastic-agent-libs/monitoring"

	"github.com/openctibeat/openctibeat/opencti/api"
)

func TestStateStore(t *testing.T) {
	dir := t.TempDir()
	s := newStateStore(filepath.Join(dir, "sub", "state.json"))
	st, err := s.load()
	if err != nil || st.Watermark.IsZero() == false || len(st.Sightings) != 0 {
		t.Fatalf("fresh state: %+v %v", st, err)
	}
	st.Cursor = []any{json.Number("1714521600123"), "uuid", "", ""}
	st.Watermark = time.UnixMilli(1714521600123).UTC()
	st.Seen["a"] = 1714521600123
	st.Sightings["sighting--x"] = Record{Indicator: "i", SightingID: "s", Totals: Totals{FirstSeen: st.Watermark, LastSeen: st.Watermark, Count: 3}}
	if _, err := s.save(st); err != nil {
		t.Fatal(err)
	}
	got, err := s.load()
	if err != nil {
		t.Fatal(err)
	}
	if compactJSON(got) != compactJSON(st) {
		t.Fatalf("round trip:\n%s\n%s", compactJSON(got), compactJSON(st))
	}
	if n, _ := got.Cursor[0].(json.Number).Int64(); n != 1714521600123 {
		t.Fatalf("cursor lost precision: %v", got.Cursor[0])
	}
	entries, _ := os.ReadDir(filepath.Dir(s.path))
	if len(entries) != 1 {
		t.Fatalf("temp files left: %v", entries)
	}
	if err := os.WriteFile(s.path, []byte("{torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.load(); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("corrupt file: %v", err)
	}
}

// stat returns the state file's identity: atomicfile.Write renames a new
// file over it, so a write changes it.
func stat(t *testing.T, path string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

// TestUnchangedStateIsNotRewritten: a poll that changes nothing (the
// overlap re-reads alerts already counted, or nothing new arrived), also
// after a restart, leaves the state file as it is; a poll with news
// replaces it.
func TestUnchangedStateIsNotRewritten(t *testing.T) {
	src := newMemSource()
	h := newHarness(t, src, 4)
	memScenario(h, src)
	m := h.module(monitoring.NewRegistry())
	pollAll(t, m)
	path := m.StatePath()
	before := stat(t, path)

	pollAll(t, m)
	pollAll(t, m)
	pollAll(t, h.module(monitoring.NewRegistry())) // a restart
	if after := stat(t, path); !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Fatalf("polls that changed nothing rewrote the state file")
	}

	src.add("default", genAlert{id: "w01", shape: shape8, created: base.Add(40 * time.Minute), original: base.Add(40 * time.Minute), by: byIDs, ind: h.inds[0], value: valueOf(0)})
	pollAll(t, m)
	if after := stat(t, path); os.SameFile(before, after) {
		t.Fatalf("a poll with a new alert did not save the state")
	}
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), `"w01"`) {
		t.Fatalf("state after a new alert: %s %v", b, err)
	}
}

// killAfterMutation makes m behave as if the process were killed right after
// OpenCTI applied its first mutation: the state file is not written again.
func killAfterMutation(h *harness, m *Module) {
	var killed atomic.Bool
	h.f.afterAdd = func(int) { killed.Store(true) }
	write := m.store.write
	m.store.write = func(path string, b []byte) error {
		if killed.Load() {
			return errors.New("killed")
		}
		return write(path, b)
	}
}

// movableClock is the module's clock, set by the test.
type movableClock struct{ now time.Time }

func (c *movableClock) Now() time.Time { return c.now }

// TestPrunedSightingLateAlert: a sighting last seen more than 30 days ago
// (by the module's clock) leaves the state at the next save. An alert that
// arrives for it later finds no record: the module reads the sighting from
// OpenCTI, saves it as the base, and only then sends the mutation, so the
// alert is counted exactly once whether its time falls inside the stored
// span (OpenCTI replaces the count), after it or before it (OpenCTI adds),
// and also when the poll is killed after that mutation and run again.
func TestPrunedSightingLateAlert(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name     string
		original time.Duration // of the late alert, from base
		kill     bool
	}{
		{"inside the stored span", -45 * time.Minute, false},
		{"after the stored span", 40 * day, false},
		{"before the stored span", -2 * day, false},
		{"inside the span, killed after the mutation", -45 * time.Minute, true},
		{"after the span, killed after the mutation", 40 * day, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newMemSource()
			h := newHarness(t, src, 4)
			clock := &movableClock{now: base.Add(2 * time.Hour)}
			h.clock = clock.Now
			gs := memScenario(h, src) // i0..i3, event times around base
			pollAll(t, h.module(monitoring.NewRegistry()))
			identity, err := api.IdentityStixID(api.IdentitySystem, "Elastic Test Cluster")
			if err != nil {
				t.Fatal(err)
			}
			key0 := sightingStixID(h.inds[0].ID, identity)

			// 31 days later an alert for i1 only: the others are pruned.
			clock.now = base.Add(31 * day)
			recent := genAlert{id: "p01", shape: shape8, created: clock.now, original: clock.now.Add(-time.Hour), by: byIDs, ind: h.inds[1], value: valueOf(1)}
			src.add("default", recent)
			gs = append(gs, recent)
			reg := monitoring.NewRegistry()
			pollAll(t, h.module(reg))
			st, err := newStateStore(h.module(nil).StatePath()).load()
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := st.Sightings[key0]; ok || len(st.Sightings) != 1 {
				t.Fatalf("after 31 days the state keeps %d sightings (i0 among them: %v), want only i1's", len(st.Sightings), ok)
			}
			if got := counter(reg, "sightings_pruned_total"); got != 3 {
				t.Errorf("sightings_pruned_total = %d, want 3", got)
			}
			h.f.checkSightings(t, h.identity(), expectations(gs))

			// The late alert for i0.
			clock.now = clock.now.Add(time.Hour)
			late := genAlert{id: "p02", shape: shape715, created: clock.now, original: base.Add(tt.original), by: byIDs, ind: h.inds[0], value: valueOf(0)}
			src.add("default", late)
			gs = append(gs, late)
			mutations := h.f.mutationCount()
			if tt.kill {
				// Killed once OpenCTI applied the mutation: nothing is
				// written after it.
				m := h.module(monitoring.NewRegistry())
				killAfterMutation(h, m)
				if _, err := m.Poll(context.Background()); err == nil {
					t.Fatal("the killed poll reported success")
				}
				h.f.afterAdd = nil
				if n := h.f.mutationCount(); n != mutations+1 {
					t.Fatalf("%d mutations before the kill, want 1", n-mutations)
				}
			}
			reg = monitoring.NewRegistry()
			pollAll(t, h.module(reg))
			h.f.checkSightings(t, h.identity(), expectations(gs))
			if n := h.f.mutationCount(); n != mutations+1 {
				t.Errorf("%d mutations for the late alert, want 1", n-mutations)
			}
			if !tt.kill {
				if got := counter(reg, "sightings_adopted_total"); got != 1 {
					t.Errorf("sightings_adopted_total = %d, want 1", got)
				}
			}
			h.f.checkRequests(t)
		})
	}
}

// TestLegacyStateNewSightingKilled: a version 1 state (written before
// records were pruned) is complete: a sighting without a record there was
// never created, or was created by a poll killed after its mutation (whose
// alerts are read again). It starts from zero, as it always did; adopting
// OpenCTI's totals would count that poll's alerts twice.
func TestLegacyStateNewSightingKilled(t *testing.T) {
	src := newMemSource()
	h := newHarness(t, src, 5)
	gs := memScenario(h, src) // i0..i3
	pollAll(t, h.module(monitoring.NewRegistry()))
	path := h.module(nil).StatePath()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	legacy := strings.Replace(string(b), `"version":2`, `"version":1`, 1)
	if legacy == string(b) {
		t.Fatalf("no version 2 in %s", b)
	}
	if err := os.WriteFile(path, []byte(legacy), 0o600); err != nil {
		t.Fatal(err)
	}

	// A new indicator; the poll is killed right after its sighting is
	// created, before the state is saved.
	n := genAlert{id: "l01", shape: shape8, created: base.Add(40 * time.Minute), original: base.Add(40 * time.Minute), by: byIDs, ind: h.inds[4], value: valueOf(4)}
	src.add("default", n)
	gs = append(gs, n)
	m := h.module(monitoring.NewRegistry())
	killAfterMutation(h, m)
	if _, err := m.Poll(context.Background()); err == nil {
		t.Fatal("the killed poll reported success")
	}
	h.f.afterAdd = nil
	if now, err := os.ReadFile(path); err != nil || string(now) != legacy {
		t.Fatalf("the killed poll changed the version 1 state: %s %v", now, err)
	}

	pollAll(t, h.module(monitoring.NewRegistry()))
	h.f.checkSightings(t, h.identity(), expectations(gs))
	st, err := newStateStore(path).load()
	if err != nil || st.Version != stateVersion {
		t.Fatalf("state after a successful poll: version %d, %v", st.Version, err)
	}
}
