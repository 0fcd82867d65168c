package pattern

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

type tokKind int

const (
	tEOF       tokKind = iota
	tWord              // identifier or keyword: [a-zA-Z_][a-zA-Z0-9_-]*
	tString            // 'text' (tok.str holds the decoded text)
	tInt               // [+-]?(0|[1-9][0-9]*)
	tFloat             // [+-]?[0-9]*.[0-9]+
	tBinary            // b'...' (tok.bytes)
	tHex               // h'...' (tok.bytes)
	tTimestamp         // t'...' (tok.time)
	tLBrack            // [
	tRBrack            // ]
	tLParen            // (
	tRParen            // )
	tColon             // :
	tDot               // .
	tComma             // ,
	tStar              // *
	tOp                // = == != <> < <= > >=
)

type token struct {
	kind     tokKind
	pos, end int    // byte offsets in the pattern
	text     string // source text
	str      string
	bytes    []byte
	time     time.Time
}

// keywords are the reserved words of STIX 2.1 patterning (case-sensitive),
// plus EXISTS.
var keywords = map[string]bool{
	"AND": true, "OR": true, "NOT": true, "FOLLOWEDBY": true, "LIKE": true,
	"MATCHES": true, "ISSUPERSET": true, "ISSUBSET": true, "LAST": true,
	"IN": true, "START": true, "STOP": true, "SECONDS": true, "true": true,
	"false": true, "WITHIN": true, "REPEATS": true, "TIMES": true,
	"EXISTS": true,
}

func isDigit(c byte) bool      { return '0' <= c && c <= '9' }
func isIdentStart(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' }
func isIdentPart(c byte) bool  { return isIdentStart(c) || isDigit(c) || c == '-' }
func isHexDigit(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
func isBase64Char(c byte) bool {
	return isIdentStart(c) && c != '_' || isDigit(c) || c == '+' || c == '/'
}

// isSpace reports the whitespace of the reference grammar (rule WS).
func isSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\r', '\n', '\v', '\f', 0x85, 0xa0, 0x1680, 0x2028,
		0x2029, 0x202f, 0x205f, 0x3000:
		return true
	}
	return 0x2000 <= r && r <= 0x200a
}

// skipSpace skips whitespace and comments (/* ... */ and // to end of line,
// as the reference grammar does).
func (p *parser) skipSpace() error {
	s := p.src
	for p.pos < len(s) {
		c := s[p.pos]
		switch {
		case c < utf8.RuneSelf && isSpace(rune(c)):
			p.pos++
		case c == '/' && strings.HasPrefix(s[p.pos:], "/*"):
			end := strings.Index(s[p.pos+2:], "*/")
			if end < 0 {
				return p.errAt(p.pos, "unterminated comment: missing */")
			}
			p.pos += 2 + end + 2
		case c == '/' && strings.HasPrefix(s[p.pos:], "//"):
			end := strings.IndexAny(s[p.pos:], "\r\n")
			if end < 0 {
				p.pos = len(s)
			} else {
				p.pos += end
			}
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(s[p.pos:])
			if !isSpace(r) {
				return nil
			}
			p.pos += size
		default:
			return nil
		}
	}
	return nil
}

// next reads the next token into p.tok.
func (p *parser) next() error {
	if err := p.skipSpace(); err != nil {
		return err
	}
	start := p.pos
	p.tok = token{pos: start, end: start}
	if start >= len(p.src) {
		p.tok.kind = tEOF
		return nil
	}
	switch c := p.src[start]; {
	case c < utf8.RuneSelf && punctuation[c] != tEOF:
		return p.emit(punctuation[c], start+1)
	case c == '=' || c == '!' || c == '<' || c == '>':
		return p.lexOperator(start)
	case c == '\'':
		str, end, err := p.lexString(start)
		if err != nil {
			return err
		}
		p.tok.str = str
		return p.emit(tString, end)
	case p.startsNumber(start):
		return p.lexNumber(start)
	case c == '.':
		return p.emit(tDot, start+1)
	case isIdentStart(c):
		return p.lexWord(start)
	}
	return p.unexpected(start)
}

// punctuation are the tokens of one character, '.' aside (it may start a
// number); tEOF stands for none.
var punctuation = [utf8.RuneSelf]tokKind{
	'[': tLBrack, ']': tRBrack, '(': tLParen, ')': tRParen,
	':': tColon, ',': tComma, '*': tStar,
}

// operators are the comparison operators, each of two characters before
// the one-character operator it starts with.
var operators = [...]string{"==", "!=", "<>", "<=", ">=", "=", "<", ">"}

// emit makes the source from the token's start to end the current token,
// of kind k, and moves past it.
func (p *parser) emit(k tokKind, end int) error {
	p.pos = end
	p.tok.kind, p.tok.end, p.tok.text = k, end, p.src[p.tok.pos:end]
	return nil
}

// at is the byte at offset i, 0 past the end.
func (p *parser) at(i int) byte {
	if i < len(p.src) {
		return p.src[i]
	}
	return 0
}

// lexOperator reads the comparison operator at start.
func (p *parser) lexOperator(start int) error {
	for _, op := range operators {
		if strings.HasPrefix(p.src[start:], op) {
			return p.emit(tOp, start+len(op))
		}
	}
	return p.errAt(start, "unexpected '!': the not-equal operator is != (or NOT before an operator)")
}

// startsNumber reports whether a number starts at i: digits or a decimal
// point and a digit, after an optional sign.
func (p *parser) startsNumber(i int) bool {
	if c := p.at(i); c == '+' || c == '-' {
		i++
	}
	return isDigit(p.at(i)) || p.at(i) == '.' && isDigit(p.at(i+1))
}

// lexWord reads an identifier or keyword, or the b'...', h'...' or t'...'
// constant it starts.
func (p *parser) lexWord(start int) error {
	s := p.src
	end := start + 1
	for end < len(s) && isIdentPart(s[end]) {
		end++
	}
	if word := s[start:end]; end < len(s) && s[end] == '\'' && (word == "t" || word == "b" || word == "h") {
		return p.lexPrefixed(start, word[0])
	}
	return p.emit(tWord, end)
}

// unexpected reports the character at start, which begins no token.
func (p *parser) unexpected(start int) error {
	switch c := p.src[start]; c {
	case '+', '-':
		return p.errAt(start, "unexpected %q: a sign must be followed by a number", string(c))
	case '"':
		return p.errAt(start, "unexpected '\"': strings are quoted with single quotes ('...')")
	}
	r, size := utf8.DecodeRuneInString(p.src[start:])
	if r == utf8.RuneError && size <= 1 {
		return p.errAt(start, "invalid UTF-8")
	}
	return p.errAt(start, "unexpected character %q", r)
}

// lexString reads the string literal starting with the quote at start and
// returns its decoded text and the offset after its closing quote. The only
// escapes are \' and \\.
func (p *parser) lexString(start int) (string, int, error) {
	s := p.src
	i := start + 1
	// Fast path: no escape.
	for i < len(s) && s[i] != '\'' && s[i] != '\\' {
		i++
	}
	if i < len(s) && s[i] == '\'' {
		return s[start+1 : i], i + 1, nil
	}
	var b strings.Builder
	b.WriteString(s[start+1 : i])
	for i < len(s) {
		switch c := s[i]; c {
		case '\'':
			return b.String(), i + 1, nil
		case '\\':
			if i+1 >= len(s) {
				return "", 0, p.errAt(start, "unterminated string: missing closing quote")
			}
			switch e := s[i+1]; e {
			case '\'', '\\':
				b.WriteByte(e)
				i += 2
			default:
				r, _ := utf8.DecodeRuneInString(s[i+1:])
				return "", 0, p.errAt(i, "invalid escape sequence %q in string: only \\' and \\\\ are allowed", "\\"+string(r))
			}
		default:
			b.WriteByte(c)
			i++
		}
	}
	return "", 0, p.errAt(start, "unterminated string: missing closing quote")
}

func (p *parser) lexNumber(start int) error {
	s := p.src
	i := start
	if s[i] == '+' || s[i] == '-' {
		i++
	}
	digits := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	kind := tInt
	if i < len(s) && s[i] == '.' {
		kind = tFloat
		i++
		frac := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == frac {
			return p.errAt(start, "malformed number %q: a decimal point must be followed by digits", s[start:i])
		}
	} else if i-digits > 1 && s[digits] == '0' {
		return p.errAt(start, "malformed number %q: integers cannot have leading zeros", s[start:i])
	}
	// As in the reference lexer, a number may be followed directly by a
	// word (WITHIN 5SECONDS); but exponents and dotted numbers are errors.
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j < len(s) && isDigit(s[j]) {
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			return p.errAt(start, "malformed number %q: exponents are not allowed", s[start:j])
		}
	}
	if i < len(s) && s[i] == '.' {
		j := i
		for j < len(s) && (isDigit(s[j]) || s[j] == '.') {
			j++
		}
		return p.errAt(start, "malformed number %q", s[start:j])
	}
	p.pos = i
	p.tok.kind, p.tok.end, p.tok.text = kind, i, s[start:i]
	return nil
}

// constantNames name the constants lexPrefixed reads, by prefix.
var constantNames = map[byte]string{'b': "binary", 'h': "hex", 't': "timestamp"}

// lexPrefixed reads b'...', h'...' or t'...'.
func (p *parser) lexPrefixed(start int, prefix byte) error {
	s := p.src
	body := start + 2
	n := strings.IndexByte(s[body:], '\'')
	if n < 0 {
		return p.errAt(start, "unterminated %s constant: missing closing quote", constantNames[prefix])
	}
	content := s[body : body+n]
	end := body + n + 1
	p.tok.end, p.tok.text = end, s[start:end]
	switch prefix {
	case 'h':
		if len(content)%2 != 0 {
			return p.errAt(start, "invalid hex constant %s: odd number of hex digits", p.tok.text)
		}
		if i := invalidAt(content, isHexDigit); i >= 0 {
			return p.errAt(body+i, "invalid hex constant %s: %q is not a hex digit", p.tok.text, rune(content[i]))
		}
		b, _ := hex.DecodeString(content) // valid: checked above
		p.tok.kind, p.tok.bytes = tHex, b
	case 'b':
		if content == "" {
			return p.errAt(start, "invalid binary constant b'': it must hold at least one base64 group")
		}
		if i := invalidAt(content, isBase64OrPad); i >= 0 {
			return p.errAt(body+i, "invalid binary constant %s: %q is not a base64 character", p.tok.text, rune(content[i]))
		}
		b, err := base64.StdEncoding.Strict().DecodeString(content)
		if err != nil {
			return p.errAt(start, "invalid binary constant %s: not canonical padded base64", p.tok.text)
		}
		p.tok.kind, p.tok.bytes = tBinary, b
	case 't':
		t, off, msg := parseTimestamp(content)
		if msg != "" {
			return p.errAt(body+off, "invalid timestamp %s: %s", p.tok.text, msg)
		}
		p.tok.kind, p.tok.time = tTimestamp, t
	}
	p.pos = end
	return nil
}

// invalidAt is the offset of the first byte of s that valid refuses, -1
// when there is none.
func invalidAt(s string, valid func(byte) bool) int {
	for i := 0; i < len(s); i++ {
		if !valid(s[i]) {
			return i
		}
	}
	return -1
}

func isBase64OrPad(c byte) bool { return isBase64Char(c) || c == '=' }

// timestampFields are the numbers of a STIX timestamp, year to second:
// where each starts, its width and the separator after it (0: none).
var timestampFields = [6]struct {
	off, width int
	sep        byte
}{{0, 4, '-'}, {5, 2, '-'}, {8, 2, 'T'}, {11, 2, ':'}, {14, 2, ':'}, {17, 2, 0}}

// parseTimestamp validates a STIX timestamp, RFC 3339 in UTC:
// YYYY-MM-DDTHH:MM:SS[.fraction]Z. Fractions beyond nanoseconds are
// truncated; a leap second (:60) is accepted and yields the next second.
// On error it returns the offset in s of the problem and a message.
func parseTimestamp(s string) (time.Time, int, string) {
	var v [6]int // year, month, day, hour, minute, second
	for i, f := range timestampFields {
		n, ok := decimal(s, f.off, f.width)
		if !ok {
			return badTimestamp(f.off)
		}
		if sepAt := f.off + f.width; f.sep != 0 && (sepAt >= len(s) || s[sepAt] != f.sep) {
			return badTimestamp(sepAt)
		}
		v[i] = n
	}
	nanos, i, msg := fraction(s, 19)
	if msg != "" {
		return time.Time{}, i, msg
	}
	if i < len(s) && (s[i] == '+' || s[i] == '-' || s[i] == 'z') {
		return time.Time{}, i, "STIX timestamps must be in UTC and end with Z"
	}
	if i >= len(s) || s[i] != 'Z' || i+1 != len(s) {
		return badTimestamp(i)
	}
	if off, msg := timestampRange(v); msg != "" {
		return time.Time{}, off, msg
	}
	t := time.Date(v[0], time.Month(v[1]), v[2], v[3], v[4], v[5], nanos, time.UTC)
	if t.Year() > 9999 {
		return time.Time{}, 17, "leap second past year 9999"
	}
	return t, 0, ""
}

func badTimestamp(off int) (time.Time, int, string) {
	return time.Time{}, off, "expected the form YYYY-MM-DDTHH:MM:SS[.fraction]Z"
}

// decimal reads the n-digit number at off.
func decimal(s string, off, n int) (int, bool) {
	if off+n > len(s) {
		return 0, false
	}
	v := 0
	for i := off; i < off+n; i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		v = v*10 + int(s[i]-'0')
	}
	return v, true
}

// fraction reads the fraction of a second that may start at i: its
// nanoseconds (digits past the ninth are dropped) and the offset after it,
// or the offset of an error and its message.
func fraction(s string, i int) (nanos, end int, msg string) {
	if i >= len(s) || s[i] != '.' {
		return 0, i, ""
	}
	i++
	first := i
	for scale := 100000000; i < len(s) && isDigit(s[i]); i++ {
		nanos += int(s[i]-'0') * scale
		scale /= 10
	}
	if i == first {
		return 0, i, "expected digits after the decimal point"
	}
	return nanos, i, ""
}

// timestampRange checks each number of a timestamp (year to second)
// against its range; on error it returns the number's offset and a message.
func timestampRange(v [6]int) (int, string) {
	year, month, day, hour, minute, sec := v[0], v[1], v[2], v[3], v[4], v[5]
	switch {
	case month < 1 || month > 12:
		return 5, fmt.Sprintf("month %02d out of range", month)
	case day < 1 || day > daysIn(month, year):
		return 8, fmt.Sprintf("day %02d out of range for %04d-%02d", day, year, month)
	case hour > 23:
		return 11, fmt.Sprintf("hour %02d out of range", hour)
	case minute > 59:
		return 14, fmt.Sprintf("minute %02d out of range", minute)
	case sec > 60:
		return 17, fmt.Sprintf("second %02d out of range", sec)
	}
	return 0, ""
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
