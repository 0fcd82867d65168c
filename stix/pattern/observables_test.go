package pattern

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// formatObservables renders observables as "type prop=value prop=value".
func formatObservables(obs []Observable) []string {
	out := []string{}
	for _, o := range obs {
		parts := []string{o.Type}
		for _, a := range o.Values {
			if a.Path.ObjectType != o.Type {
				parts = append(parts, "WRONG-TYPE:"+a.Path.ObjectType)
			}
			parts = append(parts, a.Path.Property()+"="+a.Value.String())
		}
		out = append(out, strings.Join(parts, " "))
	}
	return out
}

func TestObservables(t *testing.T) {
	cases := []struct {
		name    string
		pattern string
		want    []string
	}{
		// The examples of the contract.
		{"two observations", "[ipv4-addr:value = 'a'] OR [ipv4-addr:value = 'b']",
			[]string{"ipv4-addr value=a", "ipv4-addr value=b"}},
		{"one object two hashes", "[file:hashes.MD5 = 'x' AND file:hashes.'SHA-256' = 'y']",
			[]string{"file hashes.MD5=x hashes.SHA-256=y"}},
		{"or inside brackets", "[ipv4-addr:value = 'a' OR ipv4-addr:value = 'b']",
			[]string{"ipv4-addr value=a", "ipv4-addr value=b"}},
		{"in list", "[domain-name:value IN ('a','b')]",
			[]string{"domain-name value=a", "domain-name value=b"}},
		{"and across types", "[file:name = 'x' AND ipv4-addr:value = 'y']",
			[]string{"file name=x", "ipv4-addr value=y"}},
		{"like", "[url:value LIKE '%x%']", []string{}},
		{"negated equality", "[ipv4-addr:value NOT = 'a']", []string{}},

		// Operators that assert no value.
		{"not equal", "[file:name != 'x']", []string{}},
		{"not in", "[file:name NOT IN ('a', 'b')]", []string{}},
		{"order", "[file:size > 5 AND file:size <= 10]", []string{}},
		{"matches issubset issuperset", "[a:x MATCHES 'y' OR ipv4-addr:value ISSUBSET '10.0.0.0/8' OR ipv4-addr:value ISSUPERSET '10.0.0.1']", []string{}},
		{"exists", "[EXISTS file:name AND NOT EXISTS file:size]", []string{}},
		{"others do not hide equality", "[file:name = 'x' AND file:size > 5 AND NOT EXISTS file:hashes.MD5 AND file:name NOT LIKE 'y%']",
			[]string{"file name=x"}},
		{"term without equality yields nothing", "[a:x = 1 OR a:x LIKE 'y']", []string{"a x=1"}},

		// Disjunctive normal form.
		{"distribution", "[(file:name = 'a' OR file:name = 'b') AND file:size = 1]",
			[]string{"file name=a size=1", "file name=b size=1"}},
		{"product in pattern order", "[(a:x = 1 OR a:x = 2) AND (a:y = 3 OR a:y = 4)]",
			[]string{"a x=1 y=3", "a x=1 y=4", "a x=2 y=3", "a x=2 y=4"}},
		{"in product", "[a:x IN (1, 2) AND a:y IN (3, 4)]",
			[]string{"a x=1 y=3", "a x=1 y=4", "a x=2 y=3", "a x=2 y=4"}},
		{"types are not multiplied", "[(a:x = 1 OR a:x = 2) AND (b:y = 3 OR b:y = 4)]",
			[]string{"a x=1", "a x=2", "b y=3", "b y=4"}},
		{"precedence and over or", "[a:x = 1 OR a:y = 2 AND a:z = 3]",
			[]string{"a x=1", "a y=2 z=3"}},
		{"nested parens", "[((a:x = 1 OR (a:x = 2 AND a:y = 3)) AND a:z = 4)]",
			[]string{"a x=1 z=4", "a x=2 y=3 z=4"}},
		{"interleaved types keep pattern order", "[ipv4-addr:value = '1' OR domain-name:value = 'd' OR ipv4-addr:value = '2']",
			[]string{"ipv4-addr value=1", "domain-name value=d", "ipv4-addr value=2"}},
		{"mixed and or across types", "[(file:name = 'x' AND ipv4-addr:value = '1') OR file:name = 'y']",
			[]string{"file name=x", "ipv4-addr value=1", "file name=y"}},
		{"an object's terms are its own", "[file:name = 'x' AND (ipv4-addr:value = '1' OR ipv4-addr:value = '2')]",
			[]string{"file name=x", "ipv4-addr value=1", "ipv4-addr value=2"}},
		{"absorbed empty term", "[file:name = 'x' AND (file:size = 1 OR ipv4-addr:value = '1')]",
			[]string{"file name=x", "file name=x size=1", "ipv4-addr value=1"}},

		// Empty IN matches nothing.
		{"empty in", "[file:name IN ()]", []string{}},
		{"empty in kills its term", "[file:name = 'x' AND file:size IN ()]", []string{}},
		{"empty in kills its term across types", "[file:name = 'x' AND ipv4-addr:value IN ()]", []string{}},
		{"empty in in a disjunction", "[file:name = 'x' OR file:size IN ()]", []string{"file name=x"}},
		{"negated empty in", "[file:name = 'x' AND file:size NOT IN ()]", []string{"file name=x"}},

		// Duplicates.
		{"duplicate observations", "[ipv4-addr:value = 'a'] OR [ipv4-addr:value = 'a']", []string{"ipv4-addr value=a"}},
		{"duplicate regardless of order", "[file:name = 'x' AND file:size = 1] AND [file:size = 1 AND file:name = 'x']",
			[]string{"file name=x size=1"}},
		{"same assertion twice in a term", "[a:x = 1 AND a:x = 1]", []string{"a x=1"}},
		{"same assertion, other quoting", "[file:hashes.MD5 = 'x' OR file:hashes.'MD5' = 'x']", []string{"file hashes.MD5=x"}},
		{"in with repeated member", "[a:x IN (1, 1, 2)]", []string{"a x=1", "a x=2"}},
		{"int and string differ", "[a:x = 1 OR a:x = '1']", []string{"a x=1", "a x=1"}},
		{"contradiction kept", "[a:x = 1 AND a:x = 2]", []string{"a x=1 x=2"}},

		// Observation operators and qualifiers.
		{"followedby and qualifiers", "([a:x = 1] FOLLOWEDBY [b:y = 2] REPEATS 2 TIMES) WITHIN 5 SECONDS START t'2016-01-01T00:00:00Z' STOP t'2017-01-01T00:00:00Z'",
			[]string{"a x=1", "b y=2"}},
		{"observation and", "[a:x = 1] AND ([b:y = 2] OR [c:z = 3])", []string{"a x=1", "b y=2", "c z=3"}},

		// Values and paths.
		{"value kinds", "[a:s = 'x' OR a:i = -3 OR a:f = 1.5 OR a:b = true OR a:h = h'0A' OR a:y = b'AQ==' OR a:t = t'2016-01-01T00:00:00Z']",
			[]string{"a s=x", "a i=-3", "a f=1.5", "a b=true", "a h=0a", "a y=01", "a t=2016-01-01T00:00:00Z"}},
		{"references", "[network-traffic:dst_ref.value = '198.51.100.1' AND network-traffic:dst_port = 443]",
			[]string{"network-traffic dst_ref.value=198.51.100.1 dst_port=443"}},
		{"indexes", "[email-message:body_multipart[*].body_raw_ref.name = 'x' AND email-message:to_refs[0].value = 'y']",
			[]string{"email-message body_multipart[*].body_raw_ref.name=x to_refs[0].value=y"}},
		{"poisonivy", "[domain-name:value = 'mf.ddns.info' OR ipv4-addr:value = '60.2.148.167']",
			[]string{"domain-name value=mf.ddns.info", "ipv4-addr value=60.2.148.167"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			obs, err := p.Observables()
			if err != nil {
				t.Fatal(err)
			}
			if got := formatObservables(obs); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Observables(%q)\n got %q\nwant %q", tc.pattern, got, tc.want)
			}
		})
	}
}

func TestObservablesValues(t *testing.T) {
	p, err := Parse("[file:hashes.'SHA-256' = 'abc' AND file:mtime = t'2016-01-20T12:31:12.5Z']")
	if err != nil {
		t.Fatal(err)
	}
	obs, err := p.Observables()
	if err != nil {
		t.Fatal(err)
	}
	want := []Observable{{Type: "file", Values: []Assertion{
		{Path: ObjectPath{ObjectType: "file", Steps: []Step{{Key: "hashes"}, {Key: "SHA-256"}}}, Value: Value{Kind: String, Str: "abc"}},
		{Path: ObjectPath{ObjectType: "file", Steps: []Step{{Key: "mtime"}}}, Value: Value{Kind: Timestamp, Time: time.Date(2016, 1, 20, 12, 31, 12, 500000000, time.UTC)}},
	}}}
	if !reflect.DeepEqual(obs, want) {
		t.Errorf("got %+v\nwant %+v", obs, want)
	}
}

func inList(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		if i > from {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d", i)
	}
	return b.String()
}

func TestObservablesCap(t *testing.T) {
	const countLimit = 10 * MaxObservables
	var exp strings.Builder
	for i := 0; i < 20; i++ {
		if i > 0 {
			exp.WriteString(" AND ")
		}
		fmt.Fprintf(&exp, "(a:x%d = 1 OR a:x%d = 2)", i, i)
	}
	var manyTypes strings.Builder
	for i := 0; i < 5000; i++ {
		if i > 0 {
			manyTypes.WriteString(" OR ")
		}
		fmt.Fprintf(&manyTypes, "t%d:v = %d", i, i)
	}
	var collapse strings.Builder // 2^20 intermediate terms, 1 real one
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&collapse, "(a:x%d = 1 OR a:y%d = 1) AND ", i, i)
	}
	for i := 0; i < 20; i++ {
		if i > 0 {
			collapse.WriteString(" AND ")
		}
		fmt.Fprintf(&collapse, "a:x%d = 1 AND a:y%d = 1", i, i)
	}
	cases := []struct {
		name    string
		pattern string
		n       int
		tooMany bool
		first   string
		// CountObservables(countLimit): the count, -1 to skip, and
		// whether it is complete.
		count    int
		complete bool
	}{
		{"exactly the cap", "[a:x IN (" + inList(0, MaxObservables) + ")]", MaxObservables, false, "a x=0", MaxObservables, true},
		{"one past the cap", "[a:x IN (" + inList(0, MaxObservables+1) + ")]", MaxObservables, true, "a x=0", MaxObservables + 1, true},
		{"past the cap across observations", "[a:x IN (" + inList(0, 600) + ")] OR [a:x IN (" + inList(600, 1200) + ")]", MaxObservables, true, "a x=0", 1200, true},
		{"duplicates do not count", "[a:x IN (" + inList(0, 800) + ")] OR [a:x IN (" + inList(0, 800) + ")]", 800, false, "a x=0", 800, true},
		{"exponential", "[" + exp.String() + "]", MaxObservables, true, "a x0=1 x1=1 x2=1 x3=1 x4=1 x5=1 x6=1 x7=1 x8=1 x9=1 x10=1 x11=1 x12=1 x13=1 x14=1 x15=1 x16=1 x17=1 x18=1 x19=1", countLimit, false},
		{"many types", "[" + manyTypes.String() + "]", MaxObservables, true, "t0 v=0", 5000, true},
		{"collapsing expansion", "[" + collapse.String() + "]", -1, true, "", -1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			obs, err := p.Observables()
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Observables took %v", d)
			}
			if tc.tooMany != errors.Is(err, ErrTooMany) {
				t.Fatalf("err = %v, want ErrTooMany: %v", err, tc.tooMany)
			}
			if err != nil && !errors.Is(err, ErrTooMany) {
				t.Fatal(err)
			}
			if len(obs) > MaxObservables {
				t.Fatalf("%d observables, more than MaxObservables", len(obs))
			}
			if tc.n >= 0 && len(obs) != tc.n {
				t.Fatalf("%d observables, want %d", len(obs), tc.n)
			}
			if tc.first != "" {
				if got := formatObservables(obs[:1])[0]; got != tc.first {
					t.Errorf("first = %q, want %q", got, tc.first)
				}
			}
			n, complete := p.CountObservables(countLimit)
			if complete != tc.complete || (tc.count >= 0 && n != tc.count) || n > countLimit {
				t.Errorf("CountObservables(%d) = %d, %t; want %d, %t", countLimit, n, complete, tc.count, tc.complete)
			}
		})
	}
}
