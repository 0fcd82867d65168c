package mapping

import (
	"errors"
	"testing"

	"github.com/openctibeat/openctibeat/opencti/event"
)

type fixedMapper struct {
	docs []Doc
	err  error
}

func (m fixedMapper) Map(event.Event) ([]Doc, error) { return m.docs, m.err }

func TestEventIDs(t *testing.T) {
	bad := errors.New("partly unmappable")
	m := EventIDs(fixedMapper{docs: []Doc{{ID: "a"}, {ID: "b", Op: Delete}}, err: bad})
	docs, err := m.Map(event.Event{ID: "17-3"})
	if !errors.Is(err, bad) {
		t.Errorf("err = %v, want the mapper's", err)
	}
	if len(docs) != 2 || docs[0].Event != "17-3" || docs[1].Event != "17-3" {
		t.Fatalf("docs %+v: each must name event 17-3", docs)
	}
}
