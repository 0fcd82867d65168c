package stixmode

import (
	"time"

	"github.com/openctibeat/openctibeat/mapping"
	"github.com/openctibeat/openctibeat/opencti/event"
	"github.com/openctibeat/openctibeat/stix"
)

// Mapper maps events to raw STIX documents.
type Mapper struct {
	index string
}

var _ mapping.Mapper = (*Mapper)(nil)

// New returns a stix mode mapper.
func New(cfg Config) *Mapper { return &Mapper{index: cfg.Index} }

// Map returns the writes that make the index reflect ev.
func (m *Mapper) Map(ev event.Event) ([]mapping.Doc, error) {
	switch ev.Kind {
	case event.Delete:
		return []mapping.Doc{m.del(ev.Object)}, nil
	case event.Merge:
		docs := make([]mapping.Doc, 0, len(ev.Sources)+1)
		for _, src := range ev.Sources {
			if src.DocID() != ev.Object.DocID() {
				docs = append(docs, m.del(src))
			}
		}
		return append(docs, m.put(ev.Object)), nil
	default:
		return []mapping.Doc{m.put(ev.Object)}, nil
	}
}

func (m *Mapper) put(o stix.Object) mapping.Doc {
	return mapping.Doc{Op: mapping.Index, Index: m.index, ID: o.DocID(), Timestamp: timestamp(o), Fields: o.Fields}
}

func (m *Mapper) del(o stix.Object) mapping.Doc {
	return mapping.Doc{Op: mapping.Delete, Index: m.index, ID: o.DocID(),
		Fields: map[string]any{"id": o.ID, "type": o.Type}}
}

// timestamp is the object's version time: modified, else OpenCTI's
// updated_at, else created.
func timestamp(o stix.Object) time.Time {
	for _, s := range []string{o.String("modified"), openCTIString(o, "updated_at"), o.String("created")} {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UTC()
		}
	}
	return time.Unix(0, 0).UTC()
}

func openCTIString(o stix.Object, key string) string {
	ext, _ := o.Fields["extensions"].(map[string]any)
	octi, _ := ext[stix.OpenCTIExtension].(map[string]any)
	s, _ := octi[key].(string)
	return s
}
