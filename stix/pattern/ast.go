package pattern

import (
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Pattern is a parsed STIX 2.1 pattern.
type Pattern struct {
	Root ObservationExpr
}

// String re-serialises the pattern in canonical form: single spaces between
// tokens, canonical operators (= and !=, never == or <>), quoted property
// names only where needed, canonical constants and the minimum of
// parentheses. Parse accepts the result and yields an equal Pattern.
func (p *Pattern) String() string {
	if p == nil || p.Root == nil {
		return ""
	}
	var b strings.Builder
	writeObs(&b, p.Root)
	return b.String()
}

// ObservationExpr is an observation expression: *Observation,
// *ObservationOp or *Qualified.
type ObservationExpr interface {
	// String returns the canonical text of the expression.
	String() string
	isObservationExpr()
}

// Observation is one bracketed observation expression `[ ... ]`.
type Observation struct {
	Expr CompExpr
}

// ObsOpKind is an operator combining two observation expressions.
type ObsOpKind int

// Observation operators, from the tightest to the loosest binding.
const (
	ObsAnd ObsOpKind = iota + 1
	ObsOr
	ObsFollowedBy
)

func (k ObsOpKind) String() string {
	switch k {
	case ObsAnd:
		return "AND"
	case ObsOr:
		return "OR"
	case ObsFollowedBy:
		return "FOLLOWEDBY"
	}
	return "ObsOpKind(" + strconv.Itoa(int(k)) + ")"
}

// ObservationOp combines two observation expressions with AND, OR or
// FOLLOWEDBY. Chains are left-associative: `A OR B OR C` is
// ObservationOp{OR, ObservationOp{OR, A, B}, C}.
type ObservationOp struct {
	Op          ObsOpKind
	Left, Right ObservationExpr
}

// Qualified applies one qualifier to an observation expression. Several
// qualifiers in sequence nest: `[a] REPEATS 2 TIMES WITHIN 5 SECONDS` is
// Qualified{Qualified{[a], REPEATS}, WITHIN}.
type Qualified struct {
	Expr      ObservationExpr
	Qualifier Qualifier
}

// QualifierKind tells which qualifier a Qualifier is.
type QualifierKind int

// Qualifier kinds.
const (
	Within    QualifierKind = iota + 1 // WITHIN n SECONDS
	StartStop                          // START t'...' STOP t'...'
	Repeats                            // REPEATS n TIMES
)

func (k QualifierKind) String() string {
	switch k {
	case Within:
		return "WITHIN"
	case StartStop:
		return "START/STOP"
	case Repeats:
		return "REPEATS"
	}
	return "QualifierKind(" + strconv.Itoa(int(k)) + ")"
}

// Qualifier is a WITHIN, START/STOP or REPEATS qualifier. Only the fields of
// its Kind are set: Seconds for Within, Start and Stop (UTC) for StartStop,
// Times for Repeats.
type Qualifier struct {
	Kind        QualifierKind
	Seconds     float64
	Start, Stop time.Time
	Times       int
}

// String returns the qualifier as written in a pattern, for example
// "WITHIN 300 SECONDS".
func (q Qualifier) String() string {
	switch q.Kind {
	case Within:
		return "WITHIN " + formatSeconds(q.Seconds) + " SECONDS"
	case StartStop:
		return "START " + formatTimestamp(q.Start) + " STOP " + formatTimestamp(q.Stop)
	case Repeats:
		return "REPEATS " + strconv.Itoa(q.Times) + " TIMES"
	}
	return q.Kind.String()
}

// CompExpr is a comparison expression inside brackets: *Comparison or
// *CompOp.
type CompExpr interface {
	// String returns the canonical text of the expression.
	String() string
	isCompExpr()
}

// CompOpKind is a boolean operator combining two comparison expressions.
type CompOpKind int

// Comparison-expression operators. AND binds tighter than OR.
const (
	CompAnd CompOpKind = iota + 1
	CompOr
)

func (k CompOpKind) String() string {
	switch k {
	case CompAnd:
		return "AND"
	case CompOr:
		return "OR"
	}
	return "CompOpKind(" + strconv.Itoa(int(k)) + ")"
}

// CompOp combines two comparison expressions with AND or OR; chains are
// left-associative.
type CompOp struct {
	Op          CompOpKind
	Left, Right CompExpr
}

// Comparison is one comparison: `Path [NOT] Op Value`, or `[NOT] EXISTS
// Path` (Op Exists, Value zero).
type Comparison struct {
	Path    ObjectPath
	Negated bool
	Op      Operator
	Value   Value
}

// Operator is a comparison operator.
type Operator int

// Comparison operators.
const (
	Eq         Operator = iota + 1 // =  (also written ==)
	Neq                            // != (also written <>)
	Lt                             // <
	Le                             // <=
	Gt                             // >
	Ge                             // >=
	In                             // IN ( ... )
	Like                           // LIKE
	Matches                        // MATCHES
	IsSubset                       // ISSUBSET
	IsSuperset                     // ISSUPERSET
	Exists                         // EXISTS (prefix: EXISTS type:path)
)

var operatorNames = [...]string{
	Eq: "=", Neq: "!=", Lt: "<", Le: "<=", Gt: ">", Ge: ">=", In: "IN",
	Like: "LIKE", Matches: "MATCHES", IsSubset: "ISSUBSET",
	IsSuperset: "ISSUPERSET", Exists: "EXISTS",
}

// String returns the operator's canonical spelling ("=", "!=", "IN", ...).
func (o Operator) String() string {
	if o > 0 && int(o) < len(operatorNames) {
		return operatorNames[o]
	}
	return "Operator(" + strconv.Itoa(int(o)) + ")"
}

// ObjectPath is `type:property` with its steps. The first step is always a
// key.
type ObjectPath struct {
	ObjectType string
	Steps      []Step
}

// Step is one step of an object path: a key (`.name`, `.'quoted-name'`, or
// the first property) or, when IsIndex, a list index (`[3]`, or `[*]` when
// AnyIndex).
type Step struct {
	Key      string
	Index    int
	AnyIndex bool
	IsIndex  bool
}

// Property returns the path without the object type and without quotes:
// "hashes.SHA-256", "extensions.windows-pebinary-ext.sections[*].entropy".
func (p ObjectPath) Property() string {
	var b strings.Builder
	for i, s := range p.Steps {
		switch {
		case s.IsIndex && s.AnyIndex:
			b.WriteString("[*]")
		case s.IsIndex:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.Index))
			b.WriteByte(']')
		default:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.Key)
		}
	}
	return b.String()
}

// String returns the path as written in a pattern, quoting the keys that
// need it: "file:hashes.'SHA-256'".
func (p ObjectPath) String() string {
	var b strings.Builder
	writePath(&b, p)
	return b.String()
}

// ValueKind tells which constant a Value holds.
type ValueKind int

// Value kinds. NoValue is the zero Value (the operand of EXISTS).
const (
	NoValue   ValueKind = iota
	String              // 'text'            -> Str
	Int                 // 42, -7            -> Int
	Float               // 7.0, -.5          -> Float
	Bool                // true, false       -> Bool
	Binary              // b'base64'         -> Bytes
	Hex                 // h'0a1b'           -> Bytes
	Timestamp           // t'...Z'           -> Time (UTC)
	List                // ( v, ... ) of IN  -> List
)

var valueKindNames = [...]string{
	NoValue: "none", String: "string", Int: "int", Float: "float",
	Bool: "bool", Binary: "binary", Hex: "hex", Timestamp: "timestamp",
	List: "list",
}

func (k ValueKind) String() string {
	if k >= 0 && int(k) < len(valueKindNames) {
		return valueKindNames[k]
	}
	return "ValueKind(" + strconv.Itoa(int(k)) + ")"
}

// Value is a constant of a pattern. Only the field of its Kind is set.
type Value struct {
	Kind  ValueKind
	Str   string
	Int   int64
	Float float64
	Bool  bool
	Bytes []byte
	Time  time.Time
	List  []Value
}

// String returns the value as a plain string: the decoded text of a string,
// the decimal number, "true"/"false", the bytes of a binary or hex constant
// hex-encoded in lowercase, a timestamp in RFC 3339 with nanoseconds
// (time.RFC3339Nano), the members of a list joined by ", ", and "" for
// NoValue.
func (v Value) String() string {
	switch v.Kind {
	case String:
		return v.Str
	case Int:
		return strconv.FormatInt(v.Int, 10)
	case Float:
		return strconv.FormatFloat(v.Float, 'f', -1, 64)
	case Bool:
		return strconv.FormatBool(v.Bool)
	case Binary, Hex:
		return hex.EncodeToString(v.Bytes)
	case Timestamp:
		return v.Time.UTC().Format(time.RFC3339Nano)
	case List:
		parts := make([]string, len(v.List))
		for i, m := range v.List {
			parts[i] = m.String()
		}
		return strings.Join(parts, ", ")
	}
	return ""
}

// Literal returns the value as a pattern constant: a string quoted and
// escaped ('it\'s'), 7.0, b'AQI=', h'0a1b', t'2016-01-20T12:31:12.12345Z', ('a', 'b').
func (v Value) Literal() string {
	var b strings.Builder
	writeLiteral(&b, v)
	return b.String()
}

func (*Observation) isObservationExpr()   {}
func (*ObservationOp) isObservationExpr() {}
func (*Qualified) isObservationExpr()     {}
func (*Comparison) isCompExpr()           {}
func (*CompOp) isCompExpr()               {}

func (o *Observation) String() string   { return obsString(o) }
func (o *ObservationOp) String() string { return obsString(o) }
func (q *Qualified) String() string     { return obsString(q) }
func (c *Comparison) String() string    { return compString(c) }
func (c *CompOp) String() string        { return compString(c) }

func obsString(e ObservationExpr) string {
	var b strings.Builder
	writeObs(&b, e)
	return b.String()
}

func compString(e CompExpr) string {
	var b strings.Builder
	writeComp(&b, e)
	return b.String()
}

// ---- canonical serialisation ----

const (
	precFollowedBy = 1
	precObsOr      = 2
	precObsAnd     = 3
	precObsAtom    = 4
	precCompOr     = 1
	precCompAnd    = 2
	precCompAtom   = 3
)

func obsPrec(e ObservationExpr) int {
	if op, ok := e.(*ObservationOp); ok {
		switch op.Op {
		case ObsFollowedBy:
			return precFollowedBy
		case ObsOr:
			return precObsOr
		default:
			return precObsAnd
		}
	}
	return precObsAtom
}

func writeObs(b *strings.Builder, e ObservationExpr) {
	switch e := e.(type) {
	case *Observation:
		b.WriteByte('[')
		if e.Expr != nil {
			writeComp(b, e.Expr)
		}
		b.WriteByte(']')
	case *ObservationOp:
		writeChain(b, e, obsPrec, writeObs)
	case *Qualified:
		// A qualifier applies to an observation expression; the parser
		// rejects two qualifiers of one kind in the same unparenthesised
		// chain, so such an inner chain is parenthesised.
		paren := obsPrec(e.Expr) < precObsAtom || chainHasKind(e.Expr, e.Qualifier.Kind)
		writeParen(b, e.Expr, paren, writeObs)
		b.WriteByte(' ')
		b.WriteString(e.Qualifier.String())
	case nil:
		b.WriteString("[]")
	}
}

// binaryOp is an operator node of expressions of type E (observation or
// comparison expressions).
type binaryOp[E any] interface {
	operands() (left, right E)
	operator() string
}

func (o *ObservationOp) operands() (left, right ObservationExpr) { return o.Left, o.Right }
func (o *ObservationOp) operator() string                        { return o.Op.String() }
func (o *CompOp) operands() (left, right CompExpr)               { return o.Left, o.Right }
func (o *CompOp) operator() string                               { return o.Op.String() }

// writeChain writes top, an operator node; prec gives the precedence of an
// expression and write writes one. The parser builds chains (a OR b OR
// ...) leaning left: the left operands down the chain are collected and
// written in a loop, so that recursion follows only parentheses and
// precedence changes, never the length of a chain.
func writeChain[E any, O binaryOp[E]](b *strings.Builder, top O, prec func(E) int, write func(*strings.Builder, E)) {
	chain := []O{top}
	for {
		left, _ := chain[len(chain)-1].operands()
		op, ok := any(left).(O)
		if !ok || prec(any(op).(E)) < prec(any(chain[len(chain)-1]).(E)) {
			break
		}
		chain = append(chain, op)
	}
	first := chain[len(chain)-1]
	left, _ := first.operands()
	writeParen(b, left, prec(left) < prec(any(first).(E)), write)
	for i := len(chain) - 1; i >= 0; i-- {
		op := chain[i]
		_, right := op.operands()
		b.WriteByte(' ')
		b.WriteString(op.operator())
		b.WriteByte(' ')
		// Left-associative: a right operand of the same precedence needs
		// parentheses to keep its grouping.
		writeParen(b, right, prec(right) <= prec(any(op).(E)), write)
	}
}

// writeParen writes e, in parentheses when paren.
func writeParen[E any](b *strings.Builder, e E, paren bool, write func(*strings.Builder, E)) {
	if paren {
		b.WriteByte('(')
	}
	write(b, e)
	if paren {
		b.WriteByte(')')
	}
}

// chainHasKind reports whether e is a chain of qualifiers (as written
// without parentheses) that contains a qualifier of kind k.
func chainHasKind(e ObservationExpr, k QualifierKind) bool {
	for {
		q, ok := e.(*Qualified)
		if !ok {
			return false
		}
		if q.Qualifier.Kind == k {
			return true
		}
		e = q.Expr
	}
}

func compPrec(e CompExpr) int {
	if op, ok := e.(*CompOp); ok {
		if op.Op == CompOr {
			return precCompOr
		}
		return precCompAnd
	}
	return precCompAtom
}

func writeComp(b *strings.Builder, e CompExpr) {
	switch e := e.(type) {
	case *Comparison:
		if e.Op == Exists {
			if e.Negated {
				b.WriteString("NOT ")
			}
			b.WriteString("EXISTS ")
			writePath(b, e.Path)
			return
		}
		writePath(b, e.Path)
		b.WriteByte(' ')
		if e.Negated {
			b.WriteString("NOT ")
		}
		b.WriteString(e.Op.String())
		b.WriteByte(' ')
		writeLiteral(b, e.Value)
	case *CompOp:
		writeChain(b, e, compPrec, writeComp)
	}
}

func writePath(b *strings.Builder, p ObjectPath) {
	b.WriteString(p.ObjectType)
	b.WriteByte(':')
	for i, s := range p.Steps {
		switch {
		case s.IsIndex && s.AnyIndex:
			b.WriteString("[*]")
		case s.IsIndex:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.Index))
			b.WriteByte(']')
		default:
			if i > 0 {
				b.WriteByte('.')
			}
			if isPlainKey(s.Key) {
				b.WriteString(s.Key)
			} else {
				writeQuoted(b, s.Key)
			}
		}
	}
}

// isPlainKey reports whether a property name can be written unquoted in a
// STIX 2.1 pattern: [a-zA-Z_][a-zA-Z0-9_]* and not a keyword.
func isPlainKey(k string) bool {
	if k == "" || !isIdentStart(k[0]) {
		return false
	}
	for i := 1; i < len(k); i++ {
		if !isIdentStart(k[i]) && !isDigit(k[i]) {
			return false
		}
	}
	return !keywords[k]
}

func writeQuoted(b *strings.Builder, s string) {
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('\'')
}

func writeLiteral(b *strings.Builder, v Value) {
	switch v.Kind {
	case String:
		writeQuoted(b, v.Str)
	case Int:
		b.WriteString(strconv.FormatInt(v.Int, 10))
	case Float:
		b.WriteString(formatFloat(v.Float))
	case Bool:
		b.WriteString(strconv.FormatBool(v.Bool))
	case Binary:
		b.WriteString("b'")
		b.WriteString(base64.StdEncoding.EncodeToString(v.Bytes))
		b.WriteByte('\'')
	case Hex:
		b.WriteString("h'")
		b.WriteString(hex.EncodeToString(v.Bytes))
		b.WriteByte('\'')
	case Timestamp:
		b.WriteString(formatTimestamp(v.Time))
	case List:
		b.WriteByte('(')
		for i, m := range v.List {
			if i > 0 {
				b.WriteString(", ")
			}
			writeLiteral(b, m)
		}
		b.WriteByte(')')
	}
}

// formatFloat writes a float so that it lexes back as a float constant:
// always with a decimal point, never with an exponent.
func formatFloat(f float64) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// formatSeconds writes the operand of WITHIN: an integer when it is one,
// else a float.
func formatSeconds(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func formatTimestamp(t time.Time) string {
	return "t'" + t.UTC().Format(time.RFC3339Nano) + "'"
}
