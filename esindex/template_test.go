package esindex

import "testing"

// TestDeadLetter: the dead letter index's template maps exactly what
// libbeat writes there, as a plain index with a fixed mapping.
func TestDeadLetter(t *testing.T) {
	b := body(t, DeadLetter("refused"))
	if got := b["index_patterns"].([]any); len(got) != 1 || got[0] != "refused" {
		t.Fatalf("patterns %v", got)
	}
	if _, ds := b["data_stream"]; ds {
		t.Fatal("a data stream refuses libbeat's dead letter writes (op_type index)")
	}
	m := b["template"].(map[string]any)["mappings"].(map[string]any)
	if m["dynamic"] != false {
		t.Errorf("dynamic %v: a refused document's content must not map fields here", m["dynamic"])
	}
	for field, typ := range map[string]string{"@timestamp": "date", "message": "text", "error.type": "keyword", "error.message": "text"} {
		p, ok := property(b, field)
		if !ok || p["type"] != typ {
			t.Errorf("%s: %v, want %s", field, p, typ)
		}
	}
}
