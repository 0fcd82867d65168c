package stream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
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
			got, err := io.ReadAll(newCompleteEvents(r, 16<<20))
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
	got, err := io.ReadAll(newCompleteEvents(iotest.HalfReader(bytes.NewBufferString(big+"id: 10\ndata: cut")), 16<<20))
	if err != nil || string(got) != big {
		t.Fatalf("big message: %d bytes, err %v", len(got), err)
	}
}

// TestLastEventEnd compares the backward scan with its definition: the end
// of the last occurrence of any of the blank-line separators r3labs/sse
// splits messages on.
func TestLastEventEnd(t *testing.T) {
	byDefinition := func(b []byte) int {
		best := 0
		for _, sep := range []string{"\n\n", "\r\r", "\r\n\r\n", "\r\n\n", "\n\r\n"} {
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

// marker is the message completeEvents puts in the place of an oversize
// one.
func marker(idLine, event string, size int) string {
	if idLine != "" {
		idLine += "\n"
	}
	return fmt.Sprintf("%sevent: %s\ndata: {\"event\":%q,\"bytes\":%d}\n\n", idLine, oversizeEvent, event, size)
}

// TestCompleteEventsOversize: a message over the limit is replaced by a
// marker that keeps its id and event name; the messages around it pass as
// they are, whatever the reads.
func TestCompleteEventsOversize(t *testing.T) {
	const limit = 64
	x := strings.Repeat("x", 200)
	small1, small3 := "id: 1\nevent: create\ndata: a\n\n", "id: 3\nevent: delete\ndata: c\n\n"
	big := "id: 2\nevent: update\ndata: " + x + "\n\n"
	after := "data: " + x + "\nevent: merge\nid: 7\n\n"
	last := "id: 4\nevent: a\nid: 5\nevent: b\ndata: " + x + "\n\n"
	noID := "event: create\ndata: " + x + "\n\n"
	longID := "id: " + strings.Repeat("9", 2000) + "\nevent: create\ndata: a\n\n"
	lines := "id: 6\nevent: create\n" + strings.Repeat("data: xxxx\n", 30) + "\n"
	crlf := "id: 8\r\nevent: create\r\ndata: " + x + "\r\n\r\n"
	cr := "id: 8\revent: create\rdata: " + x + "\r\r"
	fits := "id: 9\ndata: " + strings.Repeat("y", limit-14) + "\n\n"
	over := "id: 9\ndata: " + strings.Repeat("y", limit-13) + "\n\n"
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"oversize between two", small1 + big + small3, small1 + marker("id: 2", "update", len(big)) + small3},
		{"first message oversize", big + small3, marker("id: 2", "update", len(big)) + small3},
		{"two oversize in a row", big + big + small3, marker("id: 2", "update", len(big)) + marker("id: 2", "update", len(big)) + small3},
		{"id and event after the data", small1 + after + small3, small1 + marker("id: 7", "merge", len(after)) + small3},
		{"last id and event lines win", last, marker("id: 5", "b", len(last))},
		{"no id", noID + small3, marker("", "create", len(noID)) + small3},
		{"id line too long to keep", longID + small3, marker("", "create", len(longID)) + small3},
		{"data split in many lines", lines + small3, marker("id: 6", "create", len(lines)) + small3},
		{"CRLF framing", crlf + small3, marker("id: 8", "create", len(crlf)) + small3},
		{"CR framing", cr + small3, marker("id: 8", "create", len(cr)) + small3},
		{"exactly the limit passes", fits, fits},
		{"one byte over the limit", over, marker("id: 9", "", limit+1)},
		{"cut oversize message is dropped", small1 + big[:150], small1},
		{"no blank line ever", strings.Repeat("z", 10*limit), ""},
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
	}
	for _, tt := range tests {
		for rname, wrap := range readers {
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				got, err := io.ReadAll(newCompleteEvents(wrap(strings.NewReader(tt.in)), limit))
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != tt.want {
					t.Fatalf("got\n%q\nwant\n%q", got, tt.want)
				}
			})
		}
	}
}

// TestCompleteEventsStructured compares completeEvents with its
// definition on generated streams of messages with every line ending:
// each whole message passes as it is when it fits the limit, as a marker
// when not; the last, cut, is dropped.
func TestCompleteEventsStructured(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const limit = 96
	for i := range 300 {
		var in, want strings.Builder
		for range 1 + rng.IntN(6) {
			nl := []string{"\n", "\r\n", "\r"}[rng.IntN(3)]
			var msg strings.Builder
			idLine, event := "", ""
			for range 1 + rng.IntN(5) {
				var line string
				switch rng.IntN(4) {
				case 0:
					line = fmt.Sprintf("id: %d-0", rng.IntN(1000))
					idLine = line
				case 1:
					event = []string{"create", "update", "heartbeat"}[rng.IntN(3)]
					line = "event:" + []string{"", " "}[rng.IntN(2)] + event
				default:
					line = "data: " + strings.Repeat("d", rng.IntN(80))
				}
				msg.WriteString(line + nl)
			}
			msg.WriteString(nl)
			in.WriteString(msg.String())
			if msg.Len() <= limit {
				want.WriteString(msg.String())
			} else {
				want.WriteString(marker(idLine, event, msg.Len()))
			}
		}
		in.WriteString("id: 99-0\ndata: cut") // dropped
		for rname, wrap := range map[string]func(io.Reader) io.Reader{"whole": func(r io.Reader) io.Reader { return r }, "one byte": iotest.OneByteReader} {
			got, err := io.ReadAll(newCompleteEvents(wrap(strings.NewReader(in.String())), limit))
			if err != nil || string(got) != want.String() {
				t.Fatalf("case %d (%s reads): input\n%q\ngot\n%q\nwant\n%q (err %v)", i, rname, in.String(), got, want.String(), err)
			}
		}
	}
}

// endless yields n bytes of 'x' (no line end) without allocating them.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	if e.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), e.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	e.n -= k
	return k, nil
}

// TestCompleteEventsMemoryBounded: a message without end, 64 times the
// limit, is read through with memory of about the limit, and the stream
// goes on after it.
func TestCompleteEventsMemoryBounded(t *testing.T) {
	const limit = 1 << 20
	in := io.MultiReader(strings.NewReader("id: 1-0\nevent: create\ndata: "), &endless{64 * limit},
		strings.NewReader("\n\nid: 2-0\nevent: create\ndata: b\n\n"))
	c := newCompleteEvents(in, limit)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, err := io.ReadAll(c)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 3*limit {
		t.Fatalf("allocated %d bytes reading a %d-byte message with a %d-byte limit", alloc, 64*limit, limit)
	}
	want := marker("id: 1-0", "create", 28+64*limit+2) + "id: 2-0\nevent: create\ndata: b\n\n"
	if string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
