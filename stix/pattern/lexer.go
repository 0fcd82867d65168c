package pattern

import (
	"encoding/base64"
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
	s := p.src
	start := p.pos
	p.tok = token{pos: start, end: start}
	if start >= len(s) {
		p.tok.kind = tEOF
		return nil
	}
	c := s[start]
	single := func(k tokKind) error {
		p.pos++
		p.tok.kind, p.tok.end, p.tok.text = k, p.pos, s[start:p.pos]
		return nil
	}
	op := func(n int) error {
		p.pos += n
		p.tok.kind, p.tok.end, p.tok.text = tOp, p.pos, s[start:p.pos]
		return nil
	}
	at := func(i int) byte {
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	switch {
	case c == '[':
		return single(tLBrack)
	case c == ']':
		return single(tRBrack)
	case c == '(':
		return single(tLParen)
	case c == ')':
		return single(tRParen)
	case c == ':':
		return single(tColon)
	case c == ',':
		return single(tComma)
	case c == '*':
		return single(tStar)
	case c == '=':
		if at(start+1) == '=' {
			return op(2)
		}
		return op(1)
	case c == '!':
		if at(start+1) == '=' {
			return op(2)
		}
		return p.errAt(start, "unexpected '!': the not-equal operator is != (or NOT before an operator)")
	case c == '<':
		if n := at(start + 1); n == '=' || n == '>' {
			return op(2)
		}
		return op(1)
	case c == '>':
		if at(start+1) == '=' {
			return op(2)
		}
		return op(1)
	case c == '\'':
		str, end, err := p.lexString(start)
		if err != nil {
			return err
		}
		p.pos = end
		p.tok.kind, p.tok.end, p.tok.text, p.tok.str = tString, end, s[start:end], str
		return nil
	case isDigit(c),
		(c == '+' || c == '-') && (isDigit(at(start+1)) || at(start+1) == '.' && isDigit(at(start+2))),
		c == '.' && isDigit(at(start+1)):
		return p.lexNumber(start)
	case c == '.':
		return single(tDot)
	case isIdentStart(c):
		end := start + 1
		for end < len(s) && isIdentPart(s[end]) {
			end++
		}
		word := s[start:end]
		if end < len(s) && s[end] == '\'' && (word == "t" || word == "b" || word == "h") {
			return p.lexPrefixed(start, word[0])
		}
		p.pos = end
		p.tok.kind, p.tok.end, p.tok.text = tWord, end, word
		return nil
	}
	if c == '+' || c == '-' {
		return p.errAt(start, "unexpected %q: a sign must be followed by a number", string(c))
	}
	if c == '"' {
		return p.errAt(start, "unexpected '\"': strings are quoted with single quotes ('...')")
	}
	r, size := utf8.DecodeRuneInString(s[start:])
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

// lexPrefixed reads b'...', h'...' or t'...'.
func (p *parser) lexPrefixed(start int, prefix byte) error {
	s := p.src
	body := start + 2
	n := strings.IndexByte(s[body:], '\'')
	name := map[byte]string{'b': "binary", 'h': "hex", 't': "timestamp"}[prefix]
	if n < 0 {
		return p.errAt(start, "unterminated %s constant: missing closing quote", name)
	}
	content := s[body : body+n]
	end := body + n + 1
	p.tok.end, p.tok.text = end, s[start:end]
	switch prefix {
	case 'h':
		if len(content)%2 != 0 {
			return p.errAt(start, "invalid hex constant %s: odd number of hex digits", p.tok.text)
		}
		b := make([]byte, len(content)/2)
		for i := 0; i < len(content); i++ {
			if !isHexDigit(content[i]) {
				return p.errAt(body+i, "invalid hex constant %s: %q is not a hex digit", p.tok.text, rune(content[i]))
			}
		}
		for i := range b {
			b[i] = unhex(content[2*i])<<4 | unhex(content[2*i+1])
		}
		p.tok.kind, p.tok.bytes = tHex, b
	case 'b':
		if content == "" {
			return p.errAt(start, "invalid binary constant b'': it must hold at least one base64 group")
		}
		for i := 0; i < len(content); i++ {
			if !isBase64Char(content[i]) && content[i] != '=' {
				return p.errAt(body+i, "invalid binary constant %s: %q is not a base64 character", p.tok.text, rune(content[i]))
			}
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

func unhex(c byte) byte {
	switch {
	case isDigit(c):
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// parseTimestamp validates a STIX timestamp, RFC 3339 in UTC:
// YYYY-MM-DDTHH:MM:SS[.fraction]Z. Fractions beyond nanoseconds are
// truncated; a leap second (:60) is accepted and yields the next second.
// On error it returns the offset in s of the problem and a message.
func parseTimestamp(s string) (time.Time, int, string) {
	const layout = "YYYY-MM-DDTHH:MM:SS"
	num := func(off, n int) (int, bool) {
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
	sep := func(off int, c byte) bool { return off < len(s) && s[off] == c }
	bad := func(off int) (time.Time, int, string) {
		return time.Time{}, off, "expected the form " + layout + "[.fraction]Z"
	}
	year, ok := num(0, 4)
	if !ok {
		return bad(0)
	}
	if !sep(4, '-') {
		return bad(4)
	}
	month, ok := num(5, 2)
	if !ok {
		return bad(5)
	}
	if !sep(7, '-') {
		return bad(7)
	}
	day, ok := num(8, 2)
	if !ok {
		return bad(8)
	}
	if !sep(10, 'T') {
		return bad(10)
	}
	hour, ok := num(11, 2)
	if !ok {
		return bad(11)
	}
	if !sep(13, ':') {
		return bad(13)
	}
	minute, ok := num(14, 2)
	if !ok {
		return bad(14)
	}
	if !sep(16, ':') {
		return bad(16)
	}
	sec, ok := num(17, 2)
	if !ok {
		return bad(17)
	}
	i := 19
	nanos := 0
	if sep(i, '.') {
		i++
		first := i
		scale := 100000000
		for i < len(s) && isDigit(s[i]) {
			nanos += int(s[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == first {
			return time.Time{}, i, "expected digits after the decimal point"
		}
	}
	if i < len(s) && s[i] != 'Z' && (s[i] == '+' || s[i] == '-' || s[i] == 'z') {
		return time.Time{}, i, "STIX timestamps must be in UTC and end with Z"
	}
	if !sep(i, 'Z') || i+1 != len(s) {
		return bad(i)
	}
	switch {
	case month < 1 || month > 12:
		return time.Time{}, 5, fmt.Sprintf("month %02d out of range", month)
	case day < 1 || day > daysIn(month, year):
		return time.Time{}, 8, fmt.Sprintf("day %02d out of range for %04d-%02d", day, year, month)
	case hour > 23:
		return time.Time{}, 11, fmt.Sprintf("hour %02d out of range", hour)
	case minute > 59:
		return time.Time{}, 14, fmt.Sprintf("minute %02d out of range", minute)
	case sec > 60:
		return time.Time{}, 17, fmt.Sprintf("second %02d out of range", sec)
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nanos, time.UTC)
	if t.Year() > 9999 {
		return time.Time{}, 17, "leap second past year 9999"
	}
	return t, 0, ""
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
