package ecsmode

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/openctibeat/openctibeat/mapping"
	"github.com/openctibeat/openctibeat/opencti/event"
	"github.com/openctibeat/openctibeat/stix"
)

// checkPlain checks what publish.Options.PlainFields promises libbeat: the
// documents hold JSON types only, no nil, and no two documents share a map
// or a slice (processors may change one in place).
func checkPlain(docs []mapping.Doc) error {
	seen := map[uintptr]string{}
	var walk func(doc, path string, v any) error
	walk = func(doc, path string, v any) error {
		switch v := v.(type) {
		case map[string]any:
			p := reflect.ValueOf(v).Pointer()
			if other, ok := seen[p]; ok && other != doc {
				return fmt.Errorf("%s: object %s shared with document %s", doc, path, other)
			}
			seen[p] = doc
			for k, x := range v {
				if err := walk(doc, path+"."+k, x); err != nil {
					return err
				}
			}
		case []any:
			if len(v) > 0 {
				p := reflect.ValueOf(v).Pointer()
				if other, ok := seen[p]; ok && other != doc {
					return fmt.Errorf("%s: array %s shared with document %s", doc, path, other)
				}
				seen[p] = doc
			}
			for i, x := range v {
				if err := walk(doc, fmt.Sprintf("%s[%d]", path, i), x); err != nil {
					return err
				}
			}
		case string, bool, int64, float64:
		case nil:
			return fmt.Errorf("%s: %s is null", doc, path)
		default:
			return fmt.Errorf("%s: %s has type %T", doc, path, v)
		}
		return nil
	}
	for _, d := range docs {
		if d.Op != mapping.Index {
			continue
		}
		if err := walk(d.ID, "", d.Fields); err != nil {
			return err
		}
	}
	return nil
}

func TestDocumentsArePlain(t *testing.T) {
	obj, err := stix.FromMap(map[string]any{
		"type": "indicator", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
		"pattern":           "[ipv4-addr:value = '198.51.100.1'] OR [ipv4-addr:value = '198.51.100.2'] OR [domain-name:value = 'example.com']",
		"pattern_type":      "stix",
		"labels":            []any{"a", "b"},
		"kill_chain_phases": []any{map[string]any{"kill_chain_name": "mitre", "phase_name": nil}},
		"indicator_types":   []any{"malicious-activity"},
		"created":           "2024-01-01T00:00:00Z", "modified": "2024-01-02T00:00:00Z",
	})
	if err != nil {
		t.Fatal(err)
	}
	docs, err := New(DefaultConfig(), "https://opencti.example.com", clock).Map(event.Event{Kind: event.Create, Object: obj})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 3 {
		t.Fatalf("%d documents", len(docs))
	}
	if err := checkPlain(docs); err != nil {
		t.Fatal(err)
	}
}
