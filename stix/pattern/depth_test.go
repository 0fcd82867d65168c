package pattern

import (
	"runtime/debug"
	"strings"
	"testing"
)

// TestLongChainsShallowStack: a long chain of operands (a AND b AND ...,
// as long as a 16 MiB message allows) is parsed, expanded and written
// back without recursing once per operand: it runs with the stack limited
// to 1 MiB, which a recursion 20,000 deep exceeds (a fatal error).
func TestLongChainsShallowStack(t *testing.T) {
	const n = 20000
	chains := []struct{ name, pattern string }{
		{"observations joined by AND", strings.Repeat("[a:b = 1] AND ", n) + "[a:b = 1]"},
		{"observations joined by FOLLOWEDBY", strings.Repeat("[a:b = 1] FOLLOWEDBY ", n) + "[a:b = 1]"},
		{"observations alternating AND and OR", strings.Repeat("[a:b = 1] AND [a:c = 2] OR ", n/2) + "[a:b = 1]"},
		{"comparisons joined by OR", "[" + strings.Repeat("a:b = 1 OR ", n) + "a:b = 1]"},
		{"comparisons alternating OR and AND", "[" + strings.Repeat("a:b = 1 OR a:c = 2 AND ", n/2) + "a:b = 1]"},
		{"a long IN list", "[a:b IN (" + strings.Repeat("1, ", n) + "1)]"},
	}
	defer debug.SetMaxStack(debug.SetMaxStack(1 << 20))
	for _, tc := range chains {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Observables(); err != nil && err != ErrTooMany {
				t.Fatal(err)
			}
			if s := p.String(); len(s) < n {
				t.Fatalf("String() is %d bytes", len(s))
			}
		})
	}
}
