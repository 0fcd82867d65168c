package ecsmode

import (
	"reflect"
	"testing"

	"github.com/openctibeat/openctibeat/internal/deepcopy"
)

func TestMerge(t *testing.T) {
	tests := []struct {
		name   string
		doc    map[string]any
		layers []fields
		want   map[string]any
	}{
		{
			name:   "dotted keys",
			doc:    map[string]any{"d": true},
			layers: []fields{{"a.b": 1, "a.c": "x"}},
			want:   map[string]any{"a": map[string]any{"b": 1, "c": "x"}, "d": true},
		},
		{
			name:   "a later layer replaces a key",
			doc:    map[string]any{"a": map[string]any{"b": 1, "c": 2}},
			layers: []fields{{"a.b": 3}, nil, {"e.f.g": 4}},
			want:   map[string]any{"a": map[string]any{"b": 3, "c": 2}, "e": map[string]any{"f": map[string]any{"g": 4}}},
		},
		{
			name:   "a value under a key that another key needs as an object",
			doc:    map[string]any{"z": 0},
			layers: []fields{{"a.b": 1, "a.b.c": 2}},
			want:   map[string]any{"a": map[string]any{"b": map[string]any{"c": 2}}, "z": 0},
		},
		{
			name:   "an object of the document under a value of a layer",
			doc:    map[string]any{"a": map[string]any{"b": map[string]any{"c": 2}}},
			layers: []fields{{"a.b": 1}},
			want:   map[string]any{"a": map[string]any{"b": map[string]any{"c": 2}}},
		},
		{
			name:   "a nil value is a value",
			layers: []fields{{"a": nil, "a.b": 1}},
			want:   map[string]any{"a": map[string]any{"b": 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Map order varies between runs: the outcome must not.
			for i := 0; i < 50; i++ {
				doc := map[string]any{}
				if tt.doc != nil {
					doc = deepcopy.Object(tt.doc)
				}
				if got := merge(doc, tt.layers...); !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("merge = %#v, want %#v", got, tt.want)
				}
			}
		})
	}
}

func TestTreeSetPanicsOnCollision(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	f := tree{}
	f.set("a.b", 1)
	f.set("a.b.c", 2)
}
