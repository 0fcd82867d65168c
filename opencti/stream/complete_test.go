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
