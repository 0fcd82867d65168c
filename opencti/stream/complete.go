package stream

import (
	"bytes"
	"encoding/json"
	"io"
)

// oversizeEvent is the event name of the marker message that takes the
// place of a message over the size limit (see completeEvents). connect
// turns a marker back into a Message with Oversize set. A server message
// of this name is taken for a marker too: it is skipped as oversize.
const oversizeEvent = "openctibeat-oversize"

// maxFieldLine bounds the id and event lines kept from an oversize
// message; OpenCTI's are a few dozen bytes. A longer one is not kept.
const maxFieldLine = 1 << 10

// oversizeData is the data of a marker message.
type oversizeData struct {
	Event string `json:"event"` // the message's event name
	Bytes int    `json:"bytes"` // its size, blank line included
}

// completeEvents passes on only whole SSE messages: bytes up to the last
// blank line (the end of a message). A message cut short by the end of the
// connection is dropped, never handed on; the SSE specification says an
// incomplete event at the end of the stream is discarded. r3labs/sse
// (v2.10.0) hands such a tail over as an event, which would carry the cut
// message's id and let the position move past an event never read whole.
//
// It also bounds every message it passes on to limit bytes (blank line
// included), so that r3labs, whose buffer is larger, never fails on one
// (its scanner fails with "token too long", which ends the connection, and
// the reconnect meets the same message again). A message that has no end
// within limit bytes is read on to its end without being kept, and
// replaced by a small marker message in its place: its last id line as
// sent, the event oversizeEvent, and as data its event name and size. The
// message thus keeps its place in stream order and its id, and is skipped
// and counted by the consumer. Memory stays below about twice the limit
// (the pending and the released bytes) whatever the input.
type completeEvents struct {
	r     io.Reader
	limit int
	// buf holds bytes read and not released: whole messages and, after the
	// last of them, the start of the next. Its capacity never exceeds
	// limit: a message that fills it without ending is oversize.
	buf  []byte
	out  []byte    // released, not yet returned
	keep []byte    // out's backing array, reused
	over *oversize // the oversize message being read, or nil
	err  error
}

func newCompleteEvents(r io.Reader, limit int) *completeEvents {
	return &completeEvents{r: r, limit: limit, buf: make([]byte, 0, min(64<<10, limit))}
}

func (c *completeEvents) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		c.fill()
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// fill reads once and releases the messages that became whole. out is
// empty when it is called: keep, its backing array, is free again.
func (c *completeEvents) fill() {
	if c.over == nil && len(c.buf) == cap(c.buf) {
		if cap(c.buf) < c.limit {
			grown := make([]byte, len(c.buf), min(2*cap(c.buf), c.limit))
			copy(grown, c.buf)
			c.buf = grown
		} else {
			// buf starts at a message's start and holds no message end
			// (lastEventEnd found none): the message is over the limit.
			c.over = &oversize{}
			c.over.feed(c.buf)
			c.buf = c.buf[:0]
		}
	}
	start := len(c.buf)
	n, err := c.r.Read(c.buf[start:cap(c.buf)])
	c.buf = c.buf[:start+n]
	c.keep = c.keep[:0]
	// Only the new bytes (and the 3 before them, for a separator split
	// across reads) can hold a new blank line: the rest was searched.
	from := max(start-3, 0)
	if c.over != nil { // buf holds only new bytes of the oversize message
		end := c.over.feed(c.buf)
		if end < 0 {
			c.buf = c.buf[:0]
		} else {
			c.keep = c.over.appendMarker(c.keep)
			c.over = nil
			c.buf = append(c.buf[:0], c.buf[end:]...)
			from = 0
		}
	}
	if c.over == nil {
		if end := lastEventEnd(c.buf[from:]); end > 0 {
			end += from
			c.keep = append(c.keep, c.buf[:end]...)
			c.buf = append(c.buf[:0], c.buf[end:]...)
		}
	}
	c.out = c.keep
	if err != nil {
		c.err = err // a partial message in buf or over is dropped
	}
}

// lastEventEnd is the index just past the last blank line in b, or 0. A
// blank line ends where r3labs/sse ends a message: after "\n\n", "\r\r",
// "\r\n\r\n", "\r\n\n" or "\n\r\n" (the second is within the first, the
// fourth within the last). It scans backwards from the end and stops at
// the first one, so it reads about one message, not the whole read (three
// bytes.LastIndex calls over each 64 KiB read cost 6.7% of the beat's CPU:
// the separators a stream does not use were searched through to the
// start).
func lastEventEnd(b []byte) int {
	for i := len(b) - 1; i >= 1; i-- {
		switch b[i] {
		case '\n':
			if b[i-1] == '\n' || (i >= 2 && b[i-1] == '\r' && b[i-2] == '\n') {
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

// oversize follows an oversize message to its end without keeping it. It
// keeps the last id line and the last event name, which r3labs would have
// used (the last of each wins), and counts the bytes.
type oversize struct {
	size   int
	id     []byte // last id line, verbatim; nil if none or too long
	event  []byte // value of the last event line; empty if too long
	line   []byte // the current line, while it may be kept
	long   bool   // the current line is past maxFieldLine
	p1, p2 byte   // the two bytes before the next one in the message
}

// feed reads b, the next bytes of the message, and returns the index just
// past the message's end in b, or -1 when the message goes on. The end is
// the first blank line, as r3labs would find it; bytes before the message
// (p1 and p2 start at zero) take no part in it.
func (o *oversize) feed(b []byte) int {
	for i, ch := range b {
		end := false
		switch ch {
		case '\n':
			end = o.p1 == '\n' || (o.p1 == '\r' && o.p2 == '\n')
			o.endLine()
		case '\r':
			end = o.p1 == '\r'
			o.endLine()
		default:
			if len(o.line) < maxFieldLine {
				o.line = append(o.line, ch)
			} else {
				o.long = true
			}
		}
		o.p2, o.p1 = o.p1, ch
		if end {
			o.size += i + 1
			return i + 1
		}
	}
	o.size += len(b)
	return -1
}

// endLine keeps the line just ended if it is an id or event field.
func (o *oversize) endLine() {
	switch {
	case bytes.HasPrefix(o.line, []byte("id:")):
		o.id = nil
		if !o.long {
			o.id = append([]byte(nil), o.line...)
		}
	case bytes.HasPrefix(o.line, []byte("event:")):
		o.event = o.event[:0]
		if !o.long {
			v, _ := bytes.CutPrefix(o.line[len("event:"):], []byte(" "))
			o.event = append(o.event, v...)
		}
	}
	o.line, o.long = o.line[:0], false
}

// appendMarker appends the marker message that replaces the message.
func (o *oversize) appendMarker(b []byte) []byte {
	if o.id != nil {
		b = append(append(b, o.id...), '\n')
	}
	data, _ := json.Marshal(oversizeData{Event: string(o.event), Bytes: o.size}) // cannot fail
	b = append(b, "event: "+oversizeEvent+"\ndata: "...)
	b = append(b, data...)
	return append(b, "\n\n"...)
}
