package publish

import (
	"fmt"
	"sync"

	"github.com/elastic/beats/v7/libbeat/beat"
	"github.com/elastic/beats/v7/libbeat/beat/events"
	"github.com/elastic/beats/v7/libbeat/common/acker"
	"github.com/elastic/elastic-agent-libs/mapstr"

	"github.com/openctibeat/openctibeat/checkpoint"
	"github.com/openctibeat/openctibeat/mapping"
)

// Publisher publishes the documents of each stream message.
//
// It never has two writes of the same document in flight: libbeat's
// Elasticsearch output retries failed bulk items after later items went
// through, which would let a retried create land after the delete that
// followed it. A write of a document whose previous write is not yet
// acknowledged waits for that acknowledgement. Writes of different
// documents commute, so they are not held back.
type Publisher struct {
	client  beat.Client
	tracker *checkpoint.Tracker
	metrics *Metrics

	mu       sync.Mutex
	cond     *sync.Cond
	inflight map[docKey]int
	closed   bool
}

// docKey identifies a document in the engine.
type docKey struct{ index, id string }

// docRef is the Private value of a published event.
type docRef struct {
	entry *checkpoint.Entry
	key   docKey
}

// Options tune the pipeline client.
type Options struct {
	// PlainFields turns libbeat's event normalisation off: the documents
	// hold only JSON types (maps, []any, strings, numbers, booleans), no
	// nil, and no document shares a map or slice with another, so the
	// deep copy and type conversion libbeat makes of every event are not
	// needed (a tenth of the beat's CPU, issue #6).
	PlainFields bool
}

// New connects one pipeline client whose acknowledgements feed tracker.
func New(pipeline beat.PipelineConnector, tracker *checkpoint.Tracker, metrics *Metrics, opts Options) (*Publisher, error) {
	p := &Publisher{tracker: tracker, metrics: metrics, inflight: map[docKey]int{}}
	p.cond = sync.NewCond(&p.mu)
	cfg := beat.ClientConfig{
		EventListener: acker.EventPrivateReporter(func(_ int, privates []any) { p.acked(privates) }),
	}
	if opts.PlainFields {
		normalize := false
		cfg.Processing.EventNormalization = &normalize
	}
	client, err := pipeline.ConnectWith(cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to the publisher pipeline: %w", err)
	}
	p.client = client
	return p, nil
}

func (p *Publisher) acked(privates []any) {
	p.metrics.acked(len(privates))
	entries := make([]any, 0, len(privates))
	p.mu.Lock()
	for _, priv := range privates {
		ref, ok := priv.(*docRef)
		if !ok {
			continue
		}
		entries = append(entries, ref.entry)
		if n := p.inflight[ref.key]; n <= 1 {
			delete(p.inflight, ref.key)
		} else {
			p.inflight[ref.key] = n - 1
		}
	}
	p.cond.Broadcast()
	p.mu.Unlock()
	p.tracker.ACK(entries)
}

// Publish publishes docs for the message that moved the stream to pos. With
// no docs (a skipped or empty message) the position still advances once
// everything before it is acknowledged. It returns without publishing once
// the publisher is closed.
func (p *Publisher) Publish(pos checkpoint.Position, docs []mapping.Doc) {
	keys := make([]docKey, len(docs))
	for i, d := range docs {
		keys[i] = docKey{d.Index, d.ID}
	}
	p.mu.Lock()
	for !p.closed && p.anyInflight(keys) {
		p.metrics.waited()
		p.cond.Wait()
	}
	if p.closed {
		p.mu.Unlock()
		return
	}
	for _, k := range keys {
		p.inflight[k]++
	}
	p.mu.Unlock()

	entry := p.tracker.Add(pos, len(docs))
	if len(docs) == 0 {
		return
	}
	evs := make([]beat.Event, len(docs))
	for i, d := range docs {
		evs[i] = Event(d, &docRef{entry: entry, key: keys[i]})
	}
	p.metrics.published(len(evs))
	p.client.PublishAll(evs)
}

func (p *Publisher) anyInflight(keys []docKey) bool {
	for _, k := range keys {
		if p.inflight[k] > 0 {
			return true
		}
	}
	return false
}

// Close stops publishing and closes the pipeline client (which waits up to
// the pipeline's close timeout for outstanding acknowledgements).
func (p *Publisher) Close() error {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	return p.client.Close()
}

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
