package publish

import (
	"testing"
	"time"

	"github.com/elastic/beats/v7/libbeat/beat/events"

	"github.com/openctibeat/openctibeat/mapping"
)

func TestEvent(t *testing.T) {
	ts := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name   string
		doc    mapping.Doc
		opType events.OpType
		fields int
	}{
		{"index", mapping.Doc{Op: mapping.Index, Index: "i", ID: "a", Timestamp: ts, Fields: map[string]any{"x": 1, "y": 2}}, events.OpTypeIndex, 2},
		{"delete keeps its fields", mapping.Doc{Op: mapping.Delete, Index: "i", ID: "a", Fields: map[string]any{"id": "x--1"}}, events.OpTypeDelete, 1},
		// libbeat drops events without fields: a delete always has some.
		{"delete without fields", mapping.Doc{Op: mapping.Delete, Index: "i", ID: "a"}, events.OpTypeDelete, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := Event(tt.doc, "p")
			if events.GetOpType(ev) != tt.opType {
				t.Errorf("op_type %v", ev.Meta[events.FieldMetaOpType])
			}
			if id, _ := events.GetMetaStringValue(ev, events.FieldMetaID); id != "a" {
				t.Errorf("_id %q", id)
			}
			if idx, _ := events.GetMetaStringValue(ev, events.FieldMetaIndex); idx != "i" {
				t.Errorf("index %q", idx)
			}
			if len(ev.Fields) != tt.fields || ev.Private != "p" || !ev.Timestamp.Equal(tt.doc.Timestamp) {
				t.Errorf("event %+v", ev)
			}
		})
	}
}
