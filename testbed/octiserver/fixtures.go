package octiserver

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// fixtureLine is one line of an events file.
type fixtureLine struct {
	ID    string          `json:"id,omitempty"`
	Event string          `json:"event,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// LoadEvents reads a file of events, one JSON object a line:
// {"id": "<ms>-<seq>", "event": "create", "data": ...}. data is either a
// JSON string (the SSE data line as is) or a JSON value (sent compacted).
// Blank lines and lines starting with "#" or "//" are skipped.
func LoadEvents(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	evs, err := ReadEvents(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return evs, nil
}

// ReadEvents reads events in LoadEvents's format.
func ReadEvents(r io.Reader) ([]Event, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 256<<20)
	var evs []Event
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' || bytes.HasPrefix(line, []byte("//")) {
			continue
		}
		var fl fixtureLine
		if err := json.Unmarshal(line, &fl); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		ev := Event{ID: fl.ID, Name: fl.Event}
		switch {
		case len(fl.Data) == 0 || string(fl.Data) == "null":
		case fl.Data[0] == '"':
			if err := json.Unmarshal(fl.Data, &ev.Data); err != nil {
				return nil, fmt.Errorf("line %d: data: %w", n, err)
			}
		default:
			var buf bytes.Buffer
			if err := json.Compact(&buf, fl.Data); err != nil {
				return nil, fmt.Errorf("line %d: data: %w", n, err)
			}
			ev.Data = buf.String()
		}
		evs = append(evs, ev)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return evs, nil
}

// WriteEvents writes events in LoadEvents's format (data as a JSON string).
func WriteEvents(w io.Writer, evs []Event) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	for _, e := range evs {
		_, _ = bw.WriteString(`{"id":`)
		_, _ = bw.Write(jsonString(e.ID))
		_, _ = bw.WriteString(`,"event":`)
		_, _ = bw.Write(jsonString(e.Name))
		_, _ = bw.WriteString(`,"data":`)
		_, _ = bw.Write(jsonString(e.Data))
		_, _ = bw.WriteString("}\n")
	}
	return bw.Flush()
}

// envelope is the data of a create/update/delete/merge event, in
// OpenCTI's field order.
type envelope struct {
	Version string         `json:"version"`
	Type    string         `json:"type"`
	Scope   string         `json:"scope"`
	Message string         `json:"message"`
	Origin  map[string]any `json:"origin"`
	Data    map[string]any `json:"data"`
	Context map[string]any `json:"context,omitempty"`
	EventID string         `json:"event_id"`
}

// Envelope builds the data of a create/update/delete/merge event around a
// STIX object: {version:"4", type:kind, scope:"external", message, origin,
// data:stix, context:ctx (when not nil), event_id}. The message is
// OpenCTI-like ("creates a Indicator `name`", "replaces `80` in `score`",
// "deletes a ...", "merges ... in `...`"); event_id is
// "<updated_at ms>-0" from the object's OpenCTI extension (else modified,
// else now). For update, ctx holds patch and reverse_patch (RFC 6902); for
// merge, ctx holds sources (the STIX objects merged into stix).
func Envelope(kind string, stix map[string]any, ctx map[string]any) string {
	meta := metaOf(stix)
	upd := meta.updatedAt()
	if upd < 0 {
		upd = time.Now().UnixMilli()
	}
	env := envelope{
		Version: "4",
		Type:    kind,
		Scope:   "external",
		Message: message(kind, &meta, ctx),
		Origin:  map[string]any{"socket": "query", "user_id": AdminUserID},
		Data:    stix,
		Context: ctx,
		EventID: idKey{ms: uint64(max(upd, 0))}.String(),
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(env); err != nil {
		panic(fmt.Sprintf("octiserver: Envelope: %v", err))
	}
	return strings.TrimRight(buf.String(), "\n")
}

func metaOf(stix map[string]any) stixMeta {
	var meta stixMeta
	if b, err := json.Marshal(stix); err == nil {
		_ = json.Unmarshal(b, &meta)
	}
	return meta
}

func message(kind string, meta *stixMeta, ctx map[string]any) string {
	what := meta.entityType() + " `" + meta.representative() + "`"
	switch kind {
	case "create":
		return "creates a " + what
	case "delete":
		return "deletes a " + what
	case "merge":
		var names []string
		if srcs, ok := ctx["sources"].([]any); ok {
			for _, src := range srcs {
				if m, ok := src.(map[string]any); ok {
					sm := metaOf(m)
					names = append(names, "`"+sm.representative()+"`")
				}
			}
		}
		return "merges " + meta.entityType() + " " + strings.Join(names, ", ") + " in `" + meta.representative() + "`"
	case "update":
		if ops, ok := ctx["patch"].([]any); ok && len(ops) > 0 {
			if op, ok := ops[0].(map[string]any); ok {
				path := str(op["path"])
				field := path[strings.LastIndexByte(path, '/')+1:]
				verb := map[string]string{"add": "adds", "remove": "removes"}[str(op["op"])]
				if verb == "" {
					verb = "replaces"
				}
				val := op["value"]
				if verb == "removes" {
					return verb + " `" + field + "`"
				}
				b, _ := json.Marshal(val)
				return verb + " `" + strings.Trim(string(b), `"`) + "` in `" + field + "`"
			}
		}
		return "updates a " + what
	}
	return kind + " " + what
}
