package event

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/openctibeat/openctibeat/opencti/stream"
)

// FuzzDecode: no input makes Decode panic or overflow its stack; what it
// accepts has an id, a kind and a STIX object with id and type and is
// nested at most MaxDepth deep; what is deeper is refused as too_deep.
// depth and width, when not zero, expand data into a generated message
// (see generated) so that deep and wide inputs are reached at once.
//
//	go test -run '^$' -fuzz FuzzDecode -fuzztime 60s -fuzzminimizetime 10s ./opencti/event/
//
// (Go minimises a new input by trying to cut every pair of offsets of its
// strings: for a kilobyte event that can take the default minute, the
// whole run, with no execution counted.)
func FuzzDecode(f *testing.F) {
	raw, err := os.ReadFile("testdata/valid.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	for _, fx := range loadFixturesFromBytes(f, raw) {
		f.Add(fx.Event, fx.Data, uint16(0), uint8(0))
	}
	for _, s := range []string{`{"data":`, `null`, `[]`, `{"data":{"type":"x","id":"x--y"}}`, `{"data":{},"context":{"sources":[null]}}`,
		`{"data":{"type":"indicator","id":"indicator--86d9fae0-300e-54a8-9b7e-041e303406ad"},"context":{"reverse_patch":[{"op":"replace","path":"/","value":1}]}}`} {
		for _, name := range []string{"create", "update", "delete", "merge"} {
			f.Add(name, s, uint16(0), uint8(0))
		}
	}
	// Deep and wide inputs are generated from short ones: the fuzzer
	// mutates and minimises a few bytes, not megabytes.
	f.Add("create", `{"data":`+nested(MaxDepth, "1")+`}`, uint16(0), uint8(0))
	// The generated message nests depth levels in 3 (envelope, data, x).
	f.Add("create", `1`, uint16(MaxDepth-3), uint8(1))      // at the limit
	f.Add("create", `"\"[["`, uint16(MaxDepth-2), uint8(2)) // one past it
	f.Add("update", `{"a":[1,"}"]}`, uint16(40000), uint8(1))
	f.Add("create", `[[1],{"b":null}]`, uint16(3), uint8(255))
	f.Fuzz(func(t *testing.T, name, data string, depth uint16, width uint8) {
		msg := []byte(data)
		if depth > 0 || width > 0 {
			msg = generated(data, int(depth), int(width))
		}
		ev, err := Decode(stream.Message{ID: "1-0", Event: name, Data: msg})
		deep := maxDepth(msg) > MaxDepth
		var de *Error
		tooDeep := errors.As(err, &de) && de.Reason == ReasonTooDeep
		if deep != tooDeep {
			if _, ok := ParseKind(name); ok {
				t.Fatalf("nesting %d (limit %d), error %v", maxDepth(msg), MaxDepth, err)
			}
		}
		if err != nil {
			return
		}
		if ev.ID != "1-0" || ev.Kind.String() != name || ev.Object.ID == "" || ev.Object.Type == "" {
			t.Fatalf("accepted an incomplete event: %+v", ev)
		}
	})
}

// generated is a create of an indicator whose property x holds width
// copies of leaf, each inside depth levels of arrays and objects
// (alternating), kept under about 16 KiB (unless one copy is larger) so
// that the fuzzer runs and minimises many a second.
func generated(leaf string, depth, width int) []byte {
	width = max(width, 1)
	per := 6*depth + len(leaf) + 1
	width = min(width, max(1, (16<<10)/per))
	var b strings.Builder
	b.WriteString(`{"data":{"type":"indicator","id":"indicator--86d9fae0-300e-54a8-9b7e-041e303406ad","x":[`)
	for w := range width {
		if w > 0 {
			b.WriteByte(',')
		}
		for i := range depth {
			if i%2 == 0 {
				b.WriteByte('[')
			} else {
				b.WriteString(`{"k":`)
			}
		}
		b.WriteString(leaf)
		for i := depth - 1; i >= 0; i-- {
			b.WriteByte("]}"[i%2])
		}
	}
	b.WriteString(`]}}`)
	return []byte(b.String())
}

// maxDepth is the deepest nesting of arrays and objects in b, read byte by
// byte (strings and their escapes skipped; a closing bracket without its
// opening one ignored): the definition depthExceeded is checked against.
func maxDepth(b []byte) int {
	depth, deepest, inString, escaped := 0, 0, false, false
	for _, ch := range b {
		switch {
		case inString && escaped:
			escaped = false
		case inString && ch == '\\':
			escaped = true
		case inString && ch == '"':
			inString = false
		case inString:
		case ch == '"':
			inString = true
		case ch == '[' || ch == '{':
			depth++
			deepest = max(deepest, depth)
		case (ch == ']' || ch == '}') && depth > 0:
			depth--
		}
	}
	return deepest
}
