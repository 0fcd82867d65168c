package event

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/openctibeat/openctibeat/opencti/stream"
)

type fixture struct {
	Name  string `json:"name"`
	Event string `json:"event"`
	ID    string `json:"id"`
	Data  string `json:"data"`
}

func loadFixtures(t *testing.T, path string) []fixture {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return loadFixturesFromBytes(t, raw)
}

func loadFixturesFromBytes(t testing.TB, raw []byte) []fixture {
	t.Helper()
	var out []fixture
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var fx fixture
		if err := json.Unmarshal(sc.Bytes(), &fx); err != nil {
			t.Fatal(err)
		}
		out = append(out, fx)
	}
	return out
}

func TestDecodeValid(t *testing.T) {
	want := map[string]struct {
		kind     Kind
		stixID   string
		internal string
		sources  int
	}{
		"create indicator": {Create, "indicator--86d9fae0-300e-54a8-9b7e-041e303406ad", "cee1aad9-81a9-4e38-a829-a06b56b29338", 0},
		"update indicator": {Update, "indicator--4099edd7-1efd-54aa-9736-7bcd7219b78b", "12c19a66-d623-4ae7-9bc0-88e83198d188", 0},
		"merge":            {Merge, "indicator--86d9fae0-300e-54a8-9b7e-041e303406ad", "cee1aad9-81a9-4e38-a829-a06b56b29338", 1},
	}
	for _, fx := range loadFixtures(t, "testdata/valid.jsonl") {
		t.Run(fx.Name, func(t *testing.T) {
			ev, err := Decode(stream.Message{ID: fx.ID, Event: fx.Event, Data: []byte(fx.Data)})
			if err != nil {
				t.Fatal(err)
			}
			if ev.ID != fx.ID || ev.Kind.String() != fx.Event {
				t.Fatalf("id/kind = %s/%s", ev.ID, ev.Kind)
			}
			w, ok := want[fx.Name]
			if !ok {
				return
			}
			if ev.Kind != w.kind || ev.Object.ID != w.stixID || ev.Object.InternalID != w.internal || len(ev.Sources) != w.sources {
				t.Fatalf("got kind %s id %s internal %s sources %d", ev.Kind, ev.Object.ID, ev.Object.InternalID, len(ev.Sources))
			}
			if ev.Object.Fields["extensions"] == nil {
				t.Fatal("extensions lost")
			}
		})
	}
}

func TestDecodeInvalid(t *testing.T) {
	obj := `{"type":"indicator","id":"indicator--86d9fae0-300e-54a8-9b7e-041e303406ad"}`
	tests := []struct {
		name   string
		msg    stream.Message
		reason Reason
	}{
		{"not json", stream.Message{ID: "1-0", Event: "create", Data: []byte(`{"data":`)}, ReasonMalformedJSON},
		{"data is a string", stream.Message{ID: "1-0", Event: "create", Data: []byte(`{"data":"x"}`)}, ReasonMalformedJSON},
		{"envelope is an array", stream.Message{ID: "1-0", Event: "create", Data: []byte(`[1,2]`)}, ReasonMalformedJSON},
		{"no data", stream.Message{ID: "1-0", Event: "update", Data: []byte(`{"version":"4"}`)}, ReasonMissingField},
		{"null data", stream.Message{ID: "1-0", Event: "update", Data: []byte(`{"data":null}`)}, ReasonMissingField},
		{"no id on message", stream.Message{Event: "create", Data: []byte(`{"data":` + obj + `}`)}, ReasonMissingField},
		{"no type", stream.Message{ID: "1-0", Event: "create", Data: []byte(`{"data":{"id":"indicator--86d9fae0-300e-54a8-9b7e-041e303406ad"}}`)}, ReasonInvalidObject},
		{"bad type", stream.Message{ID: "1-0", Event: "create", Data: []byte(`{"data":{"type":"Indicator!","id":"x--y"}}`)}, ReasonInvalidObject},
		{"id of another type", stream.Message{ID: "1-0", Event: "create", Data: []byte(`{"data":{"type":"malware","id":"indicator--86d9fae0-300e-54a8-9b7e-041e303406ad"}}`)}, ReasonInvalidObject},
		{"id without uuid", stream.Message{ID: "1-0", Event: "create", Data: []byte(`{"data":{"type":"malware","id":"malware--abc"}}`)}, ReasonInvalidObject},
		{"merge without sources", stream.Message{ID: "1-0", Event: "merge", Data: []byte(`{"data":` + obj + `}`)}, ReasonMissingField},
		{"merge with a bad source", stream.Message{ID: "1-0", Event: "merge", Data: []byte(`{"data":` + obj + `,"context":{"sources":[{"type":"x"}]}}`)}, ReasonInvalidObject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.msg)
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if de.Reason != tt.reason || de.EventID != tt.msg.ID {
				t.Fatalf("reason %s id %q, want %s %q (%v)", de.Reason, de.EventID, tt.reason, tt.msg.ID, err)
			}
		})
	}
}

func TestDecodePrevious(t *testing.T) {
	obj := `{"type":"indicator","id":"indicator--86d9fae0-300e-54a8-9b7e-041e303406ad","pattern":"[ipv4-addr:value = '2.2.2.2']"}`
	data := `{"data":` + obj + `,"context":{"patch":[{"op":"replace","path":"/pattern","value":"[ipv4-addr:value = '2.2.2.2']"}],` +
		`"reverse_patch":[{"op":"replace","path":"/pattern","value":"[ipv4-addr:value = '1.1.1.1']"},{"op":"remove","path":"/x_new"},{"op":"replace","path":"/labels/0","value":"a"}]}}`
	ev, err := Decode(stream.Message{ID: "1-0", Event: "update", Data: []byte(data)})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Previous["pattern"] != "[ipv4-addr:value = '1.1.1.1']" {
		t.Fatalf("previous pattern %v", ev.Previous)
	}
	if v, ok := ev.Previous["x_new"]; !ok || v != nil {
		t.Fatalf("removed property: %v %v", v, ok)
	}
	if _, ok := ev.Previous["labels"]; ok {
		t.Fatal("nested paths must not count as top-level values")
	}
}
