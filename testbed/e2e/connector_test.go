//go:build integration

package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestConnectorRegistrationAndReset: the beat registers as a STREAM
// connector, pings its acknowledged position, and an operator's reset of
// the state in OpenCTI makes the stream start again from it.
func TestConnectorRegistrationAndReset(t *testing.T) {
	const id = "6f1b2d4e-2c0b-4c77-9c1e-7a5d9f0e3b21"
	s := mixed(60)
	b := newBed(t, s.events)
	o := b.options()
	o.extra = "openctibeat.connector.id: " + id + "\nopenctibeat.connector.ping_interval: 1s\n"
	p := startBeat(t, t.TempDir(), o)
	waitPosition(t, p, s.lastID(), time.Minute)

	var reg, pinged bool
	eventually(t, 30*time.Second, "a ping with the acknowledged position", func() bool {
		for _, r := range b.octi.GraphQLRequests() {
			if len(r.ValidationErrors) > 0 {
				t.Fatalf("invalid GraphQL request %s: %v", r.OperationName, r.ValidationErrors)
			}
			for _, f := range r.Fields {
				switch f {
				case "registerConnector":
					in, _ := r.Variables["input"].(map[string]any)
					reg = in["id"] == id && in["type"] == "STREAM"
				case "pingConnector":
					state, _ := r.Variables["state"].(string)
					var st map[string]any
					_ = json.Unmarshal([]byte(state), &st)
					if st["start_from"] == s.lastID() {
						pinged = true
					}
				}
			}
		}
		return reg && pinged
	})

	// An operator resets the state to an earlier event.
	resetTo := s.events[10].ID
	before := len(b.octi.StreamRequests())
	b.octi.SetConnectorState(id, `{"start_from":"`+resetTo+`"}`)
	eventually(t, 30*time.Second, "the stream to restart from the reset state", func() bool {
		reqs := b.octi.StreamRequests()
		for _, r := range reqs[before:] {
			if r.LastEventID == resetTo {
				return true
			}
		}
		return false
	})
	waitPosition(t, p, s.lastID(), time.Minute)
	b.waitState(s.want, time.Minute)
	if !strings.Contains(p.out.String(), "reset in OpenCTI") {
		t.Error("the reset was not logged")
	}
}
