package publish

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/elastic/beats/v7/libbeat/beat"
	"github.com/elastic/beats/v7/libbeat/beat/events"
	"github.com/elastic/beats/v7/libbeat/common/acker"
	"github.com/elastic/elastic-agent-libs/logp"
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
//
// With an Engine (output.elasticsearch), deletes go to the engine directly
// (see deleter) and the output's refusals are checked (see guard).
type Publisher struct {
	client  beat.Client
	tracker *checkpoint.Tracker
	metrics *Metrics
	log     *logp.Logger
	engine  *Engine
	deletes *deleter // nil without an Engine
	stop    context.CancelFunc
	done    sync.WaitGroup

	mu       sync.Mutex
	cond     *sync.Cond
	inflight map[docKey]int
	closed   bool
	hold     hold
	checks   chan struct{} // a refusal was seen: check the engine
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
	// Engine, when set, is the Elasticsearch the output writes to.
	Engine *Engine
	// Log is the publisher's logger (nil: none).
	Log *logp.Logger
}

// New connects one pipeline client whose acknowledgements feed tracker.
// With opts.Engine it also starts the deleter and the guard, which run
// until Close.
func New(pipeline beat.PipelineConnector, tracker *checkpoint.Tracker, metrics *Metrics, opts Options) (*Publisher, error) {
	log := opts.Log
	if log == nil {
		log = logp.NewNopLogger()
	}
	p := &Publisher{tracker: tracker, metrics: metrics, log: log, inflight: map[docKey]int{}, checks: make(chan struct{}, 1)}
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
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	if opts.Engine != nil {
		e := opts.Engine.withDefaults()
		p.engine = &e
		p.hold.seen = e.Refused()
		p.deletes = newDeleter(ctx, e, p.deleted, metrics, log.Named("delete"))
		p.done.Add(2)
		go func() { defer p.done.Done(); p.deletes.run() }()
		go func() { defer p.done.Done(); p.guard(ctx) }()
	}
	return p, nil
}

// acked receives the pipeline's acknowledgements, in publishing order.
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
		p.doneLocked(ref.key)
	}
	held := p.holdLocked(entries)
	p.cond.Broadcast()
	p.mu.Unlock()
	if !held {
		p.tracker.ACK(entries)
	}
}

// deleted receives the deleter's acknowledgement of one delete.
func (p *Publisher) deleted(ref *docRef) {
	p.metrics.acked(1)
	p.mu.Lock()
	p.doneLocked(ref.key)
	p.cond.Broadcast()
	p.mu.Unlock()
	p.tracker.ACK([]any{ref.entry})
}

func (p *Publisher) doneLocked(k docKey) {
	if n := p.inflight[k]; n <= 1 {
		delete(p.inflight, k)
	} else {
		p.inflight[k] = n - 1
	}
}

// Publish publishes docs for the message that moved the stream to pos. With
// no docs (a skipped or empty message) the position still advances once
// everything before it is acknowledged. It waits while the engine refuses
// writes (see guard), and returns without publishing once the publisher
// is closed.
func (p *Publisher) Publish(pos checkpoint.Position, docs []mapping.Doc) {
	keys := make([]docKey, len(docs))
	for i, d := range docs {
		keys[i] = docKey{d.Index, d.ID}
	}
	p.mu.Lock()
	for !p.closed && (p.hold.paused || p.anyInflight(keys)) {
		if !p.hold.paused {
			p.metrics.waited()
		}
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
	p.metrics.published(len(docs))
	evs := make([]beat.Event, 0, len(docs))
	for i, d := range docs {
		ref := &docRef{entry: entry, key: keys[i]}
		if d.Op == mapping.Delete && p.deletes != nil {
			p.deletes.add(ref, d.Event)
			continue
		}
		evs = append(evs, Event(d, ref))
	}
	if len(evs) > 0 {
		p.client.PublishAll(evs)
	}
}

func (p *Publisher) anyInflight(keys []docKey) bool {
	for _, k := range keys {
		if p.inflight[k] > 0 {
			return true
		}
	}
	return false
}

// Close stops publishing, the deleter and the guard, and closes the
// pipeline client (which waits up to the pipeline's close timeout for
// outstanding acknowledgements). Deletes not yet done are not
// acknowledged: they are read again after a restart.
func (p *Publisher) Close() error {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	p.stop()
	p.done.Wait()
	return p.client.Close()
}

// Event converts a document into a beat.Event. Its @metadata names the
// document (_id, index, op_type) and the stream event it comes from
// (openctibeat.event_id): libbeat's "Cannot index event" log line prints
// them with the engine's reason.
func Event(d mapping.Doc, private any) beat.Event {
	meta := mapstr.M{
		events.FieldMetaID:    d.ID,
		events.FieldMetaIndex: d.Index,
	}
	if d.Event != "" {
		meta["openctibeat"] = mapstr.M{"event_id": d.Event}
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

// durationOr returns d, or def when d is not positive.
func durationOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
