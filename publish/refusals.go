package publish

import (
	"context"
	"time"

	"github.com/openctibeat/openctibeat/internal/ctxsleep"
	"github.com/openctibeat/openctibeat/refusal"
)

// Engine is the Elasticsearch behind output.elasticsearch, for what
// libbeat's output does not tell the beat: it acknowledges an event it
// refused for good (dropped, or stored in its dead letter index) like a
// written one, and a delete of a missing document (a harmless 404) is such
// a refusal to it.
type Engine struct {
	// Deletes sends the deleter's bulk requests, Checks the write checks
	// (two connections: an eslegclient connection serves one request at a
	// time).
	Deletes refusal.Bulker
	Checks  refusal.Bulker
	// Index is the index the beat writes.
	Index string
	// DeadLetterIndex is output.elasticsearch's dead letter index; "" when
	// the output drops refused events.
	DeadLetterIndex string
	// Refused returns libbeat's counts of the events its output refused
	// for good (output.events.dead_letter and output.events.dropped).
	Refused func() Refusals
	// Rewind makes the stream read again from the saved position; it
	// returns once the tracker restarted there (or ctx ended).
	Rewind func(ctx context.Context) error
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// BackoffInit and BackoffMax bound the wait between two write checks
	// while the engine refuses writes, and between two attempts of a
	// delete (defaults 1s and 60s).
	BackoffInit, BackoffMax time.Duration
	// MaxDeletes is the most deletes in one bulk request (default 500).
	MaxDeletes int
}

func (e Engine) withDefaults() Engine {
	if e.Now == nil {
		e.Now = time.Now
	}
	e.BackoffInit = durationOr(e.BackoffInit, time.Second)
	e.BackoffMax = durationOr(e.BackoffMax, time.Minute)
	if e.BackoffMax < e.BackoffInit {
		e.BackoffMax = e.BackoffInit
	}
	if e.MaxDeletes <= 0 {
		e.MaxDeletes = 500
	}
	if e.Refused == nil {
		e.Refused = func() Refusals { return Refusals{} }
	}
	if e.Rewind == nil {
		e.Rewind = func(context.Context) error { return nil }
	}
	return e
}

// hold is the guard's state, under Publisher.mu.
//
// When libbeat's refusal count rises between two acknowledgements, the
// events just acknowledged may include refused ones. From then on
// acknowledgements are held (not given to the tracker, so the saved
// position stops before them) until a write check tells what happened:
//
//   - the engine accepts the check: the refusals were about the documents
//     themselves (a mapping conflict, the total fields limit, a document
//     too large). They are counted in refused_total and logged; the held
//     acknowledgements go to the tracker and the position moves past them.
//     The documents are in the dead letter index, if there is one.
//   - the engine refuses the check (a write block, a closed index, a
//     missing privilege): publishing pauses, the check is repeated with
//     back-off and logged as an error with its fix, and once the engine
//     accepts writes again the stream is read again from the saved
//     position (Engine.Rewind), so every refused event is written.
//   - the engine does not answer: the check is repeated; nothing moves.
type hold struct {
	holding bool
	groups  []heldGroup // held acknowledgements, oldest first
	seen    Refusals    // Engine.Refused at the last acknowledgement
	rose    bool        // the counts rose since the current check began
	paused  bool        // Publish waits
}

// Refusals counts the events libbeat's output refused for good.
type Refusals struct {
	// DeadLetter were written to the dead letter index.
	DeadLetter uint64
	// Dropped were dropped (no dead letter index, or it refused them too,
	// or libbeat could not encode or send them).
	Dropped uint64
}

// since is r minus an earlier count; a counter lower than before (the
// output was reloaded, its counters reset) counts from zero.
func (r Refusals) since(before Refusals) Refusals {
	d := r
	if r.DeadLetter >= before.DeadLetter {
		d.DeadLetter -= before.DeadLetter
	}
	if r.Dropped >= before.Dropped {
		d.Dropped -= before.Dropped
	}
	return d
}

func (r Refusals) add(o Refusals) Refusals {
	return Refusals{DeadLetter: r.DeadLetter + o.DeadLetter, Dropped: r.Dropped + o.Dropped}
}

func (r Refusals) total() uint64 { return r.DeadLetter + r.Dropped }

// heldGroup is the entries of one acknowledgement, and by how much the
// refusal counts rose when it came.
type heldGroup struct {
	entries []any
	rose    Refusals
}

// holdLocked records an acknowledgement of entries; it returns true when
// they are held instead of going to the tracker.
func (p *Publisher) holdLocked(entries []any) bool {
	if p.engine == nil {
		return false
	}
	h := &p.hold
	n := p.engine.Refused()
	rose := n.since(h.seen)
	h.seen = n
	if rose.total() > 0 {
		h.rose = true
		if !h.holding {
			h.holding = true
			select {
			case p.checks <- struct{}{}:
			default:
			}
		}
	}
	if !h.holding {
		return false
	}
	h.groups = append(h.groups, heldGroup{entries: entries, rose: rose})
	return true
}

// beginCheck starts a check of what is held so far; it returns how many
// groups that is.
func (p *Publisher) beginCheck() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold.rose = false
	return len(p.hold.groups)
}

// release gives the first n held groups to the tracker; it ends the hold
// (and gives everything held to the tracker) unless the refusal count rose
// since the check began, in which case again is true. refused is the sum
// of the rises of what was released.
func (p *Publisher) release(n int) (refused Refusals, again bool) {
	p.mu.Lock()
	h := &p.hold
	out := h.groups[:n]
	if h.rose {
		h.groups = append([]heldGroup(nil), h.groups[n:]...)
		again = true
	} else {
		out = h.groups
		h.groups, h.holding = nil, false
	}
	p.mu.Unlock()
	var entries []any
	for _, g := range out {
		refused = refused.add(g.rose)
		entries = append(entries, g.entries...)
	}
	if len(entries) > 0 {
		p.tracker.ACK(entries)
	}
	return refused, again
}

func (p *Publisher) setPaused(paused bool) {
	p.mu.Lock()
	p.hold.paused = paused
	p.cond.Broadcast()
	p.mu.Unlock()
}

// WaitWritable returns once the engine accepts the beat's writes on its
// index (at once without an Engine, or when the engine does not answer:
// the output retries on its own). While the engine refuses them, it logs
// why and how to fix it, and checks again with back-off. It returns ctx's
// error when ctx ends first.
func (p *Publisher) WaitWritable(ctx context.Context) error {
	if p.engine == nil {
		return nil
	}
	// Before the output connected (and installed the index templates),
	// only a delete: it creates nothing.
	return p.waitAccepted(ctx, "at start", false, func() refusal.Result {
		return refusal.CheckDelete(ctx, p.engine.Checks, p.engine.Index)
	})
}

// checkWrites is the full write check on the beat's index.
func (p *Publisher) checkWrites(ctx context.Context) refusal.Result {
	return refusal.Check(ctx, p.engine.Checks, p.engine.Index, p.engine.Now())
}

// waitAccepted checks until the engine accepts writes on the index.
// blocked says that it already refused them (the refusal was logged and
// counted); until it has, a check without an answer counts as accepted:
// the output retries on its own.
func (p *Publisher) waitAccepted(ctx context.Context, when string, blocked bool, check func() refusal.Result) error {
	wait := p.engine.BackoffInit
	for {
		r := check()
		switch r.Outcome {
		case refusal.Done:
			if blocked {
				p.log.Infow("the search engine accepts the beat's writes again", "index", p.engine.Index)
			}
			return nil
		case refusal.Refused:
			if !blocked {
				p.metrics.blockedOnce()
				blocked = true
			}
			p.log.Errorw("the search engine refuses the beat's writes: nothing is published and the saved position stays where it is until it accepts them; checking again",
				"when", when, "index", p.engine.Index, "refusal", r.Item.String(), "fix", refusal.Fix(r.Item.Type, p.engine.Index), "next_check_in", wait.String())
		case refusal.Retry:
			if !blocked {
				p.log.Debugw("write check got no answer", "index", p.engine.Index, "error", r.Err)
				return nil
			}
			p.log.Warnw("write check got no answer; checking again", "index", p.engine.Index, "error", r.Err)
		}
		if err := ctxsleep.Sleep(ctx, wait); err != nil {
			return err
		}
		wait = min(2*wait, p.engine.BackoffMax)
	}
}

// guard checks the engine each time libbeat's refusal count rises (see
// hold), until ctx ends.
func (p *Publisher) guard(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.checks:
		}
		if err := p.check(ctx); err != nil {
			return
		}
	}
}

// check resolves one hold.
func (p *Publisher) check(ctx context.Context) error {
	wait := p.engine.BackoffInit
	for {
		n := p.beginCheck()
		r := p.checkWrites(ctx)
		switch r.Outcome {
		case refusal.Done:
			wait = p.engine.BackoffInit
			refused, again := p.release(n)
			if refused.total() > 0 {
				p.metrics.refusedDocs(refused.total())
				p.logRefused(refused)
			}
			if !again {
				return nil
			}
			continue
		case refusal.Refused:
			return p.blocked(ctx, r)
		case refusal.Retry:
			p.log.Warnw("the output refused events and the write check got no answer; holding the position and checking again", "index", p.engine.Index, "error", r.Err)
		}
		if err := ctxsleep.Sleep(ctx, wait); err != nil {
			return err
		}
		wait = min(2*wait, p.engine.BackoffMax)
	}
}

func (p *Publisher) logRefused(r Refusals) {
	p.log.Errorw("the search engine refused documents for good while it accepts others (a mapping conflict, the total fields limit, a document too large, ...), and the position moved past them: those in the dead letter index are there with the engine's reason, the dropped ones only in libbeat's event log ('Cannot index event'); fix the cause and re-send them (README, Refused writes)",
		"refused", r.total(), "dead_lettered", r.DeadLetter, "dropped", r.Dropped, "index", p.engine.Index, "dead_letter_index", p.engine.DeadLetterIndex)
}

// blocked handles a refused write check: publishing pauses until the
// engine accepts writes, then the stream is read again from the saved
// position and the hold ends.
func (p *Publisher) blocked(ctx context.Context, r refusal.Result) error {
	p.setPaused(true)
	p.log.Errorw("the search engine refused events and refuses the beat's writes: publishing is paused and the position held; once it accepts writes, the stream is read again from the saved position so that the refused events are written",
		"index", p.engine.Index, "refusal", r.Item.String(), "fix", refusal.Fix(r.Item.Type, p.engine.Index))
	p.metrics.blockedOnce()
	// The first check just failed: wait before the next.
	if err := ctxsleep.Sleep(ctx, p.engine.BackoffInit); err != nil {
		return err
	}
	err := p.waitAccepted(ctx, "after refusals", true, func() refusal.Result { return p.checkWrites(ctx) })
	p.setPaused(false)
	if err != nil {
		return err
	}
	n := p.beginCheck()
	if err := p.engine.Rewind(ctx); err != nil {
		return err
	}
	p.metrics.rewound()
	// What was held is dead to the tracker now (its acknowledgements are
	// ignored); acknowledgements that came after the rewind are live.
	// Refusals seen since the check began are checked as any other.
	_, again := p.release(n)
	if again {
		select {
		case p.checks <- struct{}{}:
		default:
		}
	}
	return nil
}
