package rules

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// decodeTOML decodes the subset of TOML (v1.0.0) the rule files use into
// maps, []any, string, int64 and bool. Floats, dates, times and inline
// tables are refused with an error rather than misread.
func decodeTOML(src string) (map[string]any, error) {
	d := &tomlDecoder{src: src, line: 1, root: map[string]any{}}
	if err := d.run(); err != nil {
		return nil, fmt.Errorf("line %d: %w", d.line, err)
	}
	return d.root, nil
}

type tomlDecoder struct {
	src  string
	pos  int
	line int
	root map[string]any
	cur  map[string]any
	// defined holds the tables opened by a [header], to refuse a second
	// header for the same table.
	defined map[string]bool
}

func (d *tomlDecoder) run() error {
	d.cur = d.root
	d.defined = map[string]bool{}
	for {
		d.skipBlank(true)
		if d.pos >= len(d.src) {
			return nil
		}
		var err error
		switch {
		case strings.HasPrefix(d.src[d.pos:], "[["):
			d.pos += 2
			err = d.header(true)
		case d.src[d.pos] == '[':
			d.pos++
			err = d.header(false)
		default:
			err = d.keyValue()
		}
		if err != nil {
			return err
		}
		if err := d.endOfLine(); err != nil {
			return err
		}
	}
}

// skipBlank skips spaces, tabs and comments, and newlines too when nl.
func (d *tomlDecoder) skipBlank(nl bool) {
	for d.pos < len(d.src) {
		switch c := d.src[d.pos]; {
		case c == ' ' || c == '\t':
			d.pos++
		case c == '#':
			for d.pos < len(d.src) && d.src[d.pos] != '\n' {
				d.pos++
			}
		case nl && c == '\r' && strings.HasPrefix(d.src[d.pos:], "\r\n"):
			d.pos += 2
			d.line++
		case nl && c == '\n':
			d.pos++
			d.line++
		default:
			return
		}
	}
}

func (d *tomlDecoder) endOfLine() error {
	d.skipBlank(false)
	if d.pos >= len(d.src) {
		return nil
	}
	if strings.HasPrefix(d.src[d.pos:], "\r\n") || d.src[d.pos] == '\n' {
		return nil
	}
	return fmt.Errorf("unexpected %q after a value or header", d.rest(10))
}

func (d *tomlDecoder) rest(n int) string {
	r := d.src[d.pos:]
	if len(r) > n {
		r = r[:n]
	}
	return r
}

// key reads a dotted key: bare, "basic" or 'literal' parts.
func (d *tomlDecoder) key() ([]string, error) {
	var parts []string
	for {
		d.skipBlank(false)
		if d.pos >= len(d.src) {
			return nil, errors.New("missing key")
		}
		var part string
		switch c := d.src[d.pos]; {
		case c == '"':
			s, err := d.basicString()
			if err != nil {
				return nil, err
			}
			part = s
		case c == '\'':
			s, err := d.literalString()
			if err != nil {
				return nil, err
			}
			part = s
		default:
			start := d.pos
			for d.pos < len(d.src) && isBareKeyChar(d.src[d.pos]) {
				d.pos++
			}
			if d.pos == start {
				return nil, fmt.Errorf("invalid key at %q", d.rest(10))
			}
			part = d.src[start:d.pos]
		}
		parts = append(parts, part)
		d.skipBlank(false)
		if d.pos < len(d.src) && d.src[d.pos] == '.' {
			d.pos++
			continue
		}
		return parts, nil
	}
}

func isBareKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// header reads [a.b] or [[a.b]] (the opening brackets already read) and
// makes it the current table.
func (d *tomlDecoder) header(array bool) error {
	path, err := d.key()
	if err != nil {
		return err
	}
	closing := "]"
	if array {
		closing = "]]"
	}
	if !strings.HasPrefix(d.src[d.pos:], closing) {
		return fmt.Errorf("header %v: missing %s", path, closing)
	}
	d.pos += len(closing)
	parent, err := d.walk(d.root, path[:len(path)-1])
	if err != nil {
		return err
	}
	last := path[len(path)-1]
	name := strings.Join(path, "\x00")
	if array {
		// A new element: the tables below it may be defined again.
		for k := range d.defined {
			if strings.HasPrefix(k, name+"\x00") {
				delete(d.defined, k)
			}
		}
		arr, ok := parent[last].([]any)
		if !ok && parent[last] != nil {
			return fmt.Errorf("[[%s]]: %s is not an array of tables", strings.Join(path, "."), last)
		}
		t := map[string]any{}
		parent[last] = append(arr, t)
		d.cur = t
		return nil
	}
	if d.defined[name] {
		return fmt.Errorf("[%s] defined twice", strings.Join(path, "."))
	}
	d.defined[name] = true
	t, err := d.walk(parent, []string{last})
	if err != nil {
		return err
	}
	d.cur = t
	return nil
}

// walk descends path from t, creating tables, entering the last table of
// an array of tables.
func (d *tomlDecoder) walk(t map[string]any, path []string) (map[string]any, error) {
	for _, p := range path {
		switch v := t[p].(type) {
		case nil:
			n := map[string]any{}
			t[p] = n
			t = n
		case map[string]any:
			t = v
		case []any:
			if len(v) == 0 {
				return nil, fmt.Errorf("%s: empty array", p)
			}
			last, ok := v[len(v)-1].(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s is an array of values, not of tables", p)
			}
			t = last
		default:
			return nil, fmt.Errorf("%s is a value, not a table", p)
		}
	}
	return t, nil
}

func (d *tomlDecoder) keyValue() error {
	path, err := d.key()
	if err != nil {
		return err
	}
	if d.pos >= len(d.src) || d.src[d.pos] != '=' {
		return fmt.Errorf("key %s: missing =", strings.Join(path, "."))
	}
	d.pos++
	d.skipBlank(false)
	v, err := d.value()
	if err != nil {
		return fmt.Errorf("key %s: %w", strings.Join(path, "."), err)
	}
	t, err := d.walk(d.cur, path[:len(path)-1])
	if err != nil {
		return err
	}
	last := path[len(path)-1]
	if _, dup := t[last]; dup {
		return fmt.Errorf("key %s defined twice", strings.Join(path, "."))
	}
	t[last] = v
	return nil
}

func (d *tomlDecoder) value() (any, error) {
	if d.pos >= len(d.src) {
		return nil, errors.New("missing value")
	}
	r := d.src[d.pos:]
	switch {
	case strings.HasPrefix(r, `"""`):
		return d.multiLineBasic()
	case strings.HasPrefix(r, `'''`):
		return d.multiLineLiteral()
	case r[0] == '"':
		return d.basicString()
	case r[0] == '\'':
		return d.literalString()
	case r[0] == '[':
		return d.array()
	case strings.HasPrefix(r, "true") && !isBareKeyChar(at(r, 4)):
		d.pos += 4
		return true, nil
	case strings.HasPrefix(r, "false") && !isBareKeyChar(at(r, 5)):
		d.pos += 5
		return false, nil
	case r[0] == '{':
		return nil, errors.New("inline tables are not supported")
	}
	start := d.pos
	for d.pos < len(d.src) && (isBareKeyChar(d.src[d.pos]) || strings.IndexByte("+.:", d.src[d.pos]) >= 0) {
		d.pos++
	}
	tok := d.src[start:d.pos]
	if tok == "" {
		return nil, fmt.Errorf("unexpected %q", d.rest(10))
	}
	digits := strings.TrimLeft(tok, "+-")
	if digits != "" && strings.Trim(digits, "0123456789_") == "" && !strings.HasPrefix(digits, "_") &&
		!strings.HasSuffix(digits, "_") && !strings.Contains(digits, "__") && (digits == "0" || digits[0] != '0') {
		return strconv.ParseInt(strings.ReplaceAll(tok, "_", ""), 10, 64)
	}
	return nil, fmt.Errorf("unsupported value %q (only strings, integers, booleans and arrays)", tok)
}

func at(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func (d *tomlDecoder) array() ([]any, error) {
	d.pos++ // [
	out := []any{}
	for {
		d.skipBlank(true)
		if d.pos >= len(d.src) {
			return nil, errors.New("unterminated array")
		}
		if d.src[d.pos] == ']' {
			d.pos++
			return out, nil
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		d.skipBlank(true)
		if d.pos < len(d.src) && d.src[d.pos] == ',' {
			d.pos++
			continue
		}
		if d.pos < len(d.src) && d.src[d.pos] == ']' {
			d.pos++
			return out, nil
		}
		return nil, fmt.Errorf("array: unexpected %q", d.rest(10))
	}
}

func (d *tomlDecoder) literalString() (string, error) {
	d.pos++ // '
	end := strings.IndexAny(d.src[d.pos:], "'\n")
	if end < 0 || d.src[d.pos+end] != '\'' {
		return "", errors.New("unterminated literal string")
	}
	s := d.src[d.pos : d.pos+end]
	d.pos += end + 1
	return s, nil
}

func (d *tomlDecoder) basicString() (string, error) {
	d.pos++ // "
	var b strings.Builder
	for d.pos < len(d.src) {
		c := d.src[d.pos]
		switch {
		case c == '"':
			d.pos++
			return b.String(), nil
		case c == '\n':
			return "", errors.New("newline in a basic string")
		case c == '\\':
			if err := d.escape(&b); err != nil {
				return "", err
			}
		default:
			b.WriteByte(c)
			d.pos++
		}
	}
	return "", errors.New("unterminated basic string")
}

func (d *tomlDecoder) multiLineBasic() (string, error) {
	d.pos += 3
	d.trimFirstNewline()
	var b strings.Builder
	for d.pos < len(d.src) {
		r := d.src[d.pos:]
		switch {
		case strings.HasPrefix(r, `"""`):
			// Up to two quotes may end the content right before the
			// closing delimiter.
			n := 3
			for n < 5 && at(r, n) == '"' {
				n++
			}
			b.WriteString(r[:n-3])
			d.pos += n
			return b.String(), nil
		case r[0] == '\\':
			// A line-ending backslash trims the newline and the
			// whitespace after it.
			j := 1
			for j < len(r) && (r[j] == ' ' || r[j] == '\t') {
				j++
			}
			if j < len(r) && (r[j] == '\n' || strings.HasPrefix(r[j:], "\r\n")) {
				d.pos += j
				for d.pos < len(d.src) && strings.IndexByte(" \t\r\n", d.src[d.pos]) >= 0 {
					if d.src[d.pos] == '\n' {
						d.line++
					}
					d.pos++
				}
				continue
			}
			if err := d.escape(&b); err != nil {
				return "", err
			}
		default:
			if r[0] == '\n' {
				d.line++
			}
			b.WriteByte(r[0])
			d.pos++
		}
	}
	return "", errors.New(`unterminated """ string`)
}

func (d *tomlDecoder) multiLineLiteral() (string, error) {
	d.pos += 3
	d.trimFirstNewline()
	rest := d.src[d.pos:]
	end := strings.Index(rest, "'''")
	if end < 0 {
		return "", errors.New("unterminated ''' string")
	}
	// Up to two quotes right before the delimiter belong to the content.
	for extra := 0; extra < 2 && end+3 < len(rest) && rest[end+3] == '\''; extra++ {
		end++
	}
	s := rest[:end]
	d.line += strings.Count(s, "\n")
	d.pos += end + 3
	return s, nil
}

func (d *tomlDecoder) trimFirstNewline() {
	if strings.HasPrefix(d.src[d.pos:], "\r\n") {
		d.pos += 2
		d.line++
	} else if strings.HasPrefix(d.src[d.pos:], "\n") {
		d.pos++
		d.line++
	}
}

// escape reads one escape sequence of a basic string into b.
func (d *tomlDecoder) escape(b *strings.Builder) error {
	if d.pos+1 >= len(d.src) {
		return errors.New("unterminated escape")
	}
	c := d.src[d.pos+1]
	d.pos += 2
	switch c {
	case 'b':
		b.WriteByte('\b')
	case 't':
		b.WriteByte('\t')
	case 'n':
		b.WriteByte('\n')
	case 'f':
		b.WriteByte('\f')
	case 'r':
		b.WriteByte('\r')
	case '"':
		b.WriteByte('"')
	case '\\':
		b.WriteByte('\\')
	case 'u', 'U':
		n := 4
		if c == 'U' {
			n = 8
		}
		if d.pos+n > len(d.src) {
			return errors.New("short unicode escape")
		}
		r, err := strconv.ParseUint(d.src[d.pos:d.pos+n], 16, 32)
		if err != nil || !utf8.ValidRune(rune(r)) {
			return fmt.Errorf("invalid unicode escape \\%c%s", c, d.src[d.pos:d.pos+n])
		}
		b.WriteRune(rune(r))
		d.pos += n
	default:
		return fmt.Errorf("invalid escape \\%c", c)
	}
	return nil
}
