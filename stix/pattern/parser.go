package pattern

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxNesting is the deepest nesting of parentheses Parse accepts (counting
// observation and comparison parentheses together). Deeper patterns are
// rejected with a SyntaxError rather than risking the stack.
const MaxNesting = 256

// SyntaxError reports why and where a pattern is invalid.
type SyntaxError struct {
	Pattern string // the whole pattern
	Offset  int    // byte offset of the problem in Pattern
	Msg     string // what is wrong
}

// Error returns, for example:
//
//	stix pattern: at offset 20 (near "]"): expected a comparison after OR, found "]"
func (e *SyntaxError) Error() string {
	if e.Offset >= len(e.Pattern) {
		return fmt.Sprintf("stix pattern: at offset %d (at end of pattern): %s", e.Offset, e.Msg)
	}
	return fmt.Sprintf("stix pattern: at offset %d (near %q): %s", e.Offset, near(e.Pattern, e.Offset), e.Msg)
}

// near returns a short excerpt of s starting at off, cut on a rune
// boundary.
func near(s string, off int) string {
	if off < 0 {
		off = 0
	}
	end := off + 16
	if end >= len(s) {
		return s[off:]
	}
	for end < len(s) && !utf8.RuneStart(s[end]) {
		end++
	}
	return s[off:end]
}

type parser struct {
	src   string
	pos   int   // lexer position: offset after p.tok
	tok   token // current token
	depth int   // parenthesis nesting
}

// Parse parses a STIX 2.1 pattern. Its errors are *SyntaxError. Parse
// never panics, whatever the input.
func Parse(s string) (*Pattern, error) {
	p := &parser{src: s}
	if !utf8.ValidString(s) {
		off := 0
		for off < len(s) {
			r, size := utf8.DecodeRuneInString(s[off:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			off += size
		}
		return nil, p.errAt(off, "invalid UTF-8")
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	if p.tok.kind == tEOF {
		return nil, p.errAt(p.tok.pos, "empty pattern")
	}
	if err := p.expectObsStart(""); err != nil {
		return nil, err
	}
	root, err := p.parseFollowedBy()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, p.afterObsError()
	}
	return &Pattern{Root: root}, nil
}

func (p *parser) errAt(off int, format string, args ...any) *SyntaxError {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &SyntaxError{Pattern: p.src, Offset: off, Msg: msg}
}

// errTok reports an error at the current token.
func (p *parser) errTok(format string, args ...any) *SyntaxError {
	return p.errAt(p.tok.pos, format, args...)
}

func (p *parser) isWord(w string) bool { return p.tok.kind == tWord && p.tok.text == w }

// describe names the current token for an error message.
func (p *parser) describe() string {
	if p.tok.kind == tEOF {
		return "end of pattern"
	}
	t := p.tok.text
	if utf8.RuneCountInString(t) > 24 {
		r := []rune(t)
		t = string(r[:24]) + "..."
	}
	d := strconv.Quote(t)
	if p.tok.kind == tWord && keywords[p.tok.text] {
		d = "keyword " + d
	}
	return d + p.keywordHint()
}

// keywordHint suggests the right spelling of a keyword written in the wrong
// case.
func (p *parser) keywordHint() string {
	if p.tok.kind != tWord || keywords[p.tok.text] {
		return ""
	}
	for _, k := range []string{strings.ToUpper(p.tok.text), strings.ToLower(p.tok.text)} {
		if keywords[k] {
			return fmt.Sprintf(" (keywords are case-sensitive: write %s)", k)
		}
	}
	return ""
}

// enter and leave track parenthesis nesting.
func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxNesting {
		return p.errTok("parentheses nested deeper than %d levels", MaxNesting)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// ---- observation expressions ----

// expectObsStart checks that the current token can start an observation
// expression.
func (p *parser) expectObsStart(after string) error {
	if p.tok.kind == tLBrack || p.tok.kind == tLParen {
		return nil
	}
	where := ""
	if after != "" {
		where = " after " + after
	}
	if p.tok.kind == tWord && !keywords[p.tok.text] {
		// type:property ... outside brackets
		save, savePos := p.tok, p.pos
		if err := p.next(); err == nil && p.tok.kind == tColon {
			p.tok, p.pos = save, savePos
			return p.errTok("expected an observation expression%s: comparisons must be enclosed in square brackets, as in [%s:...]", where, save.text)
		}
		p.tok, p.pos = save, savePos
	}
	if p.tok.kind == tRBrack {
		return p.errTok("expected an observation expression ('[' or '(')%s, found unbalanced ']'", where)
	}
	return p.errTok("expected an observation expression ('[' or '(')%s, found %s", where, p.describe())
}

// afterObsError explains an unexpected token after a complete observation
// expression.
func (p *parser) afterObsError() error {
	switch {
	case p.tok.kind == tRBrack:
		return p.errTok("unbalanced ']': no matching '['")
	case p.tok.kind == tRParen && p.depth == 0:
		return p.errTok("unbalanced ')': no matching '('")
	case p.isWord("STOP"):
		return p.errTok("STOP without START")
	case p.isWord("SECONDS"):
		return p.errTok("SECONDS without WITHIN")
	case p.isWord("TIMES"):
		return p.errTok("TIMES without REPEATS")
	}
	expect := "AND, OR, FOLLOWEDBY, a qualifier (WITHIN, START, REPEATS) or the end of the pattern"
	if p.depth > 0 {
		expect = "AND, OR, FOLLOWEDBY, a qualifier (WITHIN, START, REPEATS) or ')'"
	}
	return p.errTok("unexpected %s after an observation expression: expected %s", p.describe(), expect)
}

func (p *parser) parseFollowedBy() (ObservationExpr, error) {
	return parseChain(p, "FOLLOWEDBY", p.parseObsOr, p.expectObsStart, obsOp(ObsFollowedBy))
}

func (p *parser) parseObsOr() (ObservationExpr, error) {
	return parseChain(p, "OR", p.parseObsAnd, p.expectObsStart, obsOp(ObsOr))
}

func (p *parser) parseObsAnd() (ObservationExpr, error) {
	return parseChain(p, "AND", p.parseQualified, p.expectObsStart, obsOp(ObsAnd))
}

// parseChain parses operand (keyword operand)...: a chain of one binary
// operator, leaning left (left-associative). After each keyword,
// expectStart checks that an operand starts; join builds the node.
func parseChain[E any](p *parser, keyword string, operand func() (E, error), expectStart func(after string) error, join func(left, right E) E) (E, error) {
	var none E
	left, err := operand()
	if err != nil {
		return none, err
	}
	for p.isWord(keyword) {
		if err := p.next(); err != nil {
			return none, err
		}
		if err := expectStart(keyword); err != nil {
			return none, err
		}
		right, err := operand()
		if err != nil {
			return none, err
		}
		left = join(left, right)
	}
	return left, nil
}

// obsOp and compOp build the nodes of operator k.
func obsOp(k ObsOpKind) func(left, right ObservationExpr) ObservationExpr {
	return func(left, right ObservationExpr) ObservationExpr {
		return &ObservationOp{Op: k, Left: left, Right: right}
	}
}

func compOp(k CompOpKind) func(left, right CompExpr) CompExpr {
	return func(left, right CompExpr) CompExpr {
		return &CompOp{Op: k, Left: left, Right: right}
	}
}

// parseQualified parses an observation expression followed by any number
// of qualifiers, at most one of each kind.
func (p *parser) parseQualified() (ObservationExpr, error) {
	e, err := p.parseObsPrimary()
	if err != nil {
		return nil, err
	}
	var seen [Repeats + 1]bool
	for p.isWord("WITHIN") || p.isWord("START") || p.isWord("REPEATS") {
		at := p.tok.pos
		q, err := p.parseQualifier()
		if err != nil {
			return nil, err
		}
		if seen[q.Kind] {
			return nil, p.errAt(at, "duplicate %s qualifier on the same observation expression (parenthesise the expression to qualify it again)", q.Kind)
		}
		seen[q.Kind] = true
		e = &Qualified{Expr: e, Qualifier: q}
	}
	return e, nil
}

func (p *parser) parseObsPrimary() (ObservationExpr, error) {
	open := p.tok.pos
	switch p.tok.kind {
	case tLBrack:
		if err := p.next(); err != nil {
			return nil, err
		}
		if p.tok.kind == tRBrack {
			return nil, p.errAt(open, "empty observation expression []: expected a comparison")
		}
		if err := p.expectCompStart("'['"); err != nil {
			return nil, err
		}
		c, err := p.parseCompOr()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRBrack {
			if p.tok.kind == tEOF {
				return nil, p.errAt(open, "unbalanced '[': missing ']'")
			}
			return nil, p.errTok("expected AND, OR or ']' after a comparison, found %s", p.describe())
		}
		if err := p.next(); err != nil {
			return nil, err
		}
		return &Observation{Expr: c}, nil
	case tLParen:
		if err := p.enter(); err != nil {
			return nil, err
		}
		if err := p.next(); err != nil {
			return nil, err
		}
		if err := p.expectObsStart("'('"); err != nil {
			return nil, err
		}
		e, err := p.parseFollowedBy()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			if p.tok.kind == tEOF {
				return nil, p.errAt(open, "unbalanced '(': missing ')'")
			}
			return nil, p.afterObsError()
		}
		p.leave()
		if err := p.next(); err != nil {
			return nil, err
		}
		return e, nil
	}
	return nil, p.expectObsStart("")
}

func (p *parser) parseQualifier() (Qualifier, error) {
	kw := p.tok.text
	if err := p.next(); err != nil {
		return Qualifier{}, err
	}
	switch kw {
	case "WITHIN":
		if p.tok.kind != tInt && p.tok.kind != tFloat {
			return Qualifier{}, p.errTok("expected a number of seconds after WITHIN, found %s", p.describe())
		}
		if p.tok.text[0] == '-' {
			return Qualifier{}, p.errTok("WITHIN requires a non-negative number of seconds, found %s", p.describe())
		}
		f, err := strconv.ParseFloat(p.tok.text, 64)
		if err != nil {
			return Qualifier{}, p.errTok("number of seconds %s out of range", p.describe())
		}
		if err := p.next(); err != nil {
			return Qualifier{}, err
		}
		if !p.isWord("SECONDS") {
			return Qualifier{}, p.errTok("expected SECONDS after WITHIN %s, found %s", formatSeconds(f), p.describe())
		}
		if err := p.next(); err != nil {
			return Qualifier{}, err
		}
		return Qualifier{Kind: Within, Seconds: f}, nil
	case "REPEATS":
		if p.tok.kind != tInt {
			return Qualifier{}, p.errTok("expected an integer number of times after REPEATS, found %s", p.describe())
		}
		if p.tok.text[0] == '-' {
			return Qualifier{}, p.errTok("REPEATS requires a non-negative integer, found %s", p.describe())
		}
		n, err := strconv.ParseInt(p.tok.text, 10, 0)
		if err != nil {
			return Qualifier{}, p.errTok("number of times %s out of range", p.describe())
		}
		if err := p.next(); err != nil {
			return Qualifier{}, err
		}
		if !p.isWord("TIMES") {
			return Qualifier{}, p.errTok("expected TIMES after REPEATS %d, found %s", n, p.describe())
		}
		if err := p.next(); err != nil {
			return Qualifier{}, err
		}
		return Qualifier{Kind: Repeats, Times: int(n)}, nil
	default: // START
		start, err := p.parseQualifierTime("START")
		if err != nil {
			return Qualifier{}, err
		}
		if !p.isWord("STOP") {
			return Qualifier{}, p.errTok("expected STOP after START %s, found %s", formatTimestamp(start), p.describe())
		}
		if err := p.next(); err != nil {
			return Qualifier{}, err
		}
		stop, err := p.parseQualifierTime("STOP")
		if err != nil {
			return Qualifier{}, err
		}
		return Qualifier{Kind: StartStop, Start: start, Stop: stop}, nil
	}
}

// parseQualifierTime reads the timestamp of START or STOP: a timestamp
// constant t'...', or (as in STIX 2.0) a string holding a timestamp.
func (p *parser) parseQualifierTime(kw string) (t time.Time, err error) {
	switch p.tok.kind {
	case tTimestamp:
		t = p.tok.time
	case tString:
		var off int
		var msg string
		t, off, msg = parseTimestamp(p.tok.str)
		if msg != "" {
			if !strings.Contains(p.tok.text, `\`) {
				return t, p.errAt(p.tok.pos+1+off, "invalid timestamp after %s: %s", kw, msg)
			}
			return t, p.errTok("invalid timestamp after %s: %s", kw, msg)
		}
	default:
		return t, p.errTok("expected a timestamp t'YYYY-MM-DDTHH:MM:SSZ' after %s, found %s", kw, p.describe())
	}
	return t, p.next()
}

// ---- comparison expressions ----

// expectCompStart checks that the current token can start a comparison.
func (p *parser) expectCompStart(after string) error {
	switch {
	case p.tok.kind == tLParen:
		return nil
	case p.tok.kind == tWord && (!keywords[p.tok.text] || p.tok.text == "EXISTS" || p.tok.text == "NOT"):
		return nil
	}
	return p.errTok("expected a comparison after %s, found %s", after, p.describe())
}

func (p *parser) parseCompOr() (CompExpr, error) {
	return parseChain(p, "OR", p.parseCompAnd, p.expectCompStart, compOp(CompOr))
}

func (p *parser) parseCompAnd() (CompExpr, error) {
	return parseChain(p, "AND", p.parseCompPrimary, p.expectCompStart, compOp(CompAnd))
}

func (p *parser) parseCompPrimary() (CompExpr, error) {
	switch {
	case p.tok.kind == tLParen:
		open := p.tok.pos
		if err := p.enter(); err != nil {
			return nil, err
		}
		if err := p.next(); err != nil {
			return nil, err
		}
		if err := p.expectCompStart("'('"); err != nil {
			return nil, err
		}
		e, err := p.parseCompOr()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			if p.tok.kind == tEOF || p.tok.kind == tRBrack {
				return nil, p.errAt(open, "unbalanced '(': missing ')'")
			}
			return nil, p.errTok("expected AND, OR or ')' after a comparison, found %s", p.describe())
		}
		p.leave()
		if err := p.next(); err != nil {
			return nil, err
		}
		return e, nil
	case p.isWord("EXISTS"):
		return p.parseExists(false)
	case p.isWord("NOT"):
		save, savePos := p.tok, p.pos
		if err := p.next(); err != nil {
			return nil, err
		}
		if p.isWord("EXISTS") {
			return p.parseExists(true)
		}
		p.tok, p.pos = save, savePos
		return nil, p.errTok("NOT must follow the object path, as in type:property NOT = 'x' (or NOT EXISTS type:property)")
	}
	return p.parseComparison()
}

func (p *parser) parseExists(negated bool) (CompExpr, error) {
	if err := p.next(); err != nil {
		return nil, err
	}
	path, err := p.parsePath("EXISTS")
	if err != nil {
		return nil, err
	}
	return &Comparison{Path: path, Negated: negated, Op: Exists}, nil
}

var opTokens = map[string]Operator{
	"=": Eq, "==": Eq, "!=": Neq, "<>": Neq, "<": Lt, "<=": Le, ">": Gt,
	">=": Ge, "IN": In, "LIKE": Like, "MATCHES": Matches,
	"ISSUBSET": IsSubset, "ISSUPERSET": IsSuperset,
}

func (p *parser) parseComparison() (CompExpr, error) {
	path, err := p.parsePath("")
	if err != nil {
		return nil, err
	}
	c := &Comparison{Path: path}
	if p.isWord("NOT") {
		c.Negated = true
		if err := p.next(); err != nil {
			return nil, err
		}
	}
	op, ok := opTokens[p.tok.text]
	if !ok || (p.tok.kind != tOp && p.tok.kind != tWord) {
		if p.isWord("EXISTS") {
			return nil, p.errTok("EXISTS goes before the object path: EXISTS %s", path)
		}
		return nil, p.errTok("expected a comparison operator after %s, found %s", path, p.describe())
	}
	c.Op = op
	opText := op.String()
	if err := p.next(); err != nil {
		return nil, err
	}
	switch op {
	case Eq, Neq:
		c.Value, err = p.parseConstant(opText)
	case Lt, Le, Gt, Ge:
		at := p.tok.pos
		c.Value, err = p.parseConstant(opText)
		if err == nil && c.Value.Kind == Bool {
			return nil, p.errAt(at, "operator %s cannot compare a boolean", opText)
		}
	case In:
		c.Value, err = p.parseSet()
	default: // LIKE, MATCHES, ISSUBSET, ISSUPERSET
		if p.tok.kind != tString {
			return nil, p.errTok("%s requires a string constant ('...'), found %s", opText, p.describe())
		}
		c.Value = Value{Kind: String, Str: p.tok.str}
		err = p.next()
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// parsePath parses type:property[.key|['key']|[n]|[*]]...
func (p *parser) parsePath(after string) (ObjectPath, error) {
	var path ObjectPath
	if p.tok.kind != tWord || keywords[p.tok.text] {
		if after != "" {
			return path, p.errTok("expected an object path (type:property) after %s, found %s", after, p.describe())
		}
		return path, p.errTok("expected a comparison (type:property ...), found %s", p.describe())
	}
	path.ObjectType = p.tok.text
	if err := p.next(); err != nil {
		return path, err
	}
	if p.tok.kind != tColon {
		if p.tok.kind == tDot {
			return path, p.errTok("expected ':' between the object type and the property (%s:property)", path.ObjectType)
		}
		return path, p.errTok("expected ':' after object type %q: an object path is type:property, found %s", path.ObjectType, p.describe())
	}
	if err := p.next(); err != nil {
		return path, err
	}
	key, err := p.pathKey("':'")
	if err != nil {
		return path, err
	}
	path.Steps = append(path.Steps, Step{Key: key})
	for {
		switch p.tok.kind {
		case tDot:
			if err := p.next(); err != nil {
				return path, err
			}
			key, err := p.pathKey("'.'")
			if err != nil {
				return path, err
			}
			path.Steps = append(path.Steps, Step{Key: key})
		case tLBrack:
			if err := p.next(); err != nil {
				return path, err
			}
			step := Step{IsIndex: true}
			switch p.tok.kind {
			case tStar:
				step.AnyIndex = true
			case tInt:
				n, err := strconv.ParseInt(p.tok.text, 10, 0)
				if err != nil {
					return path, p.errTok("list index %s out of range", p.describe())
				}
				step.Index = int(n)
			default:
				return path, p.errTok("expected a list index (integer or *) after '[', found %s", p.describe())
			}
			if err := p.next(); err != nil {
				return path, err
			}
			if p.tok.kind != tRBrack {
				return path, p.errTok("expected ']' after the list index, found %s", p.describe())
			}
			if err := p.next(); err != nil {
				return path, err
			}
			path.Steps = append(path.Steps, step)
		default:
			return path, nil
		}
	}
}

// pathKey reads a property name: an identifier or a quoted string.
func (p *parser) pathKey(after string) (string, error) {
	var key string
	switch p.tok.kind {
	case tWord:
		key = p.tok.text
	case tString:
		key = p.tok.str
	default:
		return "", p.errTok("expected a property name after %s, found %s", after, p.describe())
	}
	return key, p.next()
}

func (p *parser) parseSet() (Value, error) {
	if p.tok.kind != tLParen {
		return Value{}, p.errTok("IN requires a parenthesised list of constants, as in IN ('a', 'b'), found %s", p.describe())
	}
	open := p.tok.pos
	if err := p.next(); err != nil {
		return Value{}, err
	}
	v := Value{Kind: List, List: []Value{}}
	if p.tok.kind == tRParen {
		return v, p.next()
	}
	for {
		m, err := p.parseConstant("IN (")
		if err != nil {
			return Value{}, err
		}
		v.List = append(v.List, m)
		switch p.tok.kind {
		case tComma:
			if err := p.next(); err != nil {
				return Value{}, err
			}
			if p.tok.kind == tRParen {
				return Value{}, p.errTok("expected a constant after ',' in the list of IN, found ')'")
			}
		case tRParen:
			return v, p.next()
		case tEOF, tRBrack:
			return Value{}, p.errAt(open, "unbalanced '(' in the list of IN: missing ')'")
		default:
			return Value{}, p.errTok("expected ',' or ')' in the list of IN, found %s", p.describe())
		}
	}
}

// parseConstant parses one constant (not a list) and moves past it.
func (p *parser) parseConstant(after string) (Value, error) {
	var v Value
	switch p.tok.kind {
	case tString:
		v = Value{Kind: String, Str: p.tok.str}
	case tInt:
		n, err := strconv.ParseInt(p.tok.text, 10, 64)
		if err != nil {
			return v, p.errTok("integer %s out of range", p.tok.text)
		}
		v = Value{Kind: Int, Int: n}
	case tFloat:
		f, err := strconv.ParseFloat(p.tok.text, 64)
		if err != nil {
			var ne *strconv.NumError
			if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
				return v, p.errTok("float %s out of range", p.tok.text)
			}
			return v, p.errTok("malformed float %s", p.tok.text)
		}
		v = Value{Kind: Float, Float: f}
	case tWord:
		switch p.tok.text {
		case "true":
			v = Value{Kind: Bool, Bool: true}
		case "false":
			v = Value{Kind: Bool, Bool: false}
		default:
			return v, p.errTok("expected a constant after %s, found %s (strings are quoted: '...')", after, p.describe())
		}
	case tBinary:
		v = Value{Kind: Binary, Bytes: p.tok.bytes}
	case tHex:
		v = Value{Kind: Hex, Bytes: p.tok.bytes}
	case tTimestamp:
		v = Value{Kind: Timestamp, Time: p.tok.time}
	case tLParen:
		return v, p.errTok("a list of constants is only allowed after IN")
	default:
		return v, p.errTok("expected a constant after %s, found %s", after, p.describe())
	}
	return v, p.next()
}
