package mapping

import (
	"time"

	"github.com/openctibeat/openctibeat/opencti/event"
)

// Op is what the engine does with a document.
type Op uint8

// The operations a document asks for.
const (
	// Index writes the whole document, replacing any with the same id.
	Index Op = iota + 1
	// Delete removes the document with the id, if any.
	Delete
)

func (o Op) String() string {
	switch o {
	case Index:
		return "index"
	case Delete:
		return "delete"
	}
	return "unknown"
}

// Doc is one write to the engine.
type Doc struct {
	Op    Op
	Index string
	ID    string
	// Timestamp becomes @timestamp.
	Timestamp time.Time
	// Fields is the document body (for Delete: identifying fields only,
	// never sent).
	Fields map[string]any
	// Expires, when set, is when the document must disappear.
	Expires time.Time
	// Event is the id of the stream event the document comes from (see
	// EventIDs). It is not part of the document: it names the event in
	// the logs of a refused write.
	Event string
}

// Mapper maps a decoded event to the documents that make the engine
// reflect it. An error means the event cannot be represented; it is
// counted and skipped.
type Mapper interface {
	Map(ev event.Event) ([]Doc, error)
}

// EventIDs returns m with every document naming the stream event it comes
// from (Doc.Event).
func EventIDs(m Mapper) Mapper { return eventIDs{m} }

type eventIDs struct{ Mapper }

func (m eventIDs) Map(ev event.Event) ([]Doc, error) {
	docs, err := m.Mapper.Map(ev)
	for i := range docs {
		docs[i].Event = ev.ID
	}
	return docs, err
}
