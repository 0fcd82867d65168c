package pattern

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that its errors are
// *SyntaxErrors pointing inside the pattern, and that every accepted
// pattern round-trips through String and can be expanded by Observables.
//
//	go test -run '^$' -fuzz FuzzParse -fuzztime 60s ./stix/pattern/
func FuzzParse(f *testing.F) {
	for _, tc := range validCases(f) {
		f.Add(tc.pattern)
	}
	for _, tc := range invalidCases {
		f.Add(tc.pattern)
	}
	f.Add(benchPattern)
	f.Add(strings.Repeat("(", 300) + "[a:b = 1]" + strings.Repeat(")", 300))
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
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
