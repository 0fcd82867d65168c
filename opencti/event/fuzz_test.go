package event

import (
	"os"
	"testing"

	"github.com/openctibeat/openctibeat/opencti/stream"
)

// FuzzDecode: no input makes Decode panic; what it accepts has an id, a
// kind and a STIX object with id and type.
func FuzzDecode(f *testing.F) {
	raw, err := os.ReadFile("testdata/valid.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	for _, fx := range loadFixturesFromBytes(f, raw) {
		f.Add(fx.Event, fx.Data)
	}
	for _, s := range []string{`{"data":`, `null`, `[]`, `{"data":{"type":"x","id":"x--y"}}`, `{"data":{},"context":{"sources":[null]}}`,
		`{"data":{"type":"indicator","id":"indicator--86d9fae0-300e-54a8-9b7e-041e303406ad"},"context":{"reverse_patch":[{"op":"replace","path":"/","value":1}]}}`} {
		for _, name := range []string{"create", "update", "delete", "merge"} {
			f.Add(name, s)
		}
	}
	f.Fuzz(func(t *testing.T, name, data string) {
		ev, err := Decode(stream.Message{ID: "1-0", Event: name, Data: []byte(data)})
		if err != nil {
			return
		}
		if ev.ID != "1-0" || ev.Kind.String() != name || ev.Object.ID == "" || ev.Object.Type == "" {
			t.Fatalf("accepted an incomplete event: %+v", ev)
		}
	})
}
