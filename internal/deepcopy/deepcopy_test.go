package deepcopy

import (
	"testing"

	"github.com/elastic/elastic-agent-libs/mapstr"
	"github.com/google/go-cmp/cmp"
)

func TestValue(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"scalar", "x", "x"},
		{"nil", nil, nil},
		{"object", map[string]any{"a": map[string]any{"b": 1}, "c": []any{"x", map[string]any{"d": true}}},
			map[string]any{"a": map[string]any{"b": 1}, "c": []any{"x", map[string]any{"d": true}}}},
		{"mapstr.M becomes a plain object", mapstr.M{"a": mapstr.M{"b": 1}, "c": []any{mapstr.M{}}},
			map[string]any{"a": map[string]any{"b": 1}, "c": []any{map[string]any{}}}},
		{"nil object and array become empty ones", map[string]any{"a": map[string]any(nil), "b": []any(nil)},
			map[string]any{"a": map[string]any{}, "b": []any{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Value(tt.in)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestCopyIsIndependent(t *testing.T) {
	orig := map[string]any{"a": map[string]any{"b": 1}, "c": []any{"x"}, "m": mapstr.M{"n": 1}}
	c := Object(orig)
	c["a"].(map[string]any)["b"] = 2
	c["c"].([]any)[0] = "y"
	c["m"].(map[string]any)["n"] = 2
	want := map[string]any{"a": map[string]any{"b": 1}, "c": []any{"x"}, "m": mapstr.M{"n": 1}}
	if diff := cmp.Diff(want, orig); diff != "" {
		t.Errorf("the copy shares parts with the original (-want +got):\n%s", diff)
	}
}
