package pattern

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse checks that Parse never panics, that its errors are
// *SyntaxErrors pointing inside the pattern, that nesting past MaxNesting
// is refused, and that every accepted pattern round-trips through String
// and can be expanded by Observables. depth and width, when not zero,
// expand s into a deep or long pattern (see generatedPattern).
//
//	go test -run '^$' -fuzz FuzzParse -fuzztime 60s ./stix/pattern/
func FuzzParse(f *testing.F) {
	for _, tc := range validCases(f) {
		f.Add(tc.pattern, uint16(0), uint16(0))
	}
	for _, tc := range invalidCases {
		f.Add(tc.pattern, uint16(0), uint16(0))
	}
	f.Add(benchPattern, uint16(0), uint16(0))
	// Deep and long patterns are generated from short ones: the fuzzer
	// mutates and minimises a few bytes, not kilobytes.
	f.Add("[a:b = 1]", uint16(MaxNesting), uint16(0))             // at the limit
	f.Add("[a:b = 1]", uint16(MaxNesting+1), uint16(1))           // one past it
	f.Add("a:b = 1", uint16(1<<15|MaxNesting+1), uint16(0))       // comparisons, past it
	f.Add("[a:b = 1] WITHIN 5 SECONDS", uint16(3), uint16(10000)) // long chains
	f.Add("a:b IN (1, 'x') OR a:c = 2", uint16(1<<15|2), uint16(10001))
	f.Add("[a:b = 1] FOLLOWEDBY ([c:d = 2]", uint16(40000), uint16(10002))
	f.Fuzz(func(t *testing.T, s string, depth, width uint16) {
		generated := depth > 0 || width > 0
		if generated {
			s = generatedPattern(s, depth, width)
		}
		p, err := Parse(s)
		if generated && int(depth&^(1<<15)) > MaxNesting && utf8.ValidString(s) { // UTF-8 is checked first
			var se *SyntaxError
			if !errors.As(err, &se) || !strings.Contains(se.Msg, "nested deeper than") {
				t.Fatalf("Parse(%.100q...) nested %d deep: error %v, want a nesting error", s, depth&^(1<<15), err)
			}
		}
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q): error %T is not a *SyntaxError: %v", s, err, err)
			}
			if se.Offset < 0 || se.Offset > len(s) || se.Pattern != s || se.Msg == "" {
				t.Fatalf("Parse(%q): bad SyntaxError %+v", s, se)
			}
			_ = se.Error()
			return
		}
		checkRoundTrip(t, s, p)
		obs, err := p.Observables()
		if err != nil && !errors.Is(err, ErrTooMany) {
			t.Fatalf("Observables(%q): %v", s, err)
		}
		if len(obs) > MaxObservables {
			t.Fatalf("Observables(%q): %d observables", s, len(obs))
		}
		for _, o := range obs {
			if len(o.Values) == 0 {
				t.Fatalf("Observables(%q): empty observable %+v", s, o)
			}
			for _, a := range o.Values {
				if a.Path.ObjectType != o.Type || a.Value.Kind == NoValue || a.Value.Kind == List {
					t.Fatalf("Observables(%q): bad assertion %+v in %s", s, a, o.Type)
				}
				_ = a.Value.String()
				_ = a.Path.Property()
			}
		}
	})
}

// generatedPattern joins width copies of s with an operator picked by
// width (AND, OR, and for observations FOLLOWEDBY) and puts the result in
// depth parentheses: around observations, or when depth's top bit is set,
// around comparisons inside one observation [...]. It stays under about
// 64 KiB so that the fuzzer runs and minimises many a second.
func generatedPattern(s string, depth, width uint16) string {
	comparisons := depth&(1<<15) != 0
	d := int(depth &^ (1 << 15))
	ops := []string{" AND ", " OR ", " FOLLOWEDBY "}
	if comparisons {
		ops = ops[:2]
	}
	op := ops[int(width)%len(ops)]
	w := min(max(int(width), 1), max(1, (64<<10)/(len(s)+len(op))))
	body := strings.Repeat(s+op, w-1) + s
	if comparisons {
		return "[" + strings.Repeat("(", d) + body + strings.Repeat(")", d) + "]"
	}
	return strings.Repeat("(", d) + body + strings.Repeat(")", d)
}
