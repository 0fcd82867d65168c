package pattern

import (
	"errors"
	"sort"
	"strconv"
	"strings"
)

// MaxObservables caps the expansion done by Observables.
const MaxObservables = 1000

// maxExpansionWork bounds the work of one Observables call (term merges
// counted in assertions), so that a pattern built to explode cannot stall
// the caller even when its expansions collapse again.
const maxExpansionWork = 1 << 22

// ErrTooMany is returned by Observables, along with the first
// MaxObservables observables, when the expansion goes past MaxObservables.
var ErrTooMany = errors.New("stix pattern: too many observables (expansion capped at " + strconv.Itoa(MaxObservables) + ")")

// Observable is one object the pattern asserts values for.
type Observable struct {
	Type   string
	Values []Assertion
}

// Assertion is one property of an Observable and the value the pattern
// requires for it.
type Assertion struct {
	Path  ObjectPath
	Value Value
}

// Observables returns the objects whose atomic values the pattern names by
// equality.
//
// Each observation's comparison expression is expanded to disjunctive
// normal form (an OR of AND-terms; IN (a, b) counts as (= a OR = b), so an
// empty IN () matches nothing). Each AND-term yields one Observable per
// object type it asserts values for, holding that type's positive equality
// comparisons (= and the members of IN), in pattern order. Negated
// comparisons and the other operators (!=, <, <=, >, >=, LIKE, MATCHES,
// ISSUBSET, ISSUPERSET, EXISTS) assert no value: they yield nothing and do
// not prevent the other comparisons of their term from yielding. Observations
// combined with AND, OR and FOLLOWEDBY each contribute their observables;
// qualifiers are ignored.
//
// Identical observables (same type, same set of assertions) are returned
// once. The order is the pattern's: observation by observation, and within
// an observation by the position of the observables' assertions in the
// text.
//
// The expansion is capped: past MaxObservables, Observables returns the
// first MaxObservables observables and ErrTooMany.
func (p *Pattern) Observables() ([]Observable, error) {
	if p == nil || p.Root == nil {
		return nil, nil
	}
	x := &expander{seen: map[string]bool{}, limit: MaxObservables}
	x.walk(p.Root)
	if x.overflow || len(x.out) > MaxObservables {
		if len(x.out) > MaxObservables {
			x.out = x.out[:MaxObservables]
		}
		return x.out, ErrTooMany
	}
	return x.out, nil
}

// CountObservables counts the observables Observables finds, without its
// cap, up to limit: what a pattern capped by Observables really holds.
// The count is exact when complete; otherwise it is a lower bound (the
// expansion passed limit or its work budget).
func (p *Pattern) CountObservables(limit int) (n int, complete bool) {
	if p == nil || p.Root == nil {
		return 0, true
	}
	x := &expander{seen: map[string]bool{}, limit: limit}
	x.walk(p.Root)
	return min(len(x.out), limit), !x.full()
}

type expander struct {
	out      []Observable
	seen     map[string]bool // identity keys of x.out
	limit    int             // observables past which the expansion stops
	overflow bool
	work     int

	// per observation
	assertions []Assertion           // by id, in pattern order
	ids        map[*Comparison][]int // assertion ids of each positive =/IN
}

// term is an AND-term: sorted assertion ids.
type term []int

// walk expands the observations of e in pattern order.
func (x *expander) walk(e ObservationExpr) {
	stack := []ObservationExpr{e}
	for len(stack) > 0 && !x.full() {
		e := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch n := e.(type) {
		case *Observation:
			x.observation(n)
		case *Qualified:
			stack = append(stack, n.Expr)
		case *ObservationOp:
			stack = append(stack, n.Right, n.Left)
		}
	}
}

func (x *expander) full() bool { return x.overflow || len(x.out) > x.limit }

func (x *expander) observation(o *Observation) {
	if o.Expr == nil {
		return
	}
	x.assertions = x.assertions[:0]
	x.ids = map[*Comparison][]int{}
	keyID := map[string]int{}
	add := func(c *Comparison, v Value) {
		a := Assertion{Path: c.Path, Value: v}
		k := assertionKey(a)
		id, ok := keyID[k]
		if !ok {
			id = len(x.assertions)
			keyID[k] = id
			x.assertions = append(x.assertions, a)
		}
		x.ids[c] = append(x.ids[c], id)
	}
	forEachComparison(o.Expr, func(c *Comparison) {
		if c.Negated {
			return
		}
		switch {
		case c.Op == Eq:
			add(c, c.Value)
		case c.Op == In && c.Value.Kind == List:
			for _, m := range c.Value.List {
				add(c, m)
			}
		}
	})

	// The expansion is done for all object types at once but kept apart
	// per type: it gives the same observables as expanding the whole
	// expression and then splitting each term by type, without multiplying
	// the terms of one type by those of another.
	r := x.dnf(o.Expr)
	if r.isFalse {
		return
	}
	var terms []term
	for _, typ := range r.types {
		for _, t := range r.terms[typ] {
			if len(t) > 0 {
				terms = append(terms, t)
			}
		}
	}
	// Pattern order: lexicographic on the (sorted) assertion ids, which
	// number the assertions in their order of first appearance.
	sort.SliceStable(terms, func(i, j int) bool { return lessTerm(terms[i], terms[j]) })
	for _, t := range terms {
		ob := Observable{Type: x.assertions[t[0]].Path.ObjectType, Values: make([]Assertion, len(t))}
		keys := make([]string, len(t))
		for i, id := range t {
			ob.Values[i] = x.assertions[id]
			keys[i] = assertionKey(x.assertions[id])
		}
		sort.Strings(keys)
		k := ob.Type + "\x00" + strings.Join(keys, "\x00")
		if x.seen[k] {
			continue
		}
		x.seen[k] = true
		x.out = append(x.out, ob)
		if len(x.out) > x.limit {
			return
		}
	}
}

// forEachComparison calls f on the comparisons of e in pattern order.
func forEachComparison(e CompExpr, f func(*Comparison)) {
	stack := []CompExpr{e}
	for len(stack) > 0 {
		e := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch n := e.(type) {
		case *Comparison:
			f(n)
		case *CompOp:
			stack = append(stack, n.Right, n.Left)
		}
	}
}

// dnfResult is the disjunctive normal form of a comparison expression,
// restricted type by type. If isFalse, the expression can never match (it
// requires a member of an empty IN list). Otherwise terms[t] holds the
// distinct AND-terms of the assertions on type t, for each t of types (in
// order of first mention); for any other type the expression asserts
// nothing, which is the single empty term.
type dnfResult struct {
	isFalse bool
	types   []string
	terms   map[string][]term
}

// dnf expands e. Chains of one operator are flattened, so recursion only
// follows parentheses.
func (x *expander) dnf(e CompExpr) dnfResult {
	x.work++
	switch n := e.(type) {
	case *Comparison:
		if n.Op == In && !n.Negated && len(n.Value.List) == 0 {
			return dnfResult{isFalse: true}
		}
		ids := x.ids[n]
		if len(ids) == 0 {
			return dnfResult{}
		}
		acc := newTermSet()
		for _, id := range ids {
			if !x.add(acc, term{id}) {
				break
			}
		}
		typ := n.Path.ObjectType
		return dnfResult{types: []string{typ}, terms: map[string][]term{typ: acc.terms}}
	case *CompOp:
		operands := flatten(n)
		results := make([]dnfResult, 0, len(operands))
		for _, o := range operands {
			r := x.dnf(o)
			if n.Op == CompAnd && r.isFalse {
				return r
			}
			if n.Op == CompOr && r.isFalse {
				continue // false OR e = e
			}
			results = append(results, r)
		}
		if len(results) == 0 {
			return dnfResult{isFalse: true}
		}
		out := dnfResult{terms: map[string][]term{}}
		if n.Op == CompOr {
			sets := map[string]*termSet{}
			mentions := map[string]int{}
			for _, r := range results {
				for _, typ := range r.types {
					set := sets[typ]
					if set == nil {
						set = newTermSet()
						sets[typ] = set
						out.types = append(out.types, typ)
					}
					mentions[typ]++
					for _, t := range r.terms[typ] {
						if !x.add(set, t) {
							break
						}
					}
				}
			}
			for _, typ := range out.types {
				// An operand asserting nothing on typ contributes the
				// empty term.
				if mentions[typ] < len(results) {
					x.add(sets[typ], term{})
				}
				out.terms[typ] = sets[typ].terms
			}
			return out
		}
		for _, r := range results {
			for _, typ := range r.types {
				acc, ok := out.terms[typ]
				if !ok {
					out.types = append(out.types, typ)
					out.terms[typ] = r.terms[typ]
					continue
				}
				out.terms[typ] = x.product(acc, r.terms[typ])
			}
		}
		return out
	}
	return dnfResult{}
}

// flatten returns the operands of the chain of n.Op rooted at n, in order.
func flatten(n *CompOp) []CompExpr {
	var out []CompExpr
	stack := []CompExpr{n}
	for len(stack) > 0 {
		e := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if op, ok := e.(*CompOp); ok && op.Op == n.Op {
			stack = append(stack, op.Right, op.Left)
			continue
		}
		out = append(out, e)
	}
	return out
}

type termSet struct {
	terms []term
	seen  map[string]bool
}

func newTermSet() *termSet { return &termSet{seen: map[string]bool{}} }

// add adds t to s unless it is there already. It reports false, and marks
// the expansion as overflowing, when the cap or the work budget is reached.
func (x *expander) add(s *termSet, t term) bool {
	x.work += len(t) + 1
	if x.work > maxExpansionWork {
		x.overflow = true
		return false
	}
	k := termKey(t)
	if s.seen[k] {
		return true
	}
	if len(s.terms) >= x.limit {
		x.overflow = true
		return false
	}
	s.seen[k] = true
	s.terms = append(s.terms, t)
	return true
}

func (x *expander) product(a, b []term) []term {
	acc := newTermSet()
	for _, ta := range a {
		for _, tb := range b {
			if !x.add(acc, mergeTerms(ta, tb)) {
				return acc.terms
			}
		}
	}
	return acc.terms
}

// mergeTerms returns the sorted union of two sorted terms.
func mergeTerms(a, b term) term {
	out := make(term, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

func lessTerm(a, b term) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}

func termKey(t term) string {
	b := make([]byte, 0, len(t)*4)
	for _, id := range t {
		b = strconv.AppendInt(b, int64(id), 10)
		b = append(b, ',')
	}
	return string(b)
}

func assertionKey(a Assertion) string {
	return a.Path.String() + "\x00" + a.Value.Kind.String() + "\x00" + a.Value.Literal()
}
