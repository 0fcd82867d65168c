package pattern

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.golden.json")

type validCase struct {
	name    string
	pattern string
}

// validCases reads testdata/valid/*.txt: one pattern per file (a single
// trailing newline is not part of it).
func validCases(t testing.TB) []validCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "valid", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/valid/*.txt")
	}
	sort.Strings(files)
	var cases []validCase
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, validCase{
			name:    strings.TrimSuffix(filepath.Base(f), ".txt"),
			pattern: strings.TrimSuffix(string(b), "\n"),
		})
	}
	return cases
}

func TestGolden(t *testing.T) {
	for _, tc := range validCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.pattern)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.pattern, err)
			}
			got, err := json.MarshalIndent(map[string]any{
				"pattern":   tc.pattern,
				"canonical": p.String(),
				"ast":       obsJSON(p.Root),
			}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", "golden", tc.name+".golden.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("AST of %q differs from %s (run go test -update after checking):\ngot:\n%s\nwant:\n%s", tc.pattern, golden, got, want)
			}
		})
	}
}

// TestGoldenNoOrphans keeps testdata/golden in step with testdata/valid.
func TestGoldenNoOrphans(t *testing.T) {
	if *update {
		t.Skip("updating")
	}
	names := map[string]bool{}
	for _, tc := range validCases(t) {
		names[tc.name] = true
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.golden.json"))
	for _, f := range files {
		if n := strings.TrimSuffix(filepath.Base(f), ".golden.json"); !names[n] {
			t.Errorf("%s has no testdata/valid/%s.txt", f, n)
		}
	}
}

// obsJSON renders an observation expression for the golden files.
func obsJSON(e ObservationExpr) any {
	switch e := e.(type) {
	case *Observation:
		return map[string]any{"observation": compJSON(e.Expr)}
	case *ObservationOp:
		return map[string]any{"op": e.Op.String(), "left": obsJSON(e.Left), "right": obsJSON(e.Right)}
	case *Qualified:
		q := map[string]any{"kind": e.Qualifier.Kind.String()}
		switch e.Qualifier.Kind {
		case Within:
			q["seconds"] = e.Qualifier.Seconds
		case Repeats:
			q["times"] = e.Qualifier.Times
		case StartStop:
			q["start"] = e.Qualifier.Start.Format(time.RFC3339Nano)
			q["stop"] = e.Qualifier.Stop.Format(time.RFC3339Nano)
		}
		return map[string]any{"qualified": obsJSON(e.Expr), "qualifier": q}
	}
	return map[string]any{"unknown": true}
}

func compJSON(e CompExpr) any {
	switch e := e.(type) {
	case *Comparison:
		m := map[string]any{
			"path": pathJSON(e.Path),
			"op":   e.Op.String(),
		}
		if e.Negated {
			m["negated"] = true
		}
		if e.Op != Exists {
			m["value"] = valueJSON(e.Value)
		}
		return m
	case *CompOp:
		return map[string]any{"op": e.Op.String(), "left": compJSON(e.Left), "right": compJSON(e.Right)}
	}
	return map[string]any{"unknown": true}
}

func pathJSON(p ObjectPath) any {
	steps := make([]any, len(p.Steps))
	for i, s := range p.Steps {
		switch {
		case s.IsIndex && s.AnyIndex:
			steps[i] = map[string]any{"index": "*"}
		case s.IsIndex:
			steps[i] = map[string]any{"index": s.Index}
		default:
			steps[i] = map[string]any{"key": s.Key}
		}
	}
	return map[string]any{
		"type":     p.ObjectType,
		"steps":    steps,
		"property": p.Property(),
		"string":   p.String(),
	}
}

func valueJSON(v Value) any {
	m := map[string]any{"kind": v.Kind.String(), "string": v.String(), "literal": v.Literal()}
	switch v.Kind {
	case String:
		m["str"] = v.Str
	case Int:
		m["int"] = v.Int
	case Float:
		m["float"] = v.Float
	case Bool:
		m["bool"] = v.Bool
	case Binary, Hex:
		m["bytes"] = v.Bytes
	case Timestamp:
		m["time"] = v.Time.Format(time.RFC3339Nano)
	case List:
		l := make([]any, len(v.List))
		for i, x := range v.List {
			l[i] = valueJSON(x)
		}
		m["list"] = l
	}
	return m
}

// checkRoundTrip verifies that the canonical form of p parses back to p and
// is a fixed point.
func checkRoundTrip(t testing.TB, src string, p *Pattern) {
	t.Helper()
	s := p.String()
	q, err := Parse(s)
	if err != nil {
		t.Fatalf("canonical form of %q does not parse: %q: %v", src, s, err)
	}
	if !reflect.DeepEqual(p, q) {
		t.Fatalf("round trip of %q changed the pattern:\ncanonical: %q\nreparsed:  %q", src, s, q.String())
	}
	if s2 := q.String(); s2 != s {
		t.Fatalf("canonical form of %q is not stable: %q then %q", src, s, s2)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range validCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			checkRoundTrip(t, tc.pattern, p)
		})
	}
}

func TestCanonical(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"spacing", "[a:b='x']AND[c:d!=1]", "[a:b = 'x'] AND [c:d != 1]"},
		{"operators", "[a:b == 1 AND a:c <> 2]", "[a:b = 1 AND a:c != 2]"},
		{"quoted keys unquoted when plain", "[file:'name' = 'x']", "[file:name = 'x']"},
		{"hyphen keys quoted", "[file:extensions.windows-pebinary-ext.x = 1]", "[file:extensions.'windows-pebinary-ext'.x = 1]"},
		{"keyword keys quoted", "[x:IN = 1]", "[x:'IN' = 1]"},
		{"redundant parens dropped", "((([a:b = 1]))) AND ([c:d = 2])", "[a:b = 1] AND [c:d = 2]"},
		{"needed parens kept", "([a:b = 1] OR [c:d = 2]) AND [e:f = 3]", "([a:b = 1] OR [c:d = 2]) AND [e:f = 3]"},
		{"right grouping kept", "[a:b = 1] OR ([c:d = 2] OR [e:f = 3])", "[a:b = 1] OR ([c:d = 2] OR [e:f = 3])"},
		{"comp parens", "[(a:b = 1 OR a:c = 2) AND a:d = 3 OR (a:e = 4)]", "[(a:b = 1 OR a:c = 2) AND a:d = 3 OR a:e = 4]"},
		{"qualified group", "([a:b = 1] AND [c:d = 2]) WITHIN 5.0 SECONDS", "([a:b = 1] AND [c:d = 2]) WITHIN 5 SECONDS"},
		{"same qualifier twice", "([a:b = 1] REPEATS 2 TIMES WITHIN 1 SECONDS) REPEATS 3 TIMES", "([a:b = 1] REPEATS 2 TIMES WITHIN 1 SECONDS) REPEATS 3 TIMES"},
		{"start stop strings", "[a:b = 1] START '2016-01-01T00:00:00Z' STOP '2016-01-02T00:00:00.000Z'", "[a:b = 1] START t'2016-01-01T00:00:00Z' STOP t'2016-01-02T00:00:00Z'"},
		{"numbers", "[a:b = +5 AND a:c = -0 AND a:d = .5 AND a:e = 007.50 AND a:f = -0.0]", "[a:b = 5 AND a:c = 0 AND a:d = 0.5 AND a:e = 7.5 AND a:f = -0.0]"},
		{"big float", "[a:b = 100000000000000000000000.0]", "[a:b = 100000000000000000000000.0]"},
		{"binary hex", "[a:b = h'0A1B' AND a:c = b'AQID']", "[a:b = h'0a1b' AND a:c = b'AQID']"},
		{"timestamp", "[a:b = t'2016-01-20T12:31:12.1234500Z']", "[a:b = t'2016-01-20T12:31:12.12345Z']"},
		{"leap second", "[a:b = t'2016-12-31T23:59:60Z']", "[a:b = t'2017-01-01T00:00:00Z']"},
		{"escapes", `[a:b = 'it\'s \\ ok']`, `[a:b = 'it\'s \\ ok']`},
		{"exists", "[ NOT  EXISTS a:b ]", "[NOT EXISTS a:b]"},
		{"negation", "[a:b NOT IN ( 1 , 2 )]", "[a:b NOT IN (1, 2)]"},
		{"comments", "/*c*/[a:b = 1]//x", "[a:b = 1]"},
		{"number glued to keyword", "[a:b = 1AND a:c = 2] WITHIN 5SECONDS", "[a:b = 1 AND a:c = 2] WITHIN 5 SECONDS"},
		{"keyword glued to string", "[a:b MATCHES'^x' AND a:c IN('y')]", "[a:b MATCHES '^x' AND a:c IN ('y')]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
			checkRoundTrip(t, tc.in, p)
		})
	}
}

type invalidCase struct {
	name    string
	pattern string
	offset  int
	msg     string // fragment of SyntaxError.Msg
}

var invalidCases = []invalidCase{
	// empty and unbalanced
	{"empty", "", 0, "empty pattern"},
	{"blank", " \t\n", 3, "empty pattern"},
	{"empty brackets", "[]", 0, "empty observation expression []"},
	{"empty brackets with space", "[ ]", 0, "empty observation expression []"},
	{"empty parens", "()", 1, "expected an observation expression ('[' or '(') after '('"},
	{"unbalanced open bracket", "[a:b = 1", 0, "unbalanced '[': missing ']'"},
	{"unbalanced close bracket", "[a:b = 1]]", 9, "unbalanced ']': no matching '['"},
	{"unbalanced open paren", "([a:b = 1]", 0, "unbalanced '(': missing ')'"},
	{"unbalanced close paren", "[a:b = 1])", 9, "unbalanced ')': no matching '('"},
	{"unbalanced comparison paren", "[(a:b = 1]", 1, "unbalanced '(': missing ')'"},
	{"stray close bracket", "]", 0, "found unbalanced ']'"},
	{"no brackets", "file:size = 1280", 0, "comparisons must be enclosed in square brackets"},
	{"comparison in parens", "(file:size = 1280)", 1, "comparisons must be enclosed in square brackets"},
	{"trailing garbage", "[a:b = 1] xyz", 10, `unexpected "xyz" after an observation expression`},
	{"trailing garbage in group", "([a:b = 1] xyz)", 11, `unexpected "xyz" after an observation expression: expected AND, OR, FOLLOWEDBY, a qualifier (WITHIN, START, REPEATS) or ')'`},
	{"two observations without operator", "[a:b = 1] [c:d = 2]", 10, `unexpected "[" after an observation expression`},
	{"unterminated comment", "[a:b = 1] /* x", 10, "unterminated comment"},

	// keywords
	{"lowercase and between observations", "[a:b = 1] and [c:d = 2]", 10, "keywords are case-sensitive: write AND"},
	{"lowercase or in comparison", "[a:b = 1 or c:d = 2]", 9, "keywords are case-sensitive: write OR"},
	{"lowercase within", "[foo:bar=1] within 2 seconds", 12, "keywords are case-sensitive: write WITHIN"},
	{"lowercase in", "[a:b in ('x')]", 5, "keywords are case-sensitive: write IN"},
	{"lowercase like", "[a:b like 'x']", 5, "keywords are case-sensitive: write LIKE"},
	{"uppercase boolean", "[a:b = True]", 7, "keywords are case-sensitive: write true"},
	{"keyword as object type", "[AND:b = 1]", 1, `expected a comparison after '[', found keyword "AND"`},
	{"boolean as object type", "[true:b = 1]", 1, `expected a comparison after '[', found keyword "true"`},
	{"followedby inside brackets", "[a:b = 1 FOLLOWEDBY c:d = 2]", 9, `expected AND, OR or ']' after a comparison, found keyword "FOLLOWEDBY"`},

	// object paths
	{"path without type", "[value = 'x']", 7, `expected ':' after object type "value"`},
	{"period instead of colon", "[file.size = 1280]", 5, "expected ':' between the object type and the property"},
	{"missing property", "[a: = 1]", 4, "expected a property name after ':'"},
	{"dot without key", "[a:b. = 1]", 6, "expected a property name after '.'"},
	{"bad index", "[a:b[x] = 1]", 5, "expected a list index (integer or *)"},
	{"float index", "[a:b[1.5] = 1]", 5, "expected a list index (integer or *)"},
	{"unclosed index", "[a:b[0 = 1]", 7, "expected ']' after the list index"},
	{"index out of range", "[a:b[99999999999999999999] = 1]", 5, "list index"},

	// operators
	{"missing operator", "[a:b 'x']", 5, "expected a comparison operator after a:b"},
	{"bad operator", "[file:hashes.MD5 =? 'x']", 18, "unexpected character '?'"},
	{"bang", "[a:b ! 1]", 5, "unexpected '!'"},
	{"not before path", "[NOT a:b = 1]", 1, "NOT must follow the object path"},
	{"double not", "[a:b NOT NOT = 1]", 9, `expected a comparison operator after a:b, found keyword "NOT"`},
	{"exists postfix", "[a:b EXISTS]", 5, "EXISTS goes before the object path"},
	{"exists without path", "[EXISTS]", 7, "expected an object path (type:property) after EXISTS"},
	{"like needs a string", "[a:b LIKE 5]", 10, "LIKE requires a string constant"},
	{"matches needs a string", "[file:name MATCHES /.*\\.dll/]", 19, "unexpected character '/'"},
	{"issubset without operand", "[network-traffic:dst_ref.value ISSUBSET ]", 40, "ISSUBSET requires a string constant"},
	{"order with boolean", "[a:b < true]", 7, "operator < cannot compare a boolean"},
	{"missing comparison after and", "[a:b = 1 AND]", 12, "expected a comparison after AND"},
	{"missing comparison after or", "[file:name = 'x' OR ]", 20, "expected a comparison after OR"},
	{"missing observation after or", "[a:b = 1] OR", 12, "expected an observation expression ('[' or '(') after OR"},
	{"missing observation after followedby", "[a:b = 1] FOLLOWEDBY ]", 21, "after FOLLOWEDBY, found unbalanced ']'"},

	// IN
	{"in without list", "[a:b IN 'x']", 8, "IN requires a parenthesised list of constants"},
	{"in without anything", "[a:b IN]", 7, "IN requires a parenthesised list of constants"},
	{"in trailing comma", "[a:b IN ('x',)]", 13, "expected a constant after ',' in the list of IN"},
	{"in missing comma", "[a:b IN ('x' 'y')]", 13, "expected ',' or ')' in the list of IN"},
	{"in unclosed", "[a:b IN ('x']", 8, "unbalanced '(' in the list of IN"},
	{"in nested list", "[a:b IN (('x'))]", 9, "a list of constants is only allowed after IN"},
	{"list after equals", "[a:b = ('x')]", 7, "a list of constants is only allowed after IN"},

	// constants
	{"missing value", "[a:b = ]", 7, "expected a constant after =, found \"]\""},
	{"unquoted string", "[file:hashes.MD5 = cead3f77f6cda6ec00f57d76c9a6879f]", 19, "strings are quoted"},
	{"double quoted string", `[a:b = "x"]`, 7, "strings are quoted with single quotes"},
	{"bad escape", `[a:b = 'x\n']`, 9, `invalid escape sequence "\\n" in string`},
	{"bad escape quote", `[a:b = 'x\"']`, 9, "invalid escape sequence"},
	{"unterminated string", "[a:b = 'x]", 7, "unterminated string"},
	{"unterminated string after escape", `[a:b = 'x\`, 7, "unterminated string"},
	{"int leading zero", "[a:b = 007]", 7, "integers cannot have leading zeros"},
	{"int overflow", "[a:b = 9223372036854775808]", 7, "integer 9223372036854775808 out of range"},
	{"float without fraction", "[a:b = 5.]", 7, "a decimal point must be followed by digits"},
	{"float exponent", "[a:b = 1e5]", 7, `malformed number "1e5": exponents are not allowed`},
	{"float negative exponent", "[a:b = 1.5E-3]", 7, `malformed number "1.5E-3": exponents are not allowed`},
	{"dotted number", "[a:b = 1.2.3]", 7, `malformed number "1.2.3"`},
	{"number glued to a word", "[a:b = 12abc]", 9, `expected AND, OR or ']' after a comparison, found "abc"`},
	{"float too big", "[a:b = " + strings.Repeat("9", 400) + ".0]", 7, "out of range"},
	{"lone sign", "[a:b = - 1]", 7, "a sign must be followed by a number"},
	{"bad hex odd", "[a:b = h'abc']", 7, "odd number of hex digits"},
	{"bad hex digit", "[file:magic_number_hex = h'ffzz']", 29, `'z' is not a hex digit`},
	{"unterminated hex", "[a:b = h'ff]", 7, "unterminated hex constant"},
	{"bad binary", "[artifact:payload_bin = b'====']", 24, "not canonical padded base64"},
	{"bad binary length", "[a:b = b'abc']", 7, "not canonical padded base64"},
	{"bad binary char", "[a:b = b'ab.c']", 11, `'.' is not a base64 character`},
	{"empty binary", "[a:b = b'']", 7, "at least one base64 group"},
	{"bad timestamp form", "[x_whatever:detected = t'2457-73-22T32:81:84.1Z']", 30, "month 73 out of range"},
	{"bad timestamp month", "[a:b = t'2016-13-01T00:00:00Z']", 14, "month 13 out of range"},
	{"bad timestamp day", "[a:b = t'2015-02-29T00:00:00Z']", 17, "day 29 out of range for 2015-02"},
	{"bad timestamp hour", "[a:b = t'2016-01-01T24:00:00Z']", 20, "hour 24 out of range"},
	{"bad timestamp second", "[a:b = t'2016-01-01T00:00:61Z']", 26, "second 61 out of range"},
	{"timestamp with offset", "[a:b = t'2016-01-01T00:00:00+01:00']", 28, "must be in UTC and end with Z"},
	{"timestamp without zone", "[a:b = t'2016-01-01T00:00:00']", 28, "expected the form YYYY-MM-DDTHH:MM:SS[.fraction]Z"},
	{"timestamp date only", "[a:b = t'2016-01-01']", 19, "expected the form"},
	{"timestamp lowercase t", "[a:b = t'2016-01-01t00:00:00Z']", 19, "expected the form"},
	{"timestamp empty fraction", "[a:b = t'2016-01-01T00:00:00.Z']", 29, "expected digits after the decimal point"},
	{"unterminated timestamp", "[a:b = t'2016-01-01T00:00:00Z]", 7, "unterminated timestamp constant"},

	// qualifiers
	{"within without seconds", "[a:b = 1] WITHIN 5", 18, "expected SECONDS after WITHIN 5, found end of pattern"},
	{"within hours", "[a:b = 1] WITHIN 5 HOURS", 19, `expected SECONDS after WITHIN 5, found "HOURS"`},
	{"within without number", "[a:b = 1] WITHIN ]", 17, "expected a number of seconds after WITHIN"},
	{"within negative", "[a:b = 1] WITHIN -5 SECONDS", 17, "WITHIN requires a non-negative number of seconds"},
	{"repeats without times", "[a:b = 1] REPEATS 5", 19, "expected TIMES after REPEATS 5"},
	{"repeats float", "[a:b = 1] REPEATS 2.5 TIMES", 18, "expected an integer number of times after REPEATS"},
	{"repeats negative", "[a:b = 1] REPEATS -2 TIMES", 18, "REPEATS requires a non-negative integer"},
	{"repeats overflow", "[a:b = 1] REPEATS 99999999999999999999 TIMES", 18, "out of range"},
	{"start without stop", "[a:b = 1] START t'2016-01-01T00:00:00Z'", 39, "expected STOP after START t'2016-01-01T00:00:00Z'"},
	{"start without timestamp", "[a:b = 1] START 5 STOP 6", 16, "expected a timestamp"},
	{"start with bad string", "[a:b = 1] START 'yesterday' STOP 'today'", 17, "invalid timestamp after START"},
	{"stop without start", "[a:b = 1] STOP t'2016-01-01T00:00:00Z'", 10, "STOP without START"},
	{"seconds without within", "[a:b = 1] 5 SECONDS", 10, `unexpected "5"`},
	{"duplicate within", "[a:b = 1] WITHIN 5 SECONDS WITHIN 6 SECONDS", 27, "duplicate WITHIN qualifier"},
	{"duplicate repeats", "([a:b = 1] REPEATS 2 TIMES REPEATS 3 TIMES)", 27, "duplicate REPEATS qualifier"},
	{"duplicate start stop", "[a:b = 1] START t'2016-01-01T00:00:00Z' STOP t'2016-01-02T00:00:00Z' REPEATS 1 TIMES START t'2016-01-01T00:00:00Z' STOP t'2016-01-02T00:00:00Z'", 85, "duplicate START/STOP qualifier"},
	{"qualifier before observation", "WITHIN 5 SECONDS [a:b = 1]", 0, `found keyword "WITHIN"`},

	// encoding
	{"invalid utf-8 in string", "[a:b = '\xff']", 8, "invalid UTF-8"},
	{"invalid utf-8 outside", "[a:b = 1]\xc3", 9, "invalid UTF-8"},
	{"non-ascii character", "[a:b \u00e9 1]", 5, "unexpected character 'é'"},
	{"nul byte", "[a:b = 1]\x00", 9, "unexpected character"},
}

func TestInvalid(t *testing.T) {
	for _, tc := range invalidCases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.pattern)
			if err == nil {
				t.Fatalf("Parse(%q) = %q, want an error", tc.pattern, p.String())
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *SyntaxError: %v", err, err)
			}
			if se.Pattern != tc.pattern {
				t.Errorf("SyntaxError.Pattern = %q, want %q", se.Pattern, tc.pattern)
			}
			if se.Offset != tc.offset || !strings.Contains(se.Msg, tc.msg) {
				t.Errorf("Parse(%q):\n got offset %d: %s\nwant offset %d: ...%s...", tc.pattern, se.Offset, se.Msg, tc.offset, tc.msg)
			}
			if se.Offset < 0 || se.Offset > len(tc.pattern) {
				t.Errorf("offset %d outside the pattern", se.Offset)
			}
			if !strings.HasPrefix(err.Error(), "stix pattern: at offset ") {
				t.Errorf("Error() = %q", err.Error())
			}
		})
	}
}

func TestSyntaxErrorMessage(t *testing.T) {
	cases := []struct{ name, pattern, want string }{
		{"near", "[file:name = 'x' OR ]", `stix pattern: at offset 20 (near "]"): expected a comparison after OR, found "]"`},
		{"end", "[a:b = 1] OR", `stix pattern: at offset 12 (at end of pattern): expected an observation expression ('[' or '(') after OR, found end of pattern`},
		{"excerpt is cut", "[a:b = 1] xyz AND [c:d = 2] OR [e:f = 3]", `stix pattern: at offset 10 (near "xyz AND [c:d = 2"): unexpected "xyz" after an observation expression: expected AND, OR, FOLLOWEDBY, a qualifier (WITHIN, START, REPEATS) or the end of the pattern`},
		{"excerpt keeps runes whole", "[a:b = 1] ééééééééé", `stix pattern: at offset 10 (near "éééééééé"): unexpected character 'é'`},
		{"excerpt of invalid utf-8", "[a:b = '\xff\xfe']", `stix pattern: at offset 8 (near "\xff\xfe']"): invalid UTF-8`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.pattern)
			if err == nil || err.Error() != tc.want {
				t.Errorf("Parse(%q) error:\n got %v\nwant %s", tc.pattern, err, tc.want)
			}
		})
	}
}

func TestNesting(t *testing.T) {
	cases := []struct {
		name    string
		pattern string
		ok      bool
	}{
		{"observation parens at the limit", strings.Repeat("(", MaxNesting) + "[a:b = 1]" + strings.Repeat(")", MaxNesting), true},
		{"observation parens past the limit", strings.Repeat("(", MaxNesting+1) + "[a:b = 1]" + strings.Repeat(")", MaxNesting+1), false},
		{"1000 observation parens", strings.Repeat("(", 1000) + "[a:b = 1]" + strings.Repeat(")", 1000), false},
		{"1000 comparison parens", "[" + strings.Repeat("(", 1000) + "a:b = 1" + strings.Repeat(")", 1000) + "]", false},
		{"100000 unclosed parens", strings.Repeat("(", 100000), false},
		{"mixed parens past the limit", strings.Repeat("(", MaxNesting/2) + "[" + strings.Repeat("(", MaxNesting/2+1) + "a:b = 1" + strings.Repeat(")", MaxNesting/2+1) + "]" + strings.Repeat(")", MaxNesting/2), false},
		{"long chains are not nesting", strings.Repeat("[a:b = 1 OR a:c = 2] OR ", 5000) + "[a:b = 1]", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.pattern)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				checkRoundTrip(t, tc.pattern[:20], p)
				return
			}
			var se *SyntaxError
			if !errors.As(err, &se) || !strings.Contains(se.Msg, "nested deeper than") {
				t.Fatalf("got %v, want a nesting SyntaxError", err)
			}
		})
	}
}

func TestPathAndValueStrings(t *testing.T) {
	p, err := Parse("[file:extensions.'windows-pebinary-ext'.sections[*].entropy > 7.0 AND " +
		"file:hashes.'SHA-256' = 'x' AND network-traffic:dst_ref.value = 'y' AND a:b[-1].'it\\'s' = 1 AND " +
		"a:c = h'0A1b' AND a:d = b'AQID' AND a:e = t'2016-01-20T12:31:12.12345Z' AND a:f = -2.50 AND a:g IN ('x', 2)]")
	if err != nil {
		t.Fatal(err)
	}
	var comps []*Comparison
	forEachComparison(p.Root.(*Observation).Expr, func(c *Comparison) { comps = append(comps, c) })
	paths := []struct{ property, str string }{
		{"extensions.windows-pebinary-ext.sections[*].entropy", "file:extensions.'windows-pebinary-ext'.sections[*].entropy"},
		{"hashes.SHA-256", "file:hashes.'SHA-256'"},
		{"dst_ref.value", "network-traffic:dst_ref.value"},
		{"b[-1].it's", `a:b[-1].'it\'s'`},
	}
	for i, want := range paths {
		if got := comps[i].Path.Property(); got != want.property {
			t.Errorf("Property() = %q, want %q", got, want.property)
		}
		if got := comps[i].Path.String(); got != want.str {
			t.Errorf("String() = %q, want %q", got, want.str)
		}
	}
	values := []struct{ str, literal string }{
		{"7", "7.0"},
		{"x", "'x'"},
		{"y", "'y'"},
		{"1", "1"},
		{"0a1b", "h'0a1b'"},
		{"010203", "b'AQID'"},
		{"2016-01-20T12:31:12.12345Z", "t'2016-01-20T12:31:12.12345Z'"},
		{"-2.5", "-2.5"},
		{"x, 2", "('x', 2)"},
	}
	for i, want := range values {
		v := comps[i].Value
		if got := v.String(); got != want.str {
			t.Errorf("%v String() = %q, want %q", v.Kind, got, want.str)
		}
		if got := v.Literal(); got != want.literal {
			t.Errorf("%v Literal() = %q, want %q", v.Kind, got, want.literal)
		}
	}
	if got := (Value{Kind: Bool, Bool: true}).String(); got != "true" {
		t.Errorf("bool String() = %q", got)
	}
	if got := (Value{}).String(); got != "" {
		t.Errorf("zero Value String() = %q", got)
	}
}

func TestOperatorString(t *testing.T) {
	want := map[Operator]string{
		Eq: "=", Neq: "!=", Lt: "<", Le: "<=", Gt: ">", Ge: ">=", In: "IN",
		Like: "LIKE", Matches: "MATCHES", IsSubset: "ISSUBSET",
		IsSuperset: "ISSUPERSET", Exists: "EXISTS", 0: "Operator(0)", 99: "Operator(99)",
	}
	for op, s := range want {
		if got := op.String(); got != s {
			t.Errorf("Operator(%d).String() = %q, want %q", int(op), got, s)
		}
	}
}

func TestNilPattern(t *testing.T) {
	var p *Pattern
	if s := p.String(); s != "" {
		t.Errorf("nil String() = %q", s)
	}
	if obs, err := p.Observables(); obs != nil || err != nil {
		t.Errorf("nil Observables() = %v, %v", obs, err)
	}
}

const benchPattern = "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f' OR " +
	"file:hashes.MD5 = 'cead3f77f6cda6ec00f57d76c9a6879f'] AND " +
	"[network-traffic:dst_ref.value = '198.51.100.1' AND network-traffic:dst_port IN (80, 443)] WITHIN 300 SECONDS"

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchPattern)))
	for b.Loop() {
		if _, err := Parse(benchPattern); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkObservables(b *testing.B) {
	p, err := Parse(benchPattern)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Observables(); err != nil {
			b.Fatal(err)
		}
	}
}
