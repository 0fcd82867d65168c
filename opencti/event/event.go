package event

import (
	"errors"
	"fmt"
	"strings"

	// A drop-in encoding/json (same types, errors and semantics) that
	// decodes OpenCTI's events into maps about twice as fast; decoding was
	// the largest cost of the beat (issue #6).
	"github.com/segmentio/encoding/json"

	"github.com/openctibeat/openctibeat/opencti/stream"
	"github.com/openctibeat/openctibeat/stix"
)

// Kind is what happened to the object.
type Kind uint8

// The kinds of data events OpenCTI streams.
const (
	Create Kind = iota + 1
	Update
	Delete
	Merge
)

func (k Kind) String() string {
	switch k {
	case Create:
		return "create"
	case Update:
		return "update"
	case Delete:
		return "delete"
	case Merge:
		return "merge"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind maps an SSE event name to a Kind; ok is false for names that
// carry no object (connected, heartbeat, ...).
func ParseKind(name string) (Kind, bool) {
	switch name {
	case "create":
		return Create, true
	case "update":
		return Update, true
	case "delete":
		return Delete, true
	case "merge":
		return Merge, true
	}
	return 0, false
}

// Event is one decoded create, update, delete or merge.
type Event struct {
	// ID is the stream event id.
	ID   string
	Kind Kind
	// Object is the object as it is now (for a delete: as it was).
	Object stix.Object
	// Sources are, for a merge, the objects merged into Object; they no
	// longer exist.
	Sources []stix.Object
	// Message is OpenCTI's description of the change.
	Message string
	// Referer is the envelope's origin.referer: "init" for an object
	// replayed by a recovery, "dependencies" for an object sent before the
	// event that refers to it (both as "create", with the id of the event
	// they precede), else what the change's origin says (usually nothing).
	Referer string
	// Previous holds, for an update, the values the update replaced (from
	// context.reverse_patch), by top-level property name. A property
	// absent here was not changed, or its old value is unknown.
	Previous map[string]any
}

// Reason classifies why an event was refused; each has its own counter.
type Reason string

// The reasons an event is refused.
const (
	ReasonMalformedJSON Reason = "malformed_json"
	// ReasonTooDeep is JSON nested deeper than MaxDepth.
	ReasonTooDeep       Reason = "too_deep"
	ReasonMissingField  Reason = "missing_field"
	ReasonInvalidObject Reason = "invalid_object"
)

// Error is a refused event.
type Error struct {
	EventID string
	Name    string
	Reason  Reason
	Err     error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s event %s refused (%s): %v", e.Name, e.EventID, e.Reason, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// envelope is decoded in one pass, the objects straight into maps.
type envelope struct {
	Version string `json:"version"`
	Type    string `json:"type"`
	Message string `json:"message"`
	Origin  struct {
		Referer string `json:"referer"`
	} `json:"origin"`
	Data    map[string]any `json:"data"`
	Context *struct {
		Sources      []map[string]any `json:"sources"`
		ReversePatch []patchOp        `json:"reverse_patch"`
	} `json:"context"`
}

// Decode turns a create/update/delete/merge message into an Event.
func Decode(msg stream.Message) (Event, error) {
	kind, ok := ParseKind(msg.Event)
	if !ok {
		return Event{}, &Error{EventID: msg.ID, Name: msg.Event, Reason: ReasonMissingField, Err: errors.New("not a data event")}
	}
	fail := func(r Reason, err error) (Event, error) {
		return Event{}, &Error{EventID: msg.ID, Name: msg.Event, Reason: r, Err: err}
	}
	if msg.ID == "" {
		return fail(ReasonMissingField, errors.New("message has no id"))
	}
	if off := depthExceeded(msg.Data, MaxDepth); off >= 0 {
		return fail(ReasonTooDeep, fmt.Errorf("JSON nested deeper than %d levels at byte %d of %d; no STIX object is this deep", MaxDepth, off, len(msg.Data)))
	}
	var env envelope
	if err := json.Unmarshal(msg.Data, &env); err != nil {
		return fail(ReasonMalformedJSON, err)
	}
	if env.Data == nil {
		return fail(ReasonMissingField, errors.New(`no "data" object`))
	}
	obj, err := stix.FromMap(env.Data)
	if err != nil {
		return fail(reasonOf(err), fmt.Errorf("data: %w", err))
	}
	ev := Event{ID: msg.ID, Kind: kind, Object: obj, Message: env.Message, Referer: env.Origin.Referer}
	if kind == Update && env.Context != nil {
		ev.Previous = previousValues(env.Context.ReversePatch)
	}
	if kind == Merge {
		if env.Context == nil {
			return fail(ReasonMissingField, errors.New(`merge without "context.sources"`))
		}
		for i, raw := range env.Context.Sources {
			src, err := stix.FromMap(raw)
			if err != nil {
				return fail(reasonOf(err), fmt.Errorf("context.sources[%d]: %w", i, err))
			}
			ev.Sources = append(ev.Sources, src)
		}
	}
	return ev, nil
}

// patchOp is one RFC 6902 operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// previousValues reads the old values of top-level properties from a
// reverse patch: a "replace" or "add" of "/prop" restores the old value; a
// "remove" of "/prop" means the property did not exist.
func previousValues(ops []patchOp) map[string]any {
	var prev map[string]any
	for _, op := range ops {
		name, ok := strings.CutPrefix(op.Path, "/")
		if !ok || name == "" || strings.Contains(name, "/") {
			continue
		}
		name = strings.NewReplacer("~1", "/", "~0", "~").Replace(name)
		if prev == nil {
			prev = map[string]any{}
		}
		switch op.Op {
		case "replace", "add":
			prev[name] = op.Value
		case "remove":
			prev[name] = nil
		}
	}
	return prev
}

func reasonOf(err error) Reason {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn), errors.As(err, &typ):
		return ReasonMalformedJSON
	case errors.Is(err, stix.ErrNotObject):
		return ReasonInvalidObject
	}
	return ReasonMalformedJSON
}
