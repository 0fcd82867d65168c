package sightings

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/elastic/elastic-agent-libs/monitoring"
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
