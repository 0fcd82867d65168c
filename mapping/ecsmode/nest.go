package ecsmode

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// ECS documents are built nested from the start: each dotted key is written
// straight into its object (the mapper's keys are a fixed set, so their
// splits are cached), the indicator's fields once per indicator. Building a
// flat set of keys first and nesting it in sorted order cost a quarter of
// the mapping (issue #6); that way remains only for the collision of two
// keys, one a prefix of the other, where it keeps the outcome
// deterministic.

// tree is a nested document under construction.
type tree map[string]any

// set writes a key of the mapper's own fixed set. A collision is a bug in
// the mapper's key table.
func (t tree) set(k string, v any) {
	if !put(t, splitKey(k), v) {
		panic(fmt.Sprintf("ecsmode: field %q collides with another field", k))
	}
}

// keyPaths caches the split of dotted keys.
var keyPaths sync.Map // string -> []string

func splitKey(k string) []string {
	if p, ok := keyPaths.Load(k); ok {
		return p.([]string)
	}
	p := strings.Split(k, ".")
	keyPaths.Store(k, p)
	return p
}

// put sets the value at path; false (and nothing changed) when the path
// runs through a value or the value would replace an object.
func put(out map[string]any, path []string, v any) bool {
	cur := out
	last := len(path) - 1
	for i, p := range path[:last] {
		switch next := cur[p].(type) {
		case map[string]any:
			cur = next
		case nil:
			if _, exists := cur[p]; exists {
				return false
			}
			// Create the rest of the path at once: nothing under it to
			// collide with.
			for _, q := range path[i:last] {
				m := make(map[string]any, 4)
				cur[q] = m
				cur = m
			}
			cur[path[last]] = v
			return true
		default:
			return false
		}
	}
	if _, isObject := cur[path[last]].(map[string]any); isObject {
		return false
	}
	cur[path[last]] = v
	return true
}

// merge writes the layers' dotted keys into doc, a later layer's key
// replacing an earlier one's. On a collision it returns a new document
// built in sorted key order from doc's and the layers' keys.
func merge(doc map[string]any, layers ...fields) map[string]any {
	for _, l := range layers {
		for k, v := range l {
			if !put(doc, splitKey(k), v) {
				flat := fields{}
				flatten(doc, "", flat)
				return nestSorted(append([]fields{flat}, layers...))
			}
		}
	}
	return doc
}

// nestSorted merges the layers into one flat set and nests its keys in
// sorted order: a key that is a prefix of another is set first and then
// replaced by the object the longer key needs.
func nestSorted(layers []fields) map[string]any {
	flat := fields{}
	for _, l := range layers {
		for k, v := range l {
			flat[k] = v
		}
	}
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := map[string]any{}
	for _, k := range keys {
		cur := out
		parts := splitKey(k)
		for _, p := range parts[:len(parts)-1] {
			next, ok := cur[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[p] = next
			}
			cur = next
		}
		cur[parts[len(parts)-1]] = flat[k]
	}
	return out
}

// flatten writes the leaves of a nested document as dotted keys.
func flatten(doc map[string]any, prefix string, out fields) {
	for k, v := range doc {
		if m, ok := v.(map[string]any); ok && len(m) > 0 {
			flatten(m, prefix+k+".", out)
			continue
		}
		out[prefix+k] = v
	}
}
