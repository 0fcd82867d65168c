package event

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/openctibeat/openctibeat/opencti/stream"
)

// withProperty is a create of an indicator with one more property x.
func withProperty(x string) []byte {
	return []byte(`{"data":{"type":"indicator","id":"indicator--86d9fae0-300e-54a8-9b7e-041e303406ad","x":` + x + `}}`)
}

// nested is v inside n arrays.
func nested(n int, v string) string { return strings.Repeat("[", n) + v + strings.Repeat("]", n) }

// TestDecodeDepth: JSON nested deeper than MaxDepth is refused as too_deep
// (16 MiB of '[' overflowed the decoder's stack, a fatal error); the
// limit counts only real nesting.
func TestDecodeDepth(t *testing.T) {
	wide := make([]string, 100000)
	for i := range wide {
		wide[i] = fmt.Sprintf(`"k%d":[%d]`, i, i)
	}
	tests := []struct {
		name   string
		data   []byte
		reason Reason // "" accepted
	}{
		{"16 MiB of [", []byte(strings.Repeat("[", 16<<20)), ReasonTooDeep},
		{"40,000 levels", withProperty(nested(40000, "1")), ReasonTooDeep},
		{"16 MiB of { in a property", withProperty(strings.Repeat(`{"a":`, 16<<20/5)), ReasonTooDeep},
		{"MaxDepth levels", withProperty(nested(MaxDepth-2, "1")), ""}, // envelope and data are 2
		{"one level more", withProperty(nested(MaxDepth-1, "1")), ReasonTooDeep},
		{"brackets in a string", withProperty(`"` + strings.Repeat("[{", 100000) + `"`), ""},
		{"an escaped quote does not end the string", withProperty(`"\"` + strings.Repeat("[", 1000) + `"`), ""},
		{"an escaped backslash does not escape the quote", withProperty(`["\\\\", ` + nested(100, "1") + `]`), ReasonTooDeep},
		{"many shallow arrays", withProperty("[" + strings.Repeat("[[1]],", 100000) + "1]"), ""},
		{"a wide flat object", withProperty("{" + strings.Join(wide, ",") + "}"), ""},
		{"unbalanced closing brackets do not make room", withProperty(`1]]]]]]]]]]` + nested(MaxDepth+1, "1")), ReasonTooDeep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Decode(stream.Message{ID: "1-0", Event: "create", Data: tt.data})
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if ev.Object.Fields["x"] == nil {
					t.Fatal("property x lost")
				}
				return
			}
			var de *Error
			if !errors.As(err, &de) || de.Reason != tt.reason || de.EventID != "1-0" {
				t.Fatalf("err = %v, want reason %s", err, tt.reason)
			}
			if tt.reason == ReasonTooDeep && !strings.Contains(err.Error(), fmt.Sprint(MaxDepth)) {
				t.Fatalf("error %q does not name the limit", err)
			}
		})
	}
}

// TestDecodeDepthBeforeDecoding: a message too deep is refused before it
// reaches the decoder: refusing it allocates the same few objects (the
// error) whatever its size, where the decoder allocates per level.
func TestDecodeDepthBeforeDecoding(t *testing.T) {
	allocs := func(levels int) float64 {
		msg := stream.Message{ID: "1-0", Event: "create", Data: withProperty(nested(levels, "1"))}
		return testing.AllocsPerRun(5, func() { _, _ = Decode(msg) })
	}
	small, large := allocs(1000), allocs(2000)
	// A few (the error; the race detector adds one now and then), not one
	// or more per level as the decoder does.
	if small > 10 || large > 10 {
		t.Fatalf("refusing 1,000 levels allocates %v times, 2,000 levels %v times; want a few, whatever the depth", small, large)
	}
}

// TestDepthExceeded compares the scan with its definition (maxDepth, read
// byte by byte) on every short string over the characters that matter.
func TestDepthExceeded(t *testing.T) {
	byDefinition := func(b []byte, limit int) int {
		if maxDepth(b) <= limit {
			return -1
		}
		for i := range b { // the first prefix past the limit ends at the bracket
			if maxDepth(b[:i+1]) > limit {
				return i
			}
		}
		return -1
	}
	alphabet := []byte(`[{]}"\a`)
	var gen func(prefix []byte)
	n := 0
	gen = func(prefix []byte) {
		for _, limit := range []int{0, 1, 2} {
			n++
			if got, want := depthExceeded(prefix, limit), byDefinition(prefix, limit); got != want {
				t.Fatalf("depthExceeded(%q, %d) = %d, want %d", prefix, limit, got, want)
			}
		}
		if len(prefix) == 7 {
			return
		}
		for _, c := range alphabet {
			gen(append(prefix[:len(prefix):len(prefix)], c))
		}
	}
	gen(nil)
	t.Logf("%d cases", n)
}
