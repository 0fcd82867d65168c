package checkpoint

import (
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// step is one message of a cursor test: id, kind, and the position
// expected after it.
type step struct {
	id   string
	kind string // "live", "hb" (heartbeat), "dep" (dependencies), "init", "bad" (did not decode), "begin" (new connection)
	want string // StartFrom after the message; "R" = still the recovery
}

func runCursor(t *testing.T, start Position, steps []step) {
	t.Helper()
	c := NewCursor(start)
	for i, s := range steps {
		if s.kind == "begin" {
			c.Begin()
			continue
		}
		m := Message{ID: s.id, Heartbeat: s.kind == "hb", Live: s.kind == "live"}
		got := c.Next(m)
		want := Position{StartFrom: s.want}
		if s.want == "R" {
			want = start
		}
		if got != want {
			t.Fatalf("step %d (%s %s): position %+v, want %+v", i, s.kind, s.id, got, want)
		}
	}
}

func TestCursorTail(t *testing.T) {
	start := Position{StartFrom: "5-0"}
	tests := []struct {
		name  string
		steps []step
	}{
		{"a group of one id is safe only once another id arrives", []step{
			{"10-0", "dep", "5-0"}, {"10-0", "dep", "5-0"}, {"10-0", "live", "5-0"},
			{"11-0", "dep", "10-0"}, {"11-0", "live", "10-0"}, {"12-0", "live", "11-0"},
		}},
		{"a heartbeat repeating the open group's id does not close it", []step{
			{"10-0", "dep", "5-0"}, {"10-0", "hb", "5-0"}, {"10-0", "live", "5-0"}, {"10-0", "hb", "5-0"},
		}},
		{"a heartbeat after the group closes it, its own id is not taken", []step{
			{"10-0", "live", "5-0"}, {"1764000000000-0", "hb", "10-0"}, {"1764000000000-0", "hb", "10-0"},
			{"11-0", "live", "10-0"}, {"12-0", "hb", "11-0"},
		}},
		{"a heartbeat before anything proves nothing", []step{
			{"9-0", "hb", "5-0"}, {"10-0", "live", "5-0"},
		}},
		{"messages without id, or with a foreign id, change nothing", []step{
			{"10-0", "live", "5-0"}, {"", "live", "5-0"}, {"garbage", "live", "5-0"}, {"11-0", "bad", "10-0"},
		}},
		{"a new connection forgets the open group (it is sent again)", []step{
			{"10-0", "dep", "5-0"}, {"", "begin", ""}, {"10-0", "dep", "5-0"}, {"10-0", "live", "5-0"}, {"11-0", "live", "10-0"},
		}},
		{"a new connection does not close the old connection's group with a heartbeat", []step{
			{"10-0", "live", "5-0"}, {"", "begin", ""}, {"20-0", "hb", "5-0"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runCursor(t, start, tt.steps) })
	}
}

func TestCursorRecovery(t *testing.T) {
	// 2024-01-01T00:00:00Z = 1704067200000 ms.
	start := Position{StartFrom: "0-0", RecoverUntil: "2024-01-01T00:00:00.000Z"}
	const rid = "1704067200000-0"
	tests := []struct {
		name  string
		steps []step
	}{
		{"a heartbeat during the recovery keeps it", []step{
			{"1600000000000-0", "init", "R"}, {"1600000000000-0", "hb", "R"}, {"1500000000000-0", "dep", "R"},
			{"1500000000000-0", "hb", "R"},
		}},
		{"synthetic ids out of order keep it", []step{
			{"1650000000000-0", "dep", "R"}, {"1650000000000-0", "init", "R"}, {"1600000000000-0", "init", "R"},
			{"1650000000000-0", "init", "R"}, {"1000-0", "init", "R"},
		}},
		{"an object updated during the recovery has an id after it: still the recovery", []step{
			{"1704067300000-0", "dep", "R"}, {"1704067300000-0", "init", "R"}, {"1704067300000-0", "hb", "R"},
			{"1600000000000-0", "init", "R"},
		}},
		{"the recover id itself is not after it", []step{
			{rid, "live", "R"}, {rid, "hb", "R"},
		}},
		{"a live event after the recover date ends it; its group is open", []step{
			{"1600000000000-0", "init", "R"}, {"1704067200001-0", "dep", "R"}, {"1704067200001-0", "live", rid},
			{"1704067200001-0", "hb", rid}, {"1704067200002-0", "live", "1704067200001-0"},
		}},
		{"a heartbeat after the recover date that is not the last id ends it", []step{
			{"1600000000000-0", "init", "R"}, {"1764000000000-0", "hb", rid}, {"1764000000001-0", "live", rid},
			{"1764000000002-0", "live", "1764000000001-0"},
		}},
		{"a live event that did not decode proves nothing", []step{
			{"1704067300000-0", "bad", "R"}, {"1704067300000-0", "hb", "R"},
		}},
		{"a restart of the recovery on a new connection", []step{
			{"1704067300000-0", "init", "R"}, {"", "begin", ""}, {"1600000000000-0", "hb", "R"}, {"1704067300000-0", "hb", rid},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runCursor(t, start, tt.steps) })
	}
	t.Run("an unreadable recover date is redone", func(t *testing.T) {
		bad := Position{StartFrom: "0-0", RecoverUntil: "not a date"}
		c := NewCursor(bad)
		for _, m := range []Message{{ID: "9999999999999-0", Live: true}, {ID: "9999999999999-1", Heartbeat: true}} {
			if got := c.Next(m); got != bad {
				t.Fatalf("position %+v", got)
			}
		}
	})
	t.Run("reset", func(t *testing.T) {
		c := NewCursor(start)
		c.Next(Message{ID: "1600000000000-0"})
		c.Reset(Position{StartFrom: "42-0"})
		if got := c.Next(Message{ID: "43-0", Live: true}); got.StartFrom != "42-0" {
			t.Fatalf("after reset: %+v", got)
		}
		if got := c.Next(Message{ID: "44-0", Live: true}); got.StartFrom != "43-0" {
			t.Fatalf("after reset: %+v", got)
		}
	})
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

// TestTrackerSavesInOrder: acknowledgements from several goroutines
// (libbeat's output workers), the publishing goroutine's skipped messages
// and a reset race; the positions handed to onSave never go backwards and
// nothing older overwrites the reset.
func TestTrackerSavesInOrder(t *testing.T) {
	for round := 0; round < 20; round++ {
		var mu sync.Mutex
		var saved []int
		tr := NewTracker(Position{}, func(p Position) {
			// A slow save widens any window between deciding a
			// position and handing it over.
			time.Sleep(time.Duration(rand.Intn(50)) * time.Microsecond)
			n, _ := strconv.Atoi(strings.TrimSuffix(p.StartFrom, "-0"))
			mu.Lock()
			saved = append(saved, n)
			mu.Unlock()
		})
		const n = 2000
		entries := make(chan *Entry, n)
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for e := range entries {
					tr.ACK([]any{e})
				}
			}()
		}
		for i := 1; i <= n; i++ {
			docs := i % 2 // every other message is skipped: Add itself saves
			e := tr.Add(Position{StartFrom: strconv.Itoa(i) + "-0"}, docs)
			if docs > 0 {
				entries <- e
			}
		}
		close(entries)
		// The reset races the last acknowledgements.
		time.Sleep(time.Duration(rand.Intn(200)) * time.Microsecond)
		tr.Reset(Position{StartFrom: "1000000-0"})
		wg.Wait()
		mu.Lock()
		for i := 1; i < len(saved); i++ {
			if saved[i-1] == 1000000 {
				t.Fatalf("round %d: %d was saved after the reset", round, saved[i])
			}
			if saved[i] < saved[i-1] {
				t.Fatalf("round %d: the saved position went back from %d to %d", round, saved[i-1], saved[i])
			}
		}
		if last := saved[len(saved)-1]; last != 1000000 {
			t.Fatalf("round %d: the reset was overwritten by %d", round, last)
		}
		mu.Unlock()
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
