package checkpoint

import "time"

// Message is what the position rules need of a stream message.
type Message struct {
	// ID is the message's own id ("<ms>-<seq>"); empty when it had none.
	ID string
	// Heartbeat marks OpenCTI's heartbeat messages.
	Heartbeat bool
	// Live marks a message known to be one of the stream's own events: a
	// data event that decoded and whose origin.referer is neither "init"
	// (a recovered object) nor "dependencies" (an object sent before the
	// event that refers to it). See IsLive.
	Live bool
}

// The referers OpenCTI gives the objects it sends on its own.
const (
	RefererInit         = "init"
	RefererDependencies = "dependencies"
)

// IsLive tells whether a data message with this origin.referer is one of
// the stream's own events.
func IsLive(referer string) bool {
	return referer != RefererInit && referer != RefererDependencies
}

// Cursor applies the position rules (see the package documentation) to
// the messages of a stream: after each message, Position is where a
// resume is safe. Begin starts each connection. A Cursor is not safe for
// concurrent use.
type Cursor struct {
	safe Position
	// recoverID is "<recover ms>-0" while safe is a recovery.
	recoverID EventID
	recoverOK bool
	// open is the id of the group being received on this connection: the
	// id of the last data message, until a later id closes it.
	open    EventID
	hasOpen bool
	// last is the id of the last id-bearing data message received on this
	// connection: OpenCTI's heartbeat repeats it while the recovery runs.
	last string
}

// NewCursor starts at pos, the position the first connection starts from.
func NewCursor(pos Position) *Cursor {
	c := &Cursor{}
	c.set(pos)
	return c
}

func (c *Cursor) set(pos Position) {
	c.safe = pos
	c.recoverOK = false
	if pos.Recovering() {
		if t, err := time.Parse(time.RFC3339Nano, pos.RecoverUntil); err == nil && t.UnixMilli() >= 0 {
			c.recoverID, c.recoverOK = EventID{Millis: uint64(t.UnixMilli())}, true
		}
	}
}

// Position is where a resume is safe now.
func (c *Cursor) Position() Position { return c.safe }

// Begin starts a new connection (which resumes from Position): groups and
// messages of the previous connection no longer count.
func (c *Cursor) Begin() {
	c.hasOpen, c.last = false, ""
}

// Reset makes pos the position (an operator reset the connector's state).
func (c *Cursor) Reset(pos Position) {
	c.set(pos)
	c.Begin()
}

// Next records a message of the current connection and returns the
// position after it.
func (c *Cursor) Next(m Message) Position {
	if m.ID == "" {
		return c.safe
	}
	id, err := ParseEventID(m.ID)
	if err != nil {
		// Not an id of OpenCTI's: it neither opens nor closes a group.
		return c.safe
	}
	if c.safe.Recovering() {
		c.recovering(m, id)
		return c.safe
	}
	c.tailing(m, id)
	return c.safe
}

// recovering: the recovery ends on the first sign that the platform tails
// past the recover date. A data message after "<recover ms>-0" proves it
// only when it is one of the stream's own events: recovered objects (and
// their dependencies) carry synthetic ids that may lie after the recover
// date. A heartbeat proves it when its id is after the recover id and is
// not the id of the last message received: during a recovery the
// heartbeat can only repeat that id, while the tail's reader hands it the
// last id it read or the current time.
func (c *Cursor) recovering(m Message, id EventID) {
	if !c.recoverOK {
		if !m.Heartbeat {
			c.last = m.ID
		}
		return // an unreadable recover date: the recovery is redone
	}
	tail := false
	if m.Heartbeat {
		tail = c.recoverID.Less(id) && m.ID != c.last
	} else {
		c.last = m.ID
		tail = c.recoverID.Less(id) && m.Live
	}
	if !tail {
		return
	}
	// Everything up to the recover date came; the tail resumes after it.
	c.set(Position{StartFrom: c.recoverID.String()})
	c.hasOpen = false
	if !m.Heartbeat {
		c.open, c.hasOpen = id, true
	}
}

// tailing: messages sharing an id form a group (an event and the objects
// sent before it); a group is complete once a message with another id
// arrives, or a heartbeat with a later id. Only a complete group's id is
// a safe resume point, since a resume is strictly after the id given.
// A heartbeat's own id is never taken: it may repeat the id of a group
// still being sent, or be the platform's current time, which is not an
// event id.
func (c *Cursor) tailing(m Message, id EventID) {
	if m.Heartbeat {
		if c.hasOpen && c.open.Less(id) {
			c.safe = Position{StartFrom: c.open.String()}
			c.hasOpen = false
		}
		return
	}
	c.last = m.ID
	if c.hasOpen && c.open != id {
		c.safe = Position{StartFrom: c.open.String()}
	}
	c.open, c.hasOpen = id, true
}
