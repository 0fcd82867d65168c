package publish

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elastic/beats/v7/libbeat/beat/events"

	"github.com/openctibeat/openctibeat/checkpoint"
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

// TestSameDocumentWaits: a second write of a document waits until the
// first is acknowledged; writes of other documents do not.
func TestSameDocumentWaits(t *testing.T) {
	f := &fakePipeline{}
	var saved []string
	var mu sync.Mutex
	tr := checkpoint.NewTracker(checkpoint.Position{}, func(p checkpoint.Position) { mu.Lock(); saved = append(saved, p.StartFrom); mu.Unlock() })
	p, err := New(f, tr, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	doc := func(id string) []mapping.Doc {
		return []mapping.Doc{{Op: mapping.Index, Index: "i", ID: id, Fields: map[string]any{"a": 1}}}
	}
	p.Publish(checkpoint.Position{StartFrom: "1-0"}, doc("x"))
	p.Publish(checkpoint.Position{StartFrom: "2-0"}, doc("y")) // another document: not held back
	if n := len(f.published()); n != 2 {
		t.Fatalf("published %d, want 2", n)
	}
	done := make(chan struct{})
	go func() {
		p.Publish(checkpoint.Position{StartFrom: "3-0"}, doc("x"))
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("the second write of x did not wait for the first's acknowledgement")
	case <-time.After(100 * time.Millisecond):
	}
	f.ack(1) // x of 1-0
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the second write of x never went out")
	}
	f.ack(2)
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(saved, ",") != "1-0,3-0" {
		t.Fatalf("saved %v", saved)
	}
	// Close releases a waiting Publish without publishing.
	p.Publish(checkpoint.Position{StartFrom: "4-0"}, doc("z"))
	go func() { time.Sleep(50 * time.Millisecond); _ = p.Close() }()
	p.Publish(checkpoint.Position{StartFrom: "5-0"}, doc("z"))
	if n := len(f.published()); n != 4 {
		t.Fatalf("published %d after close, want 4", n)
	}
}
