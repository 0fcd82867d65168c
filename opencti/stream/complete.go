package stream

import "io"

// completeEvents passes on only whole SSE messages: bytes up to the last
// blank line (the end of a message). A message cut short by the end of the
// connection is dropped, never handed on; the SSE specification says an
// incomplete event at the end of the stream is discarded. r3labs/sse
// (v2.10.0) hands such a tail over as an event, which would carry the cut
// message's id and let the position move past an event never read whole.
type completeEvents struct {
	r    io.Reader
	buf  []byte // read, not yet released
	out  []byte // released, not yet returned
	keep []byte // out's backing array, reused
	err  error
}

func newCompleteEvents(r io.Reader) *completeEvents {
	return &completeEvents{r: r, buf: make([]byte, 0, 64<<10)}
}

func (c *completeEvents) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		if len(c.buf) == cap(c.buf) {
			grown := make([]byte, len(c.buf), 2*cap(c.buf))
			copy(grown, c.buf)
			c.buf = grown
		}
		n, err := c.r.Read(c.buf[len(c.buf):cap(c.buf)])
		// Only the new bytes (and the 3 before them, for a separator split
		// across reads) can hold a new blank line: the rest was searched.
		from := max(len(c.buf)-3, 0)
		c.buf = c.buf[:len(c.buf)+n]
		if end := lastEventEnd(c.buf[from:]); end > 0 {
			end += from
			// out is empty here: its backing array is free again.
			c.keep = append(c.keep[:0], c.buf[:end]...)
			c.out = c.keep
			c.buf = append(c.buf[:0], c.buf[end:]...)
		}
		if err != nil {
			c.err = err // the partial message in buf is dropped
		}
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// lastEventEnd is the index just past the last blank line in b ("\n\n",
// "\r\r" or "\r\n\r\n"), or 0. It scans backwards from the end and stops
// at the first one, so it reads about one message, not the whole read
// (three bytes.LastIndex calls over each 64 KiB read cost 6.7% of the
// beat's CPU: the two separators a stream does not use were searched
// through to the start).
func lastEventEnd(b []byte) int {
	for i := len(b) - 1; i >= 1; i-- {
		switch b[i] {
		case '\n':
			if b[i-1] == '\n' || (i >= 3 && b[i-1] == '\r' && b[i-2] == '\n' && b[i-3] == '\r') {
				return i + 1
			}
		case '\r':
			if b[i-1] == '\r' {
				return i + 1
			}
		}
	}
	return 0
}
