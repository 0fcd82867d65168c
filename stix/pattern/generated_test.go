package pattern

import (
	"math"
	"math/rand"
	"reflect"
	"testing"
	"time"
)

// astGen builds random ASTs of the shape Parse produces.
type astGen struct{ r *rand.Rand }

func (g astGen) pick(s ...string) string { return s[g.r.Intn(len(s))] }

func (g astGen) obs(depth int) ObservationExpr {
	if depth <= 0 || g.r.Intn(3) == 0 {
		return &Observation{Expr: g.comp(3)}
	}
	switch g.r.Intn(3) {
	case 0:
		return &Qualified{Expr: g.obs(depth - 1), Qualifier: g.qualifier()}
	default:
		op := []ObsOpKind{ObsAnd, ObsOr, ObsFollowedBy}[g.r.Intn(3)]
		return &ObservationOp{Op: op, Left: g.obs(depth - 1), Right: g.obs(depth - 1)}
	}
}

func (g astGen) qualifier() Qualifier {
	switch g.r.Intn(3) {
	case 0:
		secs := float64(g.r.Intn(10000))
		if g.r.Intn(2) == 0 {
			secs = g.r.Float64() * math.Pow(10, float64(g.r.Intn(40)-20))
		}
		return Qualifier{Kind: Within, Seconds: secs}
	case 1:
		return Qualifier{Kind: StartStop, Start: g.time(), Stop: g.time()}
	default:
		return Qualifier{Kind: Repeats, Times: g.r.Intn(1 << 20)}
	}
}

func (g astGen) comp(depth int) CompExpr {
	if depth <= 0 || g.r.Intn(2) == 0 {
		return g.comparison()
	}
	op := []CompOpKind{CompAnd, CompOr}[g.r.Intn(2)]
	return &CompOp{Op: op, Left: g.comp(depth - 1), Right: g.comp(depth - 1)}
}

func (g astGen) comparison() *Comparison {
	c := &Comparison{Path: g.path(), Negated: g.r.Intn(3) == 0}
	c.Op = Operator(1 + g.r.Intn(int(Exists)))
	switch c.Op {
	case Eq, Neq:
		c.Value = g.value(true)
	case Lt, Le, Gt, Ge:
		c.Value = g.value(false)
	case In:
		c.Value = Value{Kind: List, List: []Value{}}
		for i := g.r.Intn(4); i > 0; i-- {
			c.Value.List = append(c.Value.List, g.value(true))
		}
	case Exists:
	default:
		c.Value = Value{Kind: String, Str: g.str()}
	}
	return c
}

func (g astGen) path() ObjectPath {
	p := ObjectPath{ObjectType: g.pick("file", "ipv4-addr", "x-custom-type", "_t", "network-traffic", "a-")}
	p.Steps = append(p.Steps, Step{Key: g.key()})
	for i := g.r.Intn(4); i > 0; i-- {
		switch g.r.Intn(3) {
		case 0:
			p.Steps = append(p.Steps, Step{IsIndex: true, AnyIndex: true})
		case 1:
			p.Steps = append(p.Steps, Step{IsIndex: true, Index: g.r.Intn(200) - 100})
		default:
			p.Steps = append(p.Steps, Step{Key: g.key()})
		}
	}
	return p
}

func (g astGen) key() string {
	if g.r.Intn(2) == 0 {
		return g.pick("value", "hashes", "SHA-256", "MD5", "IN", "true", "AND", "x_y", "_", "a1", "windows-pebinary-ext")
	}
	return g.str()
}

func (g astGen) str() string {
	const chars = "ab '\\\"-_.:[]()*/=\n\té日😀"
	rs := []rune(chars)
	out := make([]rune, g.r.Intn(8))
	for i := range out {
		out[i] = rs[g.r.Intn(len(rs))]
	}
	return string(out)
}

func (g astGen) time() time.Time {
	return time.Date(g.r.Intn(10000), time.Month(1+g.r.Intn(12)), 1+g.r.Intn(28),
		g.r.Intn(24), g.r.Intn(60), g.r.Intn(60), g.r.Intn(3)*g.r.Intn(1e9), time.UTC)
}

func (g astGen) value(withBool bool) Value {
	n := 7
	if withBool {
		n = 8
	}
	switch g.r.Intn(n) {
	case 0:
		return Value{Kind: String, Str: g.str()}
	case 1:
		return Value{Kind: Int, Int: g.r.Int63() - g.r.Int63()}
	case 2:
		f := math.Float64frombits(g.r.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			f = -0.5
		}
		return Value{Kind: Float, Float: f}
	case 3:
		b := make([]byte, 1+g.r.Intn(6))
		g.r.Read(b)
		return Value{Kind: Binary, Bytes: b}
	case 4:
		b := make([]byte, g.r.Intn(6))
		g.r.Read(b)
		return Value{Kind: Hex, Bytes: b}
	case 5:
		return Value{Kind: Timestamp, Time: g.time()}
	case 6:
		return Value{Kind: Float, Float: float64(g.r.Intn(100))}
	default:
		return Value{Kind: Bool, Bool: g.r.Intn(2) == 0}
	}
}

// TestRoundTripGenerated checks Parse(p.String()) == p on random ASTs,
// covering shapes the hand-written cases do not: odd keys, extreme floats,
// qualifiers repeated on nested expressions, deep mixes of operators.
func TestRoundTripGenerated(t *testing.T) {
	g := astGen{rand.New(rand.NewSource(1))}
	for i := 0; i < 3000; i++ {
		p := &Pattern{Root: g.obs(5)}
		s := p.String()
		q, err := Parse(s)
		if err != nil {
			t.Fatalf("case %d: Parse(%q): %v", i, s, err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("case %d: round trip changed the pattern:\n%q\n%q", i, s, q.String())
		}
		if _, err := p.Observables(); err != nil && err != ErrTooMany {
			t.Fatal(err)
		}
	}
}
