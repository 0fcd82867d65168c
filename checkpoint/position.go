package checkpoint

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Position is where the stream resumes, in the shape OpenCTI's Python
// client keeps as connector state.
type Position struct {
	// StartFrom is an event id "<ms>-<seq>", "0-0" or an ISO date.
	StartFrom string `json:"start_from"`
	// RecoverUntil, when set, makes the next connection replay the current
	// state of every object up to this ISO date before tailing.
	RecoverUntil string `json:"recover_until,omitempty"`
}

// Recovering tells whether the position still needs a recovery.
func (p Position) Recovering() bool { return p.RecoverUntil != "" }

// EventID is a Redis stream id.
type EventID struct{ Millis, Seq uint64 }

// ParseEventID parses "<ms>-<seq>".
func ParseEventID(s string) (EventID, error) {
	ms, seq, ok := strings.Cut(s, "-")
	if !ok {
		return EventID{}, fmt.Errorf("event id %q is not <ms>-<seq>", s)
	}
	m, err1 := strconv.ParseUint(ms, 10, 64)
	q, err2 := strconv.ParseUint(seq, 10, 64)
	if err1 != nil || err2 != nil {
		return EventID{}, fmt.Errorf("event id %q is not <ms>-<seq>", s)
	}
	return EventID{m, q}, nil
}

// Less orders ids.
func (e EventID) Less(o EventID) bool {
	return e.Millis < o.Millis || (e.Millis == o.Millis && e.Seq < o.Seq)
}

// Time is the id's wall-clock time.
func (e EventID) Time() time.Time { return time.UnixMilli(int64(e.Millis)).UTC() }

func (e EventID) String() string { return fmt.Sprintf("%d-%d", e.Millis, e.Seq) }
