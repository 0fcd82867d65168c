package ecsfields

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elastic/beats/v7/libbeat/mapping"
	"go.yaml.in/yaml/v3"

	"github.com/openctibeat/openctibeat/esindex"
)

//go:embed testdata/ecs_flat.yml
var ecsFlatYML []byte

// field is one field a document may carry.
type field struct {
	Type string
	// ObjectType is the type of every value of an object field (ECS
	// labels: keyword).
	ObjectType string
	// Opaque: any content is accepted (flattened, or an object that is not
	// indexed).
	Opaque   bool
	Expected []string
}

// ecsEntry is one entry of ecs_flat.yml (the keys read here).
type ecsEntry struct {
	Type           string   `yaml:"type"`
	ObjectType     string   `yaml:"object_type"`
	IgnoreAbove    int      `yaml:"ignore_above"`
	Description    string   `yaml:"description"`
	ExpectedValues []string `yaml:"expected_values"`
	AllowedValues  []struct {
		Name string `yaml:"name"`
	} `yaml:"allowed_values"`
	MultiFields []struct {
		Name string `yaml:"name"`
		Type string `yaml:"type"`
	} `yaml:"multi_fields"`
}

type schema struct {
	ecs    map[string]ecsEntry
	fields map[string]field // ECS and opencti.* fields
	// parents holds every proper prefix of a field name ("threat",
	// "threat.indicator", ...): objects a document may contain.
	parents map[string]bool
}

var load = sync.OnceValues(func() (*schema, error) {
	var ecs map[string]ecsEntry
	if err := yaml.Unmarshal(ecsFlatYML, &ecs); err != nil {
		return nil, fmt.Errorf("ecs_flat.yml: %w", err)
	}
	s := &schema{ecs: ecs, fields: map[string]field{}, parents: map[string]bool{}}
	for name, e := range ecs {
		f := field{Type: e.Type, ObjectType: e.ObjectType, Expected: e.ExpectedValues}
		for _, a := range e.AllowedValues {
			f.Expected = append(f.Expected, a.Name)
		}
		f.Opaque = e.Type == "flattened"
		s.add(name, f)
	}
	declared, err := esindex.Fields()
	if err != nil {
		return nil, fmt.Errorf("_meta/fields.yml: %w", err)
	}
	for name, f := range leaves(declared, "") {
		if !strings.HasPrefix(name, "opencti.") {
			continue // ECS fields, checked against ECS by the tests
		}
		typ := f.Type
		if typ == "" {
			typ = "keyword" // libbeat's default
		}
		s.add(name, field{Type: typ, Opaque: typ == "flattened" || (f.Enabled != nil && !*f.Enabled)})
	}
	// An object field with no declared sub-field and no object_type is
	// opaque: ECS says nothing of its content.
	for name, f := range s.fields {
		if (f.Type == "object" || f.Type == "nested") && f.ObjectType == "" && !s.parents[name] {
			f.Opaque = true
			s.fields[name] = f
		}
	}
	return s, nil
})

func (s *schema) add(name string, f field) {
	s.fields[name] = f
	for i := strings.IndexByte(name, '.'); i >= 0; i = next(name, i) {
		s.parents[name[:i]] = true
	}
}

func next(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '.')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

// leaves returns the fields of a fields.yml by dotted name (groups are
// walked, not returned).
func leaves(fs mapping.Fields, prefix string) map[string]mapping.Field {
	out := map[string]mapping.Field{}
	for _, f := range fs {
		name := prefix + f.Name
		if f.Type == "group" {
			for k, v := range leaves(f.Fields, name+".") {
				out[k] = v
			}
			continue
		}
		out[name] = f
	}
	return out
}

func mustLoad() *schema {
	s, err := load()
	if err != nil {
		panic("ecsfields: " + err.Error())
	}
	return s
}

// ExpectedValues returns the values ECS 9.4 lists for field (its
// expected_values, or the names of its allowed_values), or nil.
func ExpectedValues(field string) []string {
	return slices.Clone(mustLoad().fields[field].Expected)
}

// Check returns one problem per key of doc (a dotted path: nested objects
// and dotted keys are flattened alike; an array of objects is checked
// element by element under the same path) that is neither an ECS 9.4 field
// nor a field declared under opencti. in _meta/fields.yml, or whose value
// does not fit the field's type:
//
//	keyword, wildcard, constant_keyword, text, match_only_text  string
//	ip                          string holding one IPv4 or IPv6 address
//	ip_range                    string holding a CIDR block or "a-b"
//	long, integer, short, byte  integral number in the type's range
//	unsigned_long               integral number, 0 or more
//	float, double, scaled_float number
//	date                        RFC 3339 string, or time.Time
//	boolean                     bool
//	geo_point                   object {lat, lon} or string
//	object, nested, flattened   object
//
// Any string type counts as a string, any Go number or json.Number as a
// number. A value may also be an array of such values, or null. Problems
// read "<path>: <why>" and are sorted.
func Check(doc map[string]any) []string {
	s := mustLoad()
	c := checker{s: s, problems: map[string]string{}}
	c.object("", reflect.ValueOf(doc))
	out := make([]string, 0, len(c.problems))
	for path, p := range c.problems {
		out = append(out, path+": "+p)
	}
	sort.Strings(out)
	return out
}

type checker struct {
	s        *schema
	problems map[string]string // first problem by path
}

func (c *checker) fail(path, format string, args ...any) {
	if _, ok := c.problems[path]; !ok {
		c.problems[path] = fmt.Sprintf(format, args...)
	}
}

// object walks the keys of a map value found at path.
func (c *checker) object(path string, m reflect.Value) {
	if m.Type().Key().Kind() != reflect.String {
		c.fail(path, "object with non-string keys (%s)", m.Type())
		return
	}
	iter := m.MapRange()
	for iter.Next() {
		k := iter.Key().String()
		if k == "" || strings.HasPrefix(k, ".") || strings.HasSuffix(k, ".") || strings.Contains(k, "..") {
			c.fail(join(path, k), "invalid key %q", k)
			continue
		}
		c.value(join(path, k), iter.Value())
	}
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// value checks a value found at path.
func (c *checker) value(path string, v reflect.Value) {
	for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			c.null(path)
			return
		}
		v = v.Elem()
	}
	if !v.IsValid() {
		c.null(path)
		return
	}
	f, declared := c.s.fields[path]
	switch {
	case v.Kind() == reflect.Map:
		c.mapValue(path, v, f, declared)
	case v.Kind() == reflect.Slice || v.Kind() == reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			c.fail(path, "raw bytes (%s): encode them as a string", v.Type())
			return
		}
		for i := 0; i < v.Len(); i++ {
			e := v.Index(i)
			for e.Kind() == reflect.Interface || e.Kind() == reflect.Pointer {
				if e.IsNil() {
					break
				}
				e = e.Elem()
			}
			if e.Kind() == reflect.Slice || e.Kind() == reflect.Array {
				c.fail(path, "array nested in an array")
				return
			}
			c.value(path, e)
		}
		if v.Len() == 0 && !declared && !c.s.parents[path] {
			c.undeclared(path)
		}
	default:
		if !declared && c.s.parents[path] {
			c.fail(path, "%v where ECS or _meta/fields.yml has an object", v.Interface())
			return
		}
		if !declared {
			c.undeclared(path)
			return
		}
		if f.Opaque {
			return
		}
		if p := scalarProblem(f.Type, v.Interface()); p != "" {
			c.fail(path, "%s (field type %s)", p, f.Type)
		}
	}
}

func (c *checker) mapValue(path string, v reflect.Value, f field, declared bool) {
	switch {
	case declared && f.Opaque:
		return
	case declared && f.Type == "ip_range":
		if p := scalarProblem("ip_range", v.Interface()); p != "" {
			c.fail(path, "%s (field type ip_range)", p)
		}
	case declared && f.Type == "geo_point":
		m, _ := v.Interface().(map[string]any)
		if lat, lon := jsonOf(m["lat"]), jsonOf(m["lon"]); len(m) != 2 || lat.kind != jsonNumber || lon.kind != jsonNumber {
			c.fail(path, "%v is not a geo point (object lat/lon or string)", v.Interface())
		}
	case declared && f.ObjectType != "":
		// Such as labels: every value is of the object type.
		iter := v.MapRange()
		for iter.Next() {
			sub := join(path, fmt.Sprint(iter.Key().Interface()))
			e := iter.Value()
			if e.Kind() == reflect.Interface {
				if e.IsNil() {
					continue
				}
				e = e.Elem()
			}
			if e.Kind() == reflect.Map {
				c.fail(sub, "object inside %s, whose values are %s", path, f.ObjectType)
			} else if p := scalarProblem(f.ObjectType, e.Interface()); p != "" {
				c.fail(sub, "%s (field type %s)", p, f.ObjectType)
			}
		}
	case declared && f.Type != "object" && f.Type != "nested":
		c.fail(path, "object for a %s field", f.Type)
	case v.Len() == 0 && path != "" && !declared && !c.s.parents[path]:
		c.undeclared(path)
	default:
		// Undeclared keys below are reported one by one.
		c.object(path, v)
	}
}

func (c *checker) null(path string) {
	if _, ok := c.s.fields[path]; !ok && !c.s.parents[path] {
		c.undeclared(path)
	}
}

func (c *checker) undeclared(path string) {
	c.fail(path, "neither an ECS 9.4 field nor declared under opencti. in _meta/fields.yml")
}

// scalarProblem says why v does not fit a field of type typ, or "".
func scalarProblem(typ string, v any) string {
	j := jsonOf(v)
	switch typ {
	case "keyword", "wildcard", "constant_keyword", "text", "match_only_text", "version":
		if j.kind != jsonString {
			return fmt.Sprintf("%s %v is not a string", j.kind, v)
		}
	case "ip":
		if j.kind != jsonString {
			return fmt.Sprintf("%s %v is not a string", j.kind, v)
		}
		if a, err := netip.ParseAddr(j.s); err != nil || a.Zone() != "" {
			return fmt.Sprintf("%q is not an IP address", j.s)
		}
	case "ip_range":
		return ipRangeProblem(v)
	case "long", "integer", "short", "byte", "unsigned_long":
		return integerProblem(typ, j, v)
	case "float", "half_float", "double", "scaled_float":
		if j.kind != jsonNumber {
			return fmt.Sprintf("%s %v is not a number", j.kind, v)
		}
	case "date", "date_nanos":
		if j.kind != jsonString {
			return fmt.Sprintf("%s %v is not an RFC 3339 string", j.kind, v)
		}
		if _, err := time.Parse(time.RFC3339Nano, j.s); err != nil {
			return fmt.Sprintf("%q is not an RFC 3339 date", j.s)
		}
	case "boolean":
		if j.kind != jsonBool {
			return fmt.Sprintf("%s %v is not a boolean", j.kind, v)
		}
	case "geo_point":
		if j.kind != jsonString {
			return fmt.Sprintf("%s %v is not a geo point (object lat/lon or string)", j.kind, v)
		}
	case "object", "nested", "flattened":
		return fmt.Sprintf("%s %v is not an object", j.kind, v)
	default:
		return "type not checked by ecsfields"
	}
	return ""
}

type jsonKind string

const (
	jsonString jsonKind = "string"
	jsonNumber jsonKind = "number"
	jsonBool   jsonKind = "boolean"
	jsonOther  jsonKind = "non-JSON value"
)

// jsonScalar is a scalar as encoding/json writes it.
type jsonScalar struct {
	kind jsonKind
	s    string  // string
	i    *int64  // integral number that fits int64
	u    *uint64 // integral number above int64
	f    float64 // number
}

// jsonOf classifies v as encoding/json would write it: strings (of any
// string type; time.Time as its RFC 3339 text), numbers (Go numbers and
// json.Number) and booleans.
func jsonOf(v any) jsonScalar {
	switch t := v.(type) {
	case time.Time:
		return jsonScalar{kind: jsonString, s: t.Format(time.RFC3339Nano)}
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return jsonScalar{kind: jsonNumber, i: &i, f: float64(i)}
		}
		if u, err := strconv.ParseUint(string(t), 10, 64); err == nil {
			return jsonScalar{kind: jsonNumber, u: &u, f: float64(u)}
		}
		if f, err := t.Float64(); err == nil {
			return floatScalar(f)
		}
		return jsonScalar{kind: jsonOther}
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String:
		return jsonScalar{kind: jsonString, s: rv.String()}
	case reflect.Bool:
		return jsonScalar{kind: jsonBool}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i := rv.Int()
		return jsonScalar{kind: jsonNumber, i: &i, f: float64(i)}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u <= math.MaxInt64 {
			i := int64(u)
			return jsonScalar{kind: jsonNumber, i: &i, f: float64(i)}
		}
		return jsonScalar{kind: jsonNumber, u: &u, f: float64(u)}
	case reflect.Float32, reflect.Float64:
		return floatScalar(rv.Float())
	}
	return jsonScalar{kind: jsonOther}
}

func floatScalar(f float64) jsonScalar {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return jsonScalar{kind: jsonOther} // encoding/json refuses them
	}
	j := jsonScalar{kind: jsonNumber, f: f}
	if f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 {
		i := int64(f)
		j.i = &i
	} else if f == math.Trunc(f) && f >= 0 && f < math.MaxUint64 {
		u := uint64(f)
		j.u = &u
	}
	return j
}

// integerBounds are the ranges of Elasticsearch's signed integer types.
var integerBounds = map[string][2]int64{
	"byte":    {math.MinInt8, math.MaxInt8},
	"short":   {math.MinInt16, math.MaxInt16},
	"integer": {math.MinInt32, math.MaxInt32},
	"long":    {math.MinInt64, math.MaxInt64},
}

func integerProblem(typ string, j jsonScalar, v any) string {
	switch {
	case j.kind != jsonNumber:
		return fmt.Sprintf("%s %v is not a number", j.kind, v)
	case j.i == nil && j.u == nil:
		return fmt.Sprintf("%v is not an integer", v)
	case typ == "unsigned_long":
		if j.i != nil && *j.i < 0 {
			return fmt.Sprintf("%v is negative", v)
		}
	case j.u != nil:
		return fmt.Sprintf("%v is out of range", v)
	default:
		if b := integerBounds[typ]; *j.i < b[0] || *j.i > b[1] {
			return fmt.Sprintf("%v is out of range", v)
		}
	}
	return ""
}

func ipRangeProblem(v any) string {
	switch r := v.(type) {
	case string:
		if _, err := netip.ParsePrefix(r); err == nil {
			return ""
		}
		if from, to, ok := strings.Cut(r, "-"); ok {
			a, errA := netip.ParseAddr(strings.TrimSpace(from))
			b, errB := netip.ParseAddr(strings.TrimSpace(to))
			if errA == nil && errB == nil && a.Is4() == b.Is4() && !b.Less(a) {
				return ""
			}
		}
		return fmt.Sprintf("%q is neither a CIDR block nor an address range a-b", r)
	case map[string]any:
		if len(r) == 0 {
			return "empty range"
		}
		for k, e := range r {
			s, ok := e.(string)
			if !ok || (k != "gte" && k != "gt" && k != "lte" && k != "lt") {
				return fmt.Sprintf("range %v: want gte/gt/lte/lt addresses", r)
			}
			if _, err := netip.ParseAddr(s); err != nil {
				return fmt.Sprintf("range %v: %q is not an IP address", r, s)
			}
		}
		return ""
	default:
		return fmt.Sprintf("%T %v is not an IP range", v, v)
	}
}
