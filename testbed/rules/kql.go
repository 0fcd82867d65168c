package rules

import (
	"fmt"
	"strconv"
	"strings"
)

// kqlToDSL translates a KQL query of the subset the prebuilt rules use
// into the query DSL @kbn/es-query's toElasticsearchQuery writes without a
// data view (see doc.go):
//
//	a and b          {"bool": {"filter": [a, b]}}
//	a or b           {"bool": {"should": [a, b], "minimum_should_match": 1}}
//	not a            {"bool": {"must_not": a}}
//	f:*              {"bool": {"should": [{"exists": {"field": f}}], "minimum_should_match": 1}}
//	f:v              ... [{"match": {f: v}}] ...
//	f:"v"            ... [{"match_phrase": {f: "v"}}] ...
//	f:v*             ... [{"query_string": {"fields": [f], "query": "v*"}}] ...
//	f:(a or b)       {"bool": {"should": [f:a, f:b], "minimum_should_match": 1}}
//	f >= "v"         ... [{"range": {f: {"gte": "v"}}}] ...
//
// A field name may hold * (it is sent as is: exists and query_string
// accept patterns). Anything else (field-less terms, nested queries, and or
// not inside a value list) is refused.
func kqlToDSL(query string) (map[string]any, error) {
	toks, err := kqlTokens(query)
	if err != nil {
		return nil, err
	}
	p := &kqlParser{toks: toks}
	q, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("unexpected %s", p.toks[p.pos])
	}
	return q, nil
}

type tokKind int

const (
	tokWord   tokKind = iota // unquoted literal (may hold *)
	tokQuoted                // "quoted"
	tokLParen
	tokRParen
	tokColon
	tokRange // >=, <=, >, <
)

type token struct {
	kind tokKind
	text string
	// wild: positions of unescaped * in text (tokWord).
	wild []int
}

func (t token) String() string {
	if t.kind == tokQuoted {
		return strconv.Quote(t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

func (t token) is(keyword string) bool {
	return t.kind == tokWord && len(t.wild) == 0 && strings.EqualFold(t.text, keyword)
}

// kqlTokens splits a KQL query. In unquoted literals a backslash escapes
// the next character (so \* is a literal star); quoted strings know \" and
// \\ (and any \x as x).
func kqlTokens(q string) ([]token, error) {
	var toks []token
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, token{kind: tokLParen, text: "("})
			i++
		case c == ')':
			toks = append(toks, token{kind: tokRParen, text: ")"})
			i++
		case c == ':':
			toks = append(toks, token{kind: tokColon, text: ":"})
			i++
		case c == '<' || c == '>':
			op := string(c)
			if i+1 < len(q) && q[i+1] == '=' {
				op += "="
			}
			toks = append(toks, token{kind: tokRange, text: op})
			i += len(op)
		case c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(q) && q[j] != '"'; j++ {
				if q[j] == '\\' && j+1 < len(q) {
					j++
				}
				b.WriteByte(q[j])
			}
			if j >= len(q) {
				return nil, fmt.Errorf("unterminated quoted string at %d", i)
			}
			toks = append(toks, token{kind: tokQuoted, text: b.String()})
			i = j + 1
		case c == '{' || c == '}':
			return nil, fmt.Errorf("nested queries ({}) are not supported")
		default:
			t := token{kind: tokWord}
			var b strings.Builder
			j := i
			for ; j < len(q) && !strings.ContainsRune(" \t\n\r():<>\"{}", rune(q[j])); j++ {
				switch {
				case q[j] == '\\' && j+1 < len(q):
					j++
					b.WriteByte(q[j])
				case q[j] == '*':
					t.wild = append(t.wild, b.Len())
					b.WriteByte('*')
				default:
					b.WriteByte(q[j])
				}
			}
			t.text = b.String()
			toks = append(toks, t)
			i = j
		}
	}
	return toks, nil
}

type kqlParser struct {
	toks []token
	pos  int
}

func (p *kqlParser) peek() (token, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return token{}, false
}

func (p *kqlParser) next() (token, error) {
	t, ok := p.peek()
	if !ok {
		return t, fmt.Errorf("unexpected end of query")
	}
	p.pos++
	return t, nil
}

func (p *kqlParser) or() (map[string]any, error) {
	return p.chain("or", p.and, should)
}

func (p *kqlParser) and() (map[string]any, error) {
	return p.chain("and", p.not, func(nodes []any) map[string]any {
		return map[string]any{"bool": map[string]any{"filter": nodes}}
	})
}

// chain parses operand (keyword operand)...: one operand is returned as it
// is, several are joined.
func (p *kqlParser) chain(keyword string, operand func() (map[string]any, error), join func([]any) map[string]any) (map[string]any, error) {
	first, err := operand()
	if err != nil {
		return nil, err
	}
	nodes := []any{first}
	for t, ok := p.peek(); ok && t.is(keyword); t, ok = p.peek() {
		p.pos++
		n, err := operand()
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	if len(nodes) == 1 {
		return first, nil
	}
	return join(nodes), nil
}

func (p *kqlParser) not() (map[string]any, error) {
	if t, ok := p.peek(); ok && t.is("not") {
		p.pos++
		q, err := p.sub()
		if err != nil {
			return nil, err
		}
		return map[string]any{"bool": map[string]any{"must_not": q}}, nil
	}
	return p.sub()
}

func (p *kqlParser) sub() (map[string]any, error) {
	t, err := p.next()
	if err != nil {
		return nil, err
	}
	if t.kind == tokLParen {
		q, err := p.or()
		if err != nil {
			return nil, err
		}
		if c, err := p.next(); err != nil || c.kind != tokRParen {
			return nil, fmt.Errorf("missing ) after a sub-query")
		}
		return q, nil
	}
	if t.kind != tokWord {
		return nil, fmt.Errorf("expected a field name, got %s", t)
	}
	field := t.text
	op, err := p.next()
	if err != nil {
		return nil, fmt.Errorf("field %s: terms without a field are not supported", field)
	}
	switch op.kind {
	case tokRange:
		v, err := p.next()
		if err != nil || (v.kind != tokWord && v.kind != tokQuoted) {
			return nil, fmt.Errorf("field %s %s: missing value", field, op.text)
		}
		param := map[string]string{">=": "gte", "<=": "lte", ">": "gt", "<": "lt"}[op.text]
		return should([]any{map[string]any{"range": map[string]any{field: map[string]any{param: literal(v)}}}}), nil
	case tokColon:
		return p.values(field)
	}
	return nil, fmt.Errorf("field %s: expected : or a range operator, got %s", field, op)
}

// values reads what follows "field:": a value or a parenthesised list of
// values joined by or.
func (p *kqlParser) values(field string) (map[string]any, error) {
	t, err := p.next()
	if err != nil {
		return nil, err
	}
	if t.kind != tokLParen {
		return is(field, t)
	}
	var nodes []any
	for {
		v, err := p.next()
		if err != nil {
			return nil, err
		}
		if v.kind != tokWord && v.kind != tokQuoted || v.is("and") || v.is("not") {
			return nil, fmt.Errorf("field %s: unsupported value list at %s", field, v)
		}
		q, err := is(field, v)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, q)
		sep, err := p.next()
		if err != nil {
			return nil, err
		}
		if sep.kind == tokRParen {
			break
		}
		if !sep.is("or") {
			return nil, fmt.Errorf("field %s: only or is supported in a value list, got %s", field, sep)
		}
	}
	if len(nodes) == 1 {
		return nodes[0].(map[string]any), nil
	}
	return should(nodes), nil
}

// is is KQL's "is" function: field:value.
func is(field string, v token) (map[string]any, error) {
	var q map[string]any
	switch {
	case v.kind == tokQuoted:
		q = map[string]any{"match_phrase": map[string]any{field: v.text}}
	case v.kind != tokWord:
		return nil, fmt.Errorf("field %s: expected a value, got %s", field, v)
	case v.text == "*" && len(v.wild) == 1:
		q = map[string]any{"exists": map[string]any{"field": field}}
	case len(v.wild) > 0:
		q = map[string]any{"query_string": map[string]any{"fields": []any{field}, "query": queryString(v)}}
	default:
		q = map[string]any{"match": map[string]any{field: literal(v)}}
	}
	return should([]any{q}), nil
}

func should(nodes []any) map[string]any {
	return map[string]any{"bool": map[string]any{"should": nodes, "minimum_should_match": 1}}
}

// literal is the value of a literal token: unquoted true, false and
// numbers are typed as KQL types them; everything else is a string.
func literal(t token) any {
	if t.kind == tokQuoted {
		return t.text
	}
	switch t.text {
	case "true":
		return true
	case "false":
		return false
	}
	if f, err := strconv.ParseFloat(t.text, 64); err == nil && strings.Trim(t.text, "0123456789.-") == "" {
		return f
	}
	return t.text
}

// queryString writes a wildcard value for query_string: its unescaped *
// stay wildcards, every other character query_string treats specially is
// escaped (as @kbn/es-query's wildcard.toQueryStringQuery does).
func queryString(t token) string {
	var b strings.Builder
	wild := map[int]bool{}
	for _, w := range t.wild {
		wild[w] = true
	}
	for i := 0; i < len(t.text); i++ {
		c := t.text[i]
		switch {
		case wild[i]:
			b.WriteByte('*')
		case strings.IndexByte(`+-=&|><!(){}[]^"~*?:\/`, c) >= 0:
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == ' ':
			b.WriteString(`\ `)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
