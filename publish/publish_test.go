package publish

import (
	"fmt"
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

// TestSameDocumentWaits: a second write of a document waits (parked)
// until the first is acknowledged; writes of other documents go on
// meanwhile; the position moves only over acknowledged messages, in
// order.
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
	ids := func() string {
		var out []string
		for _, e := range f.published() {
			out = append(out, e.Meta["_id"].(string)+"@"+e.Private.(*docRef).entry.Position().StartFrom)
		}
		return strings.Join(out, " ")
	}
	p.Publish(checkpoint.Position{StartFrom: "1-0"}, doc("x"))
	p.Publish(checkpoint.Position{StartFrom: "2-0"}, doc("y"))
	p.Publish(checkpoint.Position{StartFrom: "3-0"}, doc("x")) // parked behind x@1-0
	p.Publish(checkpoint.Position{StartFrom: "4-0"}, doc("z")) // not held back
	if got := ids(); got != "x@1-0 y@2-0 z@4-0" {
		t.Fatalf("published %s", got)
	}
	f.ack(1) // x@1-0: releases x@3-0
	waitFor(t, func() bool { return ids() == "x@1-0 y@2-0 z@4-0 x@3-0" })
	f.ack(2) // y@2-0, z@4-0: the position stops before 3-0
	f.ack(1) // x@3-0
	mu.Lock()
	if strings.Join(saved, ",") != "1-0,2-0,4-0" {
		t.Fatalf("saved %v", saved)
	}
	mu.Unlock()

	// Close: a parked write is never published; its message is never
	// acknowledged.
	p.Publish(checkpoint.Position{StartFrom: "5-0"}, doc("w"))
	p.Publish(checkpoint.Position{StartFrom: "6-0"}, doc("w"))
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p.Publish(checkpoint.Position{StartFrom: "7-0"}, doc("v"))
	if got := ids(); got != "x@1-0 y@2-0 z@4-0 x@3-0 w@5-0" {
		t.Fatalf("published after close: %s", got)
	}
}

// TestParkedBound: with too many parked writes, Publish waits until an
// acknowledgement releases one (or Close).
func TestParkedBound(t *testing.T) {
	f := &fakePipeline{}
	tr := checkpoint.NewTracker(checkpoint.Position{}, func(checkpoint.Position) {})
	p, err := New(f, tr, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p.maxParked = 2
	doc := []mapping.Doc{{Op: mapping.Index, Index: "i", ID: "x", Fields: map[string]any{"a": 1}}}
	for i := 0; i < 3; i++ { // one in flight, two parked
		p.Publish(checkpoint.Position{StartFrom: fmt.Sprintf("%d-0", i)}, doc)
	}
	done := make(chan struct{})
	go func() { p.Publish(checkpoint.Position{StartFrom: "9-0"}, doc); close(done) }()
	select {
	case <-done:
		t.Fatal("a third parked write was taken")
	case <-time.After(100 * time.Millisecond):
	}
	f.ack(1)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the acknowledgement did not release the publisher")
	}
	_ = p.Close()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}
