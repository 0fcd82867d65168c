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
type Publisher struct {
	client  beat.Client
	tracker *checkpoint.Tracker
	metrics *Metrics

	mu        sync.Mutex
	cond      *sync.Cond
	inflight  map[docKey]bool         // a write of the document is in the pipeline
	parked    map[docKey][]beat.Event // later writes of documents in flight, in order
	nParked   int
	ready     []beat.Event // parked writes released by an acknowledgement
	closed    bool
	released  chan struct{} // closed when the releasing goroutine ended
	maxParked int
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
}

// New connects one pipeline client whose acknowledgements feed tracker.
func New(pipeline beat.PipelineConnector, tracker *checkpoint.Tracker, metrics *Metrics, opts Options) (*Publisher, error) {
	p := &Publisher{tracker: tracker, metrics: metrics, inflight: map[docKey]bool{}, parked: map[docKey][]beat.Event{},
		released: make(chan struct{}), maxParked: maxParked}
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
	go p.release()
	return p, nil
}

// acked runs on libbeat's acknowledging goroutine: it must not block on
// the pipeline, so released writes are published by release.
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
		next := p.parked[ref.key]
		if len(next) == 0 {
			delete(p.inflight, ref.key)
			continue
		}
		p.ready = append(p.ready, next[0])
		if len(next) == 1 {
			delete(p.parked, ref.key)
		} else {
			p.parked[ref.key] = next[1:]
		}
		p.nParked--
	}
	p.cond.Broadcast()
	p.mu.Unlock()
	p.tracker.ACK(entries)
}

// release publishes the parked writes acknowledgements release, until
// Close.
func (p *Publisher) release() {
	defer close(p.released)
	for {
		p.mu.Lock()
		for len(p.ready) == 0 && !p.closed {
			p.cond.Wait()
		}
		if p.closed {
			p.mu.Unlock()
			return
		}
		evs := p.ready
		p.ready = nil
		p.mu.Unlock()
		p.metrics.published(len(evs))
		p.client.PublishAll(evs)
	}
}

// Publish publishes docs for the message that moved the stream to pos. With
// no docs (a skipped or empty message) the position still advances once
// everything before it is acknowledged. It returns without publishing once
// the publisher is closed.
func (p *Publisher) Publish(pos checkpoint.Position, docs []mapping.Doc) {
	p.mu.Lock()
	for !p.closed && p.nParked+len(docs) > p.maxParked && p.nParked > 0 {
		p.metrics.waited()
		p.cond.Wait()
	}
	if p.closed {
		p.mu.Unlock()
		return
	}
	entry := p.tracker.Add(pos, len(docs))
	var send []beat.Event
	for _, d := range docs {
		key := docKey{d.Index, d.ID}
		ev := Event(d, &docRef{entry: entry, key: key})
		if p.inflight[key] {
			p.parked[key] = append(p.parked[key], ev)
			p.nParked++
			p.metrics.parkedWrite()
			continue
		}
		p.inflight[key] = true
		send = append(send, ev)
	}
	p.mu.Unlock()
	if len(send) == 0 {
		return
	}
	p.metrics.published(len(send))
	p.client.PublishAll(send)
}

// Close stops publishing and closes the pipeline client (which waits up to
// the pipeline's close timeout for outstanding acknowledgements). Parked
// writes are not published: their messages are never acknowledged, so the
// position stays before them and they are read again after a restart.
func (p *Publisher) Close() error {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	err := p.client.Close() // releases a PublishAll blocked on a full queue
	<-p.released
	return err
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
