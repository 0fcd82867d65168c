package stixmode

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/openctibeat/openctibeat/mapping"
	"github.com/openctibeat/openctibeat/opencti/event"
	"github.com/openctibeat/openctibeat/opencti/stream"
)

var update = flag.Bool("update", false, "rewrite the golden files")

type goldenDoc struct {
	Op        string         `json:"op"`
	Index     string         `json:"index"`
	ID        string         `json:"id"`
	Timestamp string         `json:"timestamp,omitempty"`
	Type      string         `json:"type,omitempty"`
	Keys      int            `json:"keys"`
	Fields    map[string]any `json:"-"`
}

// TestMapGolden maps every fixture event and compares the documents (op,
// index, id, @timestamp, type, number of top-level keys) with the golden
// file; the body itself must be the object unchanged.
func TestMapGolden(t *testing.T) {
	f, err := os.Open("testdata/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := New(DefaultConfig())
	got := map[string][]goldenDoc{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var fx struct{ Name, Event, ID, Data string }
		if err := json.Unmarshal(sc.Bytes(), &fx); err != nil {
			t.Fatal(err)
		}
		ev, err := event.Decode(stream.Message{ID: fx.ID, Event: fx.Event, Data: []byte(fx.Data)})
		if err != nil {
			t.Fatal(err)
		}
		docs, err := m.Map(ev)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			g := goldenDoc{Op: d.Op.String(), Index: d.Index, ID: d.ID}
			if d.Op == mapping.Index {
				g.Timestamp = d.Timestamp.Format("2006-01-02T15:04:05.000Z07:00")
				g.Type, _ = d.Fields["type"].(string)
				g.Keys = len(d.Fields)
				// The body is the object as received.
				var env struct{ Data map[string]any }
				_ = json.Unmarshal([]byte(fx.Data), &env)
				a, _ := json.Marshal(env.Data)
				b, _ := json.Marshal(d.Fields)
				if !bytes.Equal(a, b) {
					t.Errorf("%s: body differs from the object", fx.Name)
				}
			}
			got[fx.Name] = append(got[fx.Name], g)
		}
	}
	out, _ := json.MarshalIndent(got, "", "  ")
	out = append(out, '\n')
	const golden = "testdata/events.golden.json"
	if *update {
		if err := os.WriteFile(golden, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(out, want) {
		t.Fatalf("documents differ from %s (go test -update rewrites it):\n%s", golden, out)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		index string
		ok    bool
	}{{"opencti-stix", true}, {"a", true}, {"Upper", false}, {"_x", false}, {"-x", false}, {"a b", false}, {"", false}, {"..", false}} {
		c := Config{Index: tt.index}
		if err := c.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%q) = %v", tt.index, err)
		}
	}
}
