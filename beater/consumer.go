package beater

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/elastic/elastic-agent-libs/logp"

	"github.com/openctibeat/openctibeat/checkpoint"
	"github.com/openctibeat/openctibeat/filter"
	"github.com/openctibeat/openctibeat/mapping"
	"github.com/openctibeat/openctibeat/mapping/ecsmode"
	"github.com/openctibeat/openctibeat/opencti/event"
	"github.com/openctibeat/openctibeat/opencti/stream"
)

// publisher is what the consumer needs of publish.Publisher.
type publisher interface {
	Publish(pos checkpoint.Position, docs []mapping.Doc)
}

// expiryObserver learns when written documents expire.
type expiryObserver interface {
	Observe(t time.Time)
}

type consumerParams struct {
	start     checkpoint.Position
	mapper    mapping.Mapper
	publisher publisher
	// filter, when set, keeps only the indicators it allows; an indicator
	// it refuses loses its documents, like a revoked one.
	filter        *filter.Filter
	filterMetrics *filter.Metrics
	expiry        expiryObserver // may be nil
	lag           *lag           // may be nil
	log           *logp.Logger
	metrics       *metrics
}

// consumer is the stream.Handler: it runs each message through decode and
// map and hands the documents, with the position they lead to, to the
// publisher. Nothing a message carries can stop it.
type consumer struct {
	consumerParams

	mu sync.Mutex
	// cursor holds the position after the last message handed over: the
	// next connection starts there (the position rules are in checkpoint).
	cursor *checkpoint.Cursor
}

var _ stream.Handler = (*consumer)(nil)

func newConsumer(p consumerParams) *consumer {
	return &consumer{consumerParams: p, cursor: checkpoint.NewCursor(p.start)}
}

// StartPoint resumes after the last message group received whole:
// everything received is in the pipeline, which retries until the output
// acknowledges it, and a group only partly received is read again whole
// (the same rule as the saved position's). A recovery not yet complete is
// redone.
func (c *consumer) StartPoint() stream.Start {
	c.mu.Lock()
	defer c.mu.Unlock()
	pos := c.cursor.Position()
	return stream.Start{From: pos.StartFrom, Recover: pos.RecoverUntil}
}

// reset makes the next connection start at pos.
func (c *consumer) reset(pos checkpoint.Position) {
	c.mu.Lock()
	c.cursor.Reset(pos)
	c.mu.Unlock()
}

// Connected starts a new connection: what the previous one left
// incomplete is sent again.
func (c *consumer) Connected() {
	c.metrics.connections.Inc()
	c.mu.Lock()
	c.cursor.Begin()
	c.mu.Unlock()
}

func (c *consumer) Disconnected(error) {}

// Handle processes one message.
func (c *consumer) Handle(msg stream.Message) {
	c.metrics.receive(msg.Event)
	// A heartbeat's id is not an event's: when nothing new came it is the
	// platform's current time.
	if c.lag != nil && msg.ID != "" && msg.Event != "heartbeat" {
		c.lag.seen(msg.ID)
	}
	docs, live, ok := c.documents(msg)
	if !ok {
		docs = nil
	}
	c.mu.Lock()
	pos := c.cursor.Next(checkpoint.Message{ID: msg.ID, Heartbeat: msg.Event == "heartbeat", Live: live})
	c.mu.Unlock()
	c.publisher.Publish(pos, docs)
	if c.expiry != nil {
		for _, d := range docs {
			if !d.Expires.IsZero() {
				c.expiry.Observe(d.Expires)
			}
		}
	}
}

// applyFilter returns the event to map: an indicator the filter refuses is
// mapped as revoked (ecs mode deletes its documents) and the documents it
// would write are turned into deletes by the caller (dropped is true).
// Deletes are never filtered.
func (c *consumer) applyFilter(ev event.Event) (event.Event, bool) {
	if c.filter == nil || ev.Kind == event.Delete {
		return ev, false
	}
	ok, reason := c.filter.Allow(ev.Object)
	if ok {
		return ev, false
	}
	c.filterMetrics.Dropped(reason)
	fields := make(map[string]any, len(ev.Object.Fields)+1)
	for k, v := range ev.Object.Fields {
		fields[k] = v
	}
	fields["revoked"] = true
	ev.Object.Fields = fields
	return ev, true
}

// onlyDeletes turns the writes of a refused object into deletes of the same
// documents (stix mode writes the object itself; ecs mode already deletes).
func onlyDeletes(docs []mapping.Doc) []mapping.Doc {
	out := make([]mapping.Doc, len(docs))
	for i, d := range docs {
		if d.Op == mapping.Index {
			d = mapping.Doc{Op: mapping.Delete, Index: d.Index, ID: d.ID, Event: d.Event, Fields: map[string]any{"id": d.ID}}
		}
		out[i] = d
	}
	return out
}

// documents decodes and maps a message. ok is false when the message was
// refused (it is then counted and logged). live tells that the message is
// one of the stream's own events (see checkpoint.Message).
func (c *consumer) documents(msg stream.Message) (docs []mapping.Doc, live, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			c.metrics.skip("panic")
			c.log.Errorw("event handling failed; event skipped", "event_id", msg.ID, "event", msg.Event, "error", fmt.Sprint(r))
			docs, ok = nil, false
		}
	}()
	if msg.Oversize > 0 {
		c.metrics.skip("oversize")
		c.log.Warnw("stream message larger than openctibeat.stream.max_event_size skipped; raise the setting to receive such messages",
			"event_id", msg.ID, "event", msg.Event, "bytes", msg.Oversize)
		return nil, false, false
	}
	switch msg.Event {
	case "create", "update", "delete", "merge":
	case "connected":
		c.log.Infow("connected to the OpenCTI live stream", "data", string(msg.Data))
		return nil, false, true
	case "heartbeat", "consumer_metrics":
		return nil, false, true
	case "no-recover":
		c.mu.Lock()
		from := c.cursor.Position().StartFrom
		c.mu.Unlock()
		c.log.Warnw("OpenCTI cannot recover the stream from the requested point", "event_id", msg.ID, "data", string(msg.Data), "from", from)
		return nil, false, true
	case "error":
		c.log.Errorw("OpenCTI reported a stream error", "event_id", msg.ID, "data", string(msg.Data))
		return nil, false, true
	default:
		c.log.Debugw("ignoring an unknown stream event", "event_id", msg.ID, "event", msg.Event)
		return nil, false, true
	}
	ev, err := event.Decode(msg)
	if err != nil {
		reason := "malformed"
		if de, isDE := err.(*event.Error); isDE {
			reason = string(de.Reason)
		}
		c.metrics.skip(reason)
		c.log.Warnw("malformed stream event skipped", "event_id", msg.ID, "event", msg.Event, "reason", reason, "error", err)
		return nil, false, false
	}
	live = checkpoint.IsLive(ev.Referer)
	c.metrics.replayed(ev.Referer)
	ev, dropped := c.applyFilter(ev)
	docs, err = c.mapper.Map(ev)
	if dropped {
		docs = onlyDeletes(docs)
	}
	if err != nil {
		reason := "unmappable"
		if errors.Is(err, ecsmode.ErrInvalidPattern) {
			reason = "invalid_pattern"
		}
		c.metrics.skip(reason)
		c.log.Warnw("stream event cannot be mapped; its valid documents are written, the rest skipped", "event_id", msg.ID, "event", msg.Event, "stix_id", ev.Object.ID, "reason", reason, "error", err)
		return docs, live, true
	}
	return docs, live, true
}
