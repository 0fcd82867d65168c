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
// through, and its workers send bulk requests in parallel, either of
// which would let an older write of a document land after a newer one
// (a retried create after its delete). A write of a document whose
// previous write is not yet acknowledged is parked, in stream order, and
// published once that acknowledgement comes; writes of other documents
// commute, so they go on meanwhile. (Holding everything back behind the
// parked write instead made each such write cost a whole round trip of
// the output, flush timeout included: OpenCTI sends an object again as a
// dependency of its own event and of its relationships, so this is
// common, and a stream with dependency groups crawled.) At most
// maxParked writes wait; beyond that Publish waits.
//
// The position is unaffected by the order of publishing: every message's
// entry is added to the tracker in stream order when it is handed over,
// and the tracker moves the position only over a prefix of messages whose
// documents were all acknowledged.
//
// With an Engine (output.elasticsearch), deletes go to the engine directly
// (see deleter) and the output's refusals are checked (see refusals.go).
type Publisher struct {
	client  beat.Client
	tracker *checkpoint.Tracker
	metrics *Metrics
	log     *logp.Logger
	engine  *Engine
	deletes *deleter // nil without an Engine
	stop    context.CancelFunc
	done    sync.WaitGroup

	mu        sync.Mutex
	cond      *sync.Cond
	inflight  map[docKey]bool      // a write of the document is in the pipeline (or the deleter)
	parked    map[docKey][]pending // later writes of documents in flight, in order
	nParked   int
	ready     []pending // parked writes released by an acknowledgement
	closed    bool
	released  chan struct{} // closed when the releasing goroutine ended
	maxParked int
	hold      hold
	checks    chan struct{} // a refusal was seen: check the engine
}

// pending is a write not yet handed over: an event for libbeat, or a
// delete for the deleter.
type pending struct {
	ev    beat.Event
	ref   *docRef
	del   bool
	event string // the stream event id (deletes, for logs)
}

// maxParked bounds the writes waiting for an earlier write of their
// document (a few MB of documents at most).
const maxParked = 4096

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
// With opts.Engine it also starts the deleter and the refusal checks,
// which run until Close.
func New(pipeline beat.PipelineConnector, tracker *checkpoint.Tracker, metrics *Metrics, opts Options) (*Publisher, error) {
	log := opts.Log
	if log == nil {
		log = logp.NewNopLogger()
	}
	p := &Publisher{tracker: tracker, metrics: metrics, log: log, inflight: map[docKey]bool{}, parked: map[docKey][]pending{},
		released: make(chan struct{}), maxParked: maxParked, checks: make(chan struct{}, 1)}
	p.cond = sync.NewCond(&p.mu)
	cfg := beat.ClientConfig{
		EventListener: acker.EventPrivateReporter(func(_ int, privates []any) { p.acked(privates) }),
		// Retry events the output failed to send (429, 5xx, no answer)
		// without end: with the default, libbeat drops them after
		// output.elasticsearch.max_retries and reports them acknowledged,
		// so an overloaded engine would move the position past events it
		// never wrote.
		PublishMode: beat.GuaranteedSend,
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
	go p.releaseParked()
	return p, nil
}

// acked runs on libbeat's acknowledging goroutine, with the pipeline's
// acknowledgements in publishing order: it must not block on the
// pipeline, so released writes are handed over by releaseParked.
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

// doneLocked ends the write in flight of k and releases the next parked
// one, if any.
func (p *Publisher) doneLocked(k docKey) {
	next := p.parked[k]
	if len(next) == 0 {
		delete(p.inflight, k)
		return
	}
	p.ready = append(p.ready, next[0])
	if len(next) == 1 {
		delete(p.parked, k)
	} else {
		p.parked[k] = next[1:]
	}
	p.nParked--
}

// releaseParked hands over the parked writes acknowledgements release,
// until Close; it waits while publishing is paused (see refusals.go).
func (p *Publisher) releaseParked() {
	defer close(p.released)
	for {
		p.mu.Lock()
		for (len(p.ready) == 0 || p.hold.paused) && !p.closed {
			p.cond.Wait()
		}
		if p.closed {
			p.mu.Unlock()
			return
		}
		ws := p.ready
		p.ready = nil
		p.mu.Unlock()
		p.handOver(ws)
	}
}

// handOver gives writes to the deleter or the pipeline.
func (p *Publisher) handOver(ws []pending) {
	evs := make([]beat.Event, 0, len(ws))
	for _, w := range ws {
		if w.del {
			p.metrics.published(1)
			p.deletes.add(w.ref, w.event)
			continue
		}
		evs = append(evs, w.ev)
	}
	if len(evs) > 0 {
		p.metrics.published(len(evs))
		p.client.PublishAll(evs)
	}
}

// Publish publishes docs for the message that moved the stream to pos. With
// no docs (a skipped or empty message) the position still advances once
// everything before it is acknowledged. It waits while the engine refuses
// writes (see refusals.go) or too many writes are parked, and returns
// without publishing once the publisher is closed.
func (p *Publisher) Publish(pos checkpoint.Position, docs []mapping.Doc) {
	p.mu.Lock()
	for !p.closed && (p.hold.paused || (p.nParked+len(docs) > p.maxParked && p.nParked > 0)) {
		if !p.hold.paused {
			p.metrics.waited()
		}
		p.cond.Wait()
	}
	if p.closed {
		p.mu.Unlock()
		return
	}
	entry := p.tracker.Add(pos, len(docs))
	var send []pending
	for _, d := range docs {
		key := docKey{d.Index, d.ID}
		ref := &docRef{entry: entry, key: key}
		w := pending{ref: ref, del: d.Op == mapping.Delete && p.deletes != nil, event: d.Event}
		if !w.del {
			w.ev = Event(d, ref)
		}
		if p.inflight[key] {
			p.parked[key] = append(p.parked[key], w)
			p.nParked++
			p.metrics.parkedWrite()
			continue
		}
		p.inflight[key] = true
		send = append(send, w)
	}
	p.mu.Unlock()
	if len(send) > 0 {
		p.handOver(send)
	}
}

// Close stops publishing, the deleter and the refusal checks, and closes
// the pipeline client (which waits up to the pipeline's close timeout for
// outstanding acknowledgements). Parked writes and deletes not yet done
// are not handed over: their messages are never acknowledged, so the
// position stays before them and they are read again after a restart.
func (p *Publisher) Close() error {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	p.stop()
	p.done.Wait()
	err := p.client.Close() // releases a PublishAll blocked on a full queue
	<-p.released
	return err
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
