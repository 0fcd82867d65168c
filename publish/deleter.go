package publish

import (
	"context"
	"fmt"

	"github.com/elastic/beats/v7/libbeat/esleg/eslegclient"
	"github.com/elastic/elastic-agent-libs/logp"

	"github.com/openctibeat/openctibeat/internal/ctxsleep"
	"github.com/openctibeat/openctibeat/refusal"
)

// deleter sends deletes to the engine itself, in bulk requests, instead of
// through libbeat's output. libbeat counts a delete of a missing document
// (404) as an event it could not index: it logs it ("Cannot index event
// ..., dropping event!"), counts it in output.events.dropped with the
// events it really lost, and, with a dead letter index, sends it there
// again as a delete, which fails too and is logged as an error. Deletes of
// missing documents are common and harmless (replays after a restart, and
// updates of indicators the filter refuses, are deleted again).
//
// Here a 404 is done (the document is absent, as asked) and counted in
// deletes.missing_total; 429, 5xx and unanswered requests are retried; a
// refused delete (a block, a closed index, a missing privilege) is logged
// as an error with its fix and retried with back-off, without end: it is
// never acknowledged, so the position never passes it, and a later write
// of the same document waits for it.
type deleter struct {
	e       Engine
	in      chan pendingDelete
	done    func(*docRef)
	metrics *Metrics
	log     *logp.Logger
	ctx     context.Context
}

type pendingDelete struct {
	ref   *docRef
	event string // the stream event id, for logs
}

// newDeleter returns a deleter that stops when ctx ends.
func newDeleter(ctx context.Context, e Engine, done func(*docRef), metrics *Metrics, log *logp.Logger) *deleter {
	return &deleter{ctx: ctx, e: e, in: make(chan pendingDelete, 2*e.MaxDeletes), done: done, metrics: metrics, log: log}
}

// add queues a delete; it waits while the queue is full, and returns
// without queueing once the deleter stopped.
func (d *deleter) add(ref *docRef, event string) {
	select {
	case d.in <- pendingDelete{ref, event}:
	case <-d.ctx.Done():
	}
}

// run sends the queued deletes until its context ends: one request at a
// time, with whatever queued meanwhile, up to MaxDeletes.
func (d *deleter) run() {
	ctx := d.ctx
	var pending []pendingDelete
	wait := d.e.BackoffInit
	for {
		if len(pending) == 0 {
			select {
			case <-ctx.Done():
				return
			case it := <-d.in:
				pending = append(pending, it)
			}
		}
	more:
		for len(pending) < d.e.MaxDeletes {
			select {
			case it := <-d.in:
				pending = append(pending, it)
			default:
				break more
			}
		}
		n := min(len(pending), d.e.MaxDeletes)
		retry := d.send(ctx, pending[:n])
		pending = append(retry, pending[n:]...)
		if len(retry) == 0 {
			wait = d.e.BackoffInit
			continue
		}
		if ctxsleep.Sleep(ctx, wait) != nil {
			return
		}
		wait = min(2*wait, d.e.BackoffMax)
	}
}

// send deletes batch and returns the deletes to try again.
func (d *deleter) send(ctx context.Context, batch []pendingDelete) []pendingDelete {
	body := make([]any, len(batch))
	for i, it := range batch {
		body[i] = eslegclient.BulkDeleteAction{Delete: eslegclient.BulkMeta{Index: it.ref.key.index, ID: it.ref.key.id}}
	}
	status, resp, err := d.e.Deletes.Bulk(ctx, body)
	var items []refusal.Item
	if err == nil {
		items, err = refusal.ParseBulk(resp)
		if err == nil && len(items) != len(batch) {
			err = fmt.Errorf("%d items for %d deletes", len(items), len(batch))
		}
	}
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warnw("delete request failed; retrying", "deletes", len(batch), "status", status, "error", err)
		}
		return batch
	}
	var retry []pendingDelete
	var refused *refusal.Item
	for i, it := range items {
		switch it.Outcome() {
		case refusal.Done:
			if it.Missing() {
				d.metrics.deleteMissing()
			} else {
				d.metrics.deleteDone()
			}
			d.done(batch[i].ref)
		case refusal.Refused:
			d.metrics.deleteRefused()
			if refused == nil {
				refused = &items[i]
				d.log.Errorw("the search engine refuses deletes: they are retried until it accepts them, and the saved position waits for them",
					"index", batch[i].ref.key.index, "_id", batch[i].ref.key.id, "event_id", batch[i].event,
					"refusal", it.String(), "fix", refusal.Fix(it.Type, batch[i].ref.key.index))
			}
			retry = append(retry, batch[i])
		default:
			retry = append(retry, batch[i])
		}
	}
	return retry
}
