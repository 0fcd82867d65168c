// Package deepcopy copies decoded JSON values (objects, arrays and the
// scalars in them), so that a copy can be changed without changing the
// original.
//
// It is written out rather than taken from a reflection-based library: it
// runs once per ecs-mode document (mapping/ecsmode), where a type switch
// costs a fraction of reflection, and it turns libbeat's mapstr.M into
// plain objects, which esindex needs.
package deepcopy

import "github.com/elastic/elastic-agent-libs/mapstr"

// Value returns a copy of v in which every object (map[string]any or
// mapstr.M, copied as map[string]any) and every array ([]any) is new;
// other values are shared.
func Value(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return Object(v)
	case mapstr.M:
		return Object(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = Value(e)
		}
		return out
	}
	return v
}

// Object returns a copy of m as Value makes it (a nil m gives an empty
// object, as a nil object or array anywhere in a value does).
func Object(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, e := range m {
		out[k] = Value(e)
	}
	return out
}
