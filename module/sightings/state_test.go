package sightings

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStateStore(t *testing.T) {
	dir := t.TempDir()
	s := stateStore{path: filepath.Join(dir, "sub", "state.json")}
	st, err := s.load()
	if err != nil || st.Watermark.IsZero() == false || len(st.Sightings) != 0 {
		t.Fatalf("fresh state: %+v %v", st, err)
	}
	st.Cursor = []any{json.Number("1714521600123"), "uuid", "", ""}
	st.Watermark = time.UnixMilli(1714521600123).UTC()
	st.Seen["a"] = 1714521600123
	st.Sightings["sighting--x"] = Record{Indicator: "i", SightingID: "s", Totals: Totals{FirstSeen: st.Watermark, LastSeen: st.Watermark, Count: 3}}
	if err := s.save(st); err != nil {
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
