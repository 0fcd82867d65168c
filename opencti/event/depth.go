package event

import "bytes"

// MaxDepth is the deepest nesting of JSON arrays and objects Decode
// accepts, the envelope being level 1. OpenCTI's deepest messages nest
// about a dozen levels: envelope, data, extensions, an extension, a list
// property and its objects, and for an update context, reverse_patch, an
// operation and its value, which may hold such an object again. 64 leaves
// a wide margin over that, and deeper data is refused before it reaches
// the decoder, which recurses once per level (16 MiB of '[' exceeded the
// goroutine stack: a fatal error, not a panic recover() can catch) and
// re-reads each value once per level that encloses it (40,000 levels took
// 33 s), so its cost is at most MaxDepth times the size. Every later walk
// of the object (stix.FromMap, the mappers, libbeat's encoder,
// Elasticsearch's parser) is bounded by it too.
const MaxDepth = 64

// depthExceeded returns the offset in the JSON text b of the first '[' or
// '{' that opens a level past limit, or -1 if there is none. It reads b
// once, from start to end, in time linear in its length: brackets inside
// strings do not count (a string ends at the first quote not escaped by an
// odd number of backslashes). It does not check that b is valid JSON (a
// closing bracket without its opening one counts as nothing); the decoder
// does that, knowing the depth is bounded.
func depthExceeded(b []byte, limit int) int {
	// No deeper than the number of opening brackets: most messages have
	// fewer than limit, and counting them (vectorised) costs a twentieth of
	// the scan (0.4 against 8 us for OpenCTI's 6 KB test events; decoding
	// them takes 200 us).
	if bytes.Count(b, []byte("[")) <= limit-bytes.Count(b, []byte("{")) {
		return -1
	}
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '[', '{':
			if depth++; depth > limit {
				return i
			}
		case ']', '}':
			if depth > 0 {
				depth--
			}
		case '"':
			i = stringEnd(b, i+1)
		}
	}
	return -1
}

// stringEnd returns the offset of the quote that closes the string whose
// contents start at b[from], or len(b) if it is not closed. Each byte is
// read at most twice: once by IndexByte, once when counting the
// backslashes before a quote (which stop at the previous quote).
func stringEnd(b []byte, from int) int {
	for j := from; ; j++ {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return len(b)
		}
		j += k
		n := 0
		for j-n-1 >= from && b[j-n-1] == '\\' {
			n++
		}
		if n%2 == 0 {
			return j
		}
	}
}
