package checkpoint

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestPositionNext(t *testing.T) {
	// 2024-01-01T00:00:00Z = 1704067200000 ms.
	recovering := Position{StartFrom: "0-0", RecoverUntil: "2024-01-01T00:00:00.000Z"}
	tests := []struct {
		name      string
		from      Position
		id        string
		heartbeat bool
		want      Position
	}{
		{"no id keeps the position", Position{StartFrom: "5-0"}, "", false, Position{StartFrom: "5-0"}},
		{"tailing moves to the id", Position{StartFrom: "5-0"}, "6-1", false, Position{StartFrom: "6-1"}},
		{"heartbeat while tailing moves too", Position{StartFrom: "5-0"}, "9-0", true, Position{StartFrom: "9-0"}},
		{"recovered event keeps the recovery", recovering, "1600000000000-0", false, recovering},
		{"recovered event at the recover date keeps the recovery", recovering, "1704067200000-0", false, recovering},
		{"event past the recover date ends the recovery", recovering, "1704067200001-0", false, Position{StartFrom: "1704067200001-0"}},
		{"heartbeat ends the recovery at the recover date", recovering, "1600000000000-0", true, Position{StartFrom: "1704067200000-0"}},
		{"heartbeat past the recover date", recovering, "1704067300000-2", true, Position{StartFrom: "1704067300000-2"}},
		{"unparsable id during recovery keeps it", recovering, "garbage", false, recovering},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.from.Next(tt.id, tt.heartbeat); got != tt.want {
				t.Fatalf("Next(%q, %v) = %+v, want %+v", tt.id, tt.heartbeat, got, tt.want)
			}
		})
	}
}

func TestParseEventID(t *testing.T) {
	for _, bad := range []string{"", "1", "a-b", "1-", "-1", "1-2-3"} {
		if _, err := ParseEventID(bad); err == nil {
			t.Errorf("ParseEventID(%q) accepted", bad)
		}
	}
	a, _ := ParseEventID("10-2")
	b, _ := ParseEventID("10-10")
	c, _ := ParseEventID("9-99")
	if !a.Less(b) || b.Less(a) || !c.Less(a) {
		t.Fatalf("ordering wrong: %v %v %v", a, b, c)
	}
}

func pos(id string) Position { return Position{StartFrom: id} }

func TestTracker(t *testing.T) {
	type step struct {
		add  string // add a message with this id ...
		docs int    // ... and this many documents
		ack  []int  // or acknowledge the documents of these earlier steps (one doc each)
	}
	tests := []struct {
		name  string
		steps []step
		want  []string // saved positions, in order
	}{
		{
			name:  "skipped messages advance at once",
			steps: []step{{add: "1-0"}, {add: "2-0"}},
			want:  []string{"1-0", "2-0"},
		},
		{
			name:  "an unchanged position is not saved again",
			steps: []step{{add: "1-0"}, {add: "1-0"}, {add: "2-0"}},
			want:  []string{"1-0", "2-0"},
		},
		{
			name:  "nothing saved before the ack",
			steps: []step{{add: "1-0", docs: 1}, {add: "2-0"}},
			want:  nil,
		},
		{
			name:  "ack releases the skipped message behind it",
			steps: []step{{add: "1-0", docs: 1}, {add: "2-0"}, {ack: []int{0}}},
			want:  []string{"2-0"},
		},
		{
			name: "a message with two documents waits for both",
			steps: []step{
				{add: "1-0", docs: 2}, {add: "2-0", docs: 1},
				{ack: []int{0}}, {ack: []int{0}}, {ack: []int{1}},
			},
			want: []string{"1-0", "2-0"},
		},
		{
			name: "one batch acknowledging several messages saves once",
			steps: []step{
				{add: "1-0", docs: 1}, {add: "2-0", docs: 1}, {add: "3-0", docs: 1},
				{ack: []int{0, 1, 2}},
			},
			want: []string{"3-0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var saved []string
			tr := NewTracker(Position{}, func(p Position) { saved = append(saved, p.StartFrom) })
			var entries []*Entry
			for _, s := range tt.steps {
				if s.add != "" {
					entries = append(entries, tr.Add(pos(s.add), s.docs))
					continue
				}
				var privates []any
				for _, i := range s.ack {
					privates = append(privates, entries[i])
				}
				tr.ACK(privates)
			}
			if !reflect.DeepEqual(saved, tt.want) {
				t.Fatalf("saved %v, want %v", saved, tt.want)
			}
		})
	}
}

func TestTrackerIgnoresForeignPrivates(t *testing.T) {
	var saved []Position
	tr := NewTracker(Position{}, func(p Position) { saved = append(saved, p) })
	e := tr.Add(pos("1-0"), 1)
	tr.ACK([]any{nil, "x", 3})
	if len(saved) != 0 || tr.Pending() != 1 {
		t.Fatalf("foreign privates moved the position: %v", saved)
	}
	tr.ACK([]any{e})
	if len(saved) != 1 || tr.Pending() != 0 {
		t.Fatalf("saved %v pending %d", saved, tr.Pending())
	}
}

func TestTrackerCompacts(t *testing.T) {
	last := Position{}
	tr := NewTracker(Position{}, func(p Position) { last = p })
	for i := 0; i < 5000; i++ {
		e := tr.Add(pos("1-0"), 1)
		tr.ACK([]any{e})
	}
	if tr.Pending() != 0 || len(tr.pending) > 2048 || last.StartFrom != "1-0" {
		t.Fatalf("pending %d, backing %d", tr.Pending(), len(tr.pending))
	}
}

func TestStore(t *testing.T) {
	dir := t.TempDir()
	s := NewStore(filepath.Join(dir, "sub", "pos.json"))
	if _, ok, err := s.Load(); ok || err != nil {
		t.Fatalf("empty store: ok=%v err=%v", ok, err)
	}
	want := Position{StartFrom: "0-0", RecoverUntil: "2024-01-01T00:00:00.000Z"}
	if err := s.Save(want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Load()
	if err != nil || !ok || got != want {
		t.Fatalf("Load = %+v %v %v", got, ok, err)
	}
	if err := s.Save(pos("7-1")); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.Load(); got != pos("7-1") {
		t.Fatalf("second save: %+v", got)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "sub"))
	if len(entries) != 1 {
		t.Fatalf("temp files left behind: %v", entries)
	}
	if err := os.WriteFile(s.Path(), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Load(); err == nil {
		t.Fatal("corrupt file accepted")
	}
}

func TestTrackerReset(t *testing.T) {
	var saved []string
	tr := NewTracker(Position{}, func(p Position) { saved = append(saved, p.StartFrom) })
	old := tr.Add(pos("5-0"), 1)
	tr.Reset(pos("2-0"))
	tr.ACK([]any{old}) // a late acknowledgement of the old stream
	e := tr.Add(pos("3-0"), 1)
	tr.ACK([]any{e})
	if strings.Join(saved, ",") != "2-0,3-0" {
		t.Fatalf("saved %v, want the reset position then the new stream's", saved)
	}
}
