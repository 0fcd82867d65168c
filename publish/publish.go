package publish

import (
	"fmt"

	"github.com/elastic/beats/v7/libbeat/beat"
	"github.com/elastic/beats/v7/libbeat/beat/events"
	"github.com/elastic/beats/v7/libbeat/common/acker"
	"github.com/elastic/elastic-agent-libs/mapstr"

	"github.com/openctibeat/openctibeat/checkpoint"
	"github.com/openctibeat/openctibeat/mapping"
)

// Publisher publishes the documents of each stream message.
type Publisher struct {
	client  beat.Client
	tracker *checkpoint.Tracker
	metrics *Metrics
}

// New connects one pipeline client whose acknowledgements feed tracker.
func New(pipeline beat.PipelineConnector, tracker *checkpoint.Tracker, metrics *Metrics) (*Publisher, error) {
	client, err := pipeline.ConnectWith(beat.ClientConfig{
		EventListener: acker.EventPrivateReporter(func(_ int, privates []any) {
			metrics.acked(len(privates))
			tracker.ACK(privates)
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to the publisher pipeline: %w", err)
	}
	return &Publisher{client: client, tracker: tracker, metrics: metrics}, nil
}

// Publish publishes docs for the message that moved the stream to pos. With
// no docs (a skipped or empty message) the position still advances once
// everything before it is acknowledged.
func (p *Publisher) Publish(pos checkpoint.Position, docs []mapping.Doc) {
	entry := p.tracker.Add(pos, len(docs))
	if len(docs) == 0 {
		return
	}
	evs := make([]beat.Event, len(docs))
	for i, d := range docs {
		evs[i] = Event(d, entry)
	}
	p.metrics.published(len(evs))
	p.client.PublishAll(evs)
}

// Close closes the pipeline client.
func (p *Publisher) Close() error { return p.client.Close() }

// Event converts a document into a beat.Event.
func Event(d mapping.Doc, private any) beat.Event {
	meta := mapstr.M{
		events.FieldMetaID:    d.ID,
		events.FieldMetaIndex: d.Index,
	}
	ev := beat.Event{Timestamp: d.Timestamp, Meta: meta, Private: private}
	switch d.Op {
	case mapping.Delete:
		meta[events.FieldMetaOpType] = events.OpTypeDelete
		// The body of a delete is never sent, but libbeat drops events
		// without fields before they reach the output.
		ev.Fields = mapstr.M(d.Fields)
		if len(ev.Fields) == 0 {
			ev.Fields = mapstr.M{"id": d.ID}
		}
	default:
		meta[events.FieldMetaOpType] = events.OpTypeIndex
		ev.Fields = mapstr.M(d.Fields)
	}
	return ev
}
