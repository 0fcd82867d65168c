package connector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openctibeat/openctibeat/checkpoint"
)

// errNoState is an empty or null connector state: none was saved, or an
// operator reset it (OpenCTI's resetStateConnector empties it).
var errNoState = errors.New("the connector state is empty")

// EncodeState returns pos as connector state, as pycti writes it
// (json.dumps): {"start_from": "<id>", "recover_until": "<ISO date>"}, with
// recover_until left out when pos has none.
func EncodeState(pos checkpoint.Position) string {
	var b strings.Builder
	b.WriteString(`{"start_from": `)
	b.WriteString(jsonString(pos.StartFrom))
	if pos.RecoverUntil != "" {
		b.WriteString(`, "recover_until": `)
		b.WriteString(jsonString(pos.RecoverUntil))
	}
	b.WriteByte('}')
	return b.String()
}

func jsonString(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(buf.String(), "\n")
}

// ParseState reads a connector state written by the beat or by pycti:
// start_from (or pycti 4's connectorLastEventId) is "0", "0-0", an event id
// "<ms>-<seq>" or an ISO date; recover_until is an ISO date, null, false or
// absent. Other keys are ignored. An empty or "null" state is an error
// (errors.Is(err, errNoState) inside the package).
func ParseState(state string) (checkpoint.Position, error) {
	s := strings.TrimSpace(state)
	if s == "" || s == "null" {
		return checkpoint.Position{}, errNoState
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return checkpoint.Position{}, fmt.Errorf("connector state is not a JSON object: %w", err)
	}
	from, err := stringField(raw, "start_from")
	if err == nil && from == "" {
		from, err = stringField(raw, "connectorLastEventId")
	}
	if err != nil {
		return checkpoint.Position{}, err
	}
	if from == "" {
		return checkpoint.Position{}, errors.New("connector state has no start_from")
	}
	if !validStart(from) {
		return checkpoint.Position{}, fmt.Errorf("connector state start_from %q is not 0-0, an event id (<ms>-<seq>) or an ISO date", from)
	}
	until, err := stringField(raw, "recover_until")
	if err != nil {
		return checkpoint.Position{}, err
	}
	if until != "" {
		if _, err := time.Parse(time.RFC3339Nano, until); err != nil {
			return checkpoint.Position{}, fmt.Errorf("connector state recover_until %q is not an ISO date", until)
		}
	}
	return checkpoint.Position{StartFrom: from, RecoverUntil: until}, nil
}

// stringField returns the string value of key; absent, null and false give "".
func stringField(raw map[string]json.RawMessage, key string) (string, error) {
	v, ok := raw[key]
	if !ok {
		return "", nil
	}
	switch t := strings.TrimSpace(string(v)); t {
	case "null", "false":
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("connector state %s is %s, not a string", key, truncate(string(v)))
	}
	return s, nil
}

func validStart(s string) bool {
	if s == "0" || s == "0-0" {
		return true
	}
	if _, err := checkpoint.ParseEventID(s); err == nil {
		return true
	}
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}

func truncate(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}
