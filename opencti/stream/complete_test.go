package stream

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestCompleteEvents(t *testing.T) {
	cut := errors.New("connection reset")
	tests := []struct {
		name string
		in   string
		err  error
		want string
	}{
		{"whole messages pass", "id: 1\ndata: a\n\nid: 2\ndata: b\n\n", io.EOF, "id: 1\ndata: a\n\nid: 2\ndata: b\n\n"},
		{"a cut message is dropped at EOF", "id: 1\ndata: a\n\nid: 2\ndata: {\"x\":", io.EOF, "id: 1\ndata: a\n\n"},
		{"a cut message is dropped on error", "id: 1\ndata: a\n\nid: 2\ndata: {\"x\":", cut, "id: 1\ndata: a\n\n"},
		{"CRLF framing", "id: 1\r\ndata: a\r\n\r\nid: 2", io.EOF, "id: 1\r\ndata: a\r\n\r\n"},
		{"nothing whole", "id: 1\ndata: a", io.EOF, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r io.Reader = iotest.OneByteReader(bytes.NewBufferString(tt.in))
			if tt.err != io.EOF {
				r = io.MultiReader(r, iotest.ErrReader(tt.err))
			}
			got, err := io.ReadAll(newCompleteEvents(r))
			if string(got) != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			if tt.err != io.EOF && !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
		})
	}
	// Large messages across reads.
	big := "id: 9\ndata: " + string(bytes.Repeat([]byte("x"), 300<<10)) + "\n\n"
	got, err := io.ReadAll(newCompleteEvents(iotest.HalfReader(bytes.NewBufferString(big + "id: 10\ndata: cut"))))
	if err != nil || string(got) != big {
		t.Fatalf("big message: %d bytes, err %v", len(got), err)
	}
}

// TestLastEventEnd compares the backward scan with its definition: the end
// of the last occurrence of any of the three blank-line separators.
func TestLastEventEnd(t *testing.T) {
	byDefinition := func(b []byte) int {
		best := 0
		for _, sep := range []string{"\n\n", "\r\r", "\r\n\r\n"} {
			if i := bytes.LastIndex(b, []byte(sep)); i >= 0 && i+len(sep) > best {
				best = i + len(sep)
			}
		}
		return best
	}
	cases := []string{"", "\n", "\n\n", "a\n\nb", "a\r\rb", "a\r\n\r\nb", "\n\n\n", "\r\n\r\n\n", "x\r\n\r", "\n\r\n", "a\n\nb\r\rc", "a\r\rb\n\nc"}
	// And every string of up to 6 bytes over the alphabet {a, \r, \n}.
	alphabet := []byte("a\r\n")
	var gen func(prefix []byte)
	gen = func(prefix []byte) {
		cases = append(cases, string(prefix))
		if len(prefix) == 6 {
			return
		}
		for _, c := range alphabet {
			gen(append(append([]byte(nil), prefix...), c))
		}
	}
	gen(nil)
	for _, c := range cases {
		if got, want := lastEventEnd([]byte(c)), byDefinition([]byte(c)); got != want {
			t.Errorf("lastEventEnd(%q) = %d, want %d", c, got, want)
		}
	}
}
