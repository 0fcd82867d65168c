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
}

// Mapper maps a decoded event to the documents that make the engine
// reflect it. An error means the event cannot be represented; it is
// counted and skipped.
type Mapper interface {
	Map(ev event.Event) ([]Doc, error)
}
