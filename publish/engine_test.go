package publish

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elastic/beats/v7/libbeat/esleg/eslegclient"
	"github.com/elastic/elastic-agent-libs/monitoring"

	"github.com/openctibeat/openctibeat/checkpoint"
	"github.com/openctibeat/openctibeat/mapping"
)

// deleteBulker answers delete requests: status(id, call) for each item.
type deleteBulker struct {
	mu     sync.Mutex
	calls  int
	ids    []string
	status func(id string, call int) int
}

func (d *deleteBulker) Bulk(_ context.Context, body []any) (int, []byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	var items []string
	for _, b := range body {
		a, ok := b.(eslegclient.BulkDeleteAction)
		if !ok {
			return 400, nil, fmt.Errorf("not a delete: %#v", b)
		}
		d.ids = append(d.ids, a.Delete.ID)
		st := d.status(a.Delete.ID, d.calls)
		item := fmt.Sprintf(`{"delete":{"status":%d}}`, st)
		if st >= 400 && st != 404 {
			item = fmt.Sprintf(`{"delete":{"status":%d,"error":{"type":"cluster_block_exception","reason":"blocked"}}}`, st)
		}
		items = append(items, item)
	}
	return 200, []byte(`{"errors":true,"items":[` + strings.Join(items, ",") + `]}`), nil
}

func (d *deleteBulker) sent() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.ids...)
}

// checkBulker answers write checks with the answers the test sends: true
// accepts, false refuses (a write block). It records how many actions each
// check had.
type checkBulker struct {
	answers chan bool
	mu      sync.Mutex
	sizes   []int
}

func (c *checkBulker) Bulk(ctx context.Context, body []any) (int, []byte, error) {
	c.mu.Lock()
	c.sizes = append(c.sizes, len(body))
	c.mu.Unlock()
	var ok bool
	select {
	case ok = <-c.answers:
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	}
	n := 0
	for _, b := range body {
		switch b.(type) {
		case eslegclient.BulkIndexAction, eslegclient.BulkDeleteAction:
			n++
		}
	}
	item := `{"index":{"status":201}}`
	if !ok {
		item = `{"index":{"status":403,"error":{"type":"cluster_block_exception","reason":"blocked"}}}`
	}
	items := make([]string, n)
	for i := range items {
		items[i] = item
	}
	return 200, []byte(`{"items":[` + strings.Join(items, ",") + `]}`), nil
}

func (c *checkBulker) checks() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sizes)
}

// bench is a Publisher with an Engine, a fake pipeline and a tracker.
type bench struct {
	t        *testing.T
	f        *fakePipeline
	p        *Publisher
	reg      *monitoring.Registry
	refused  atomic.Uint64 // libbeat's dead_letter count
	rewinds  atomic.Int32
	deletes  *deleteBulker
	checkB   *checkBulker
	mu       sync.Mutex
	saved    []string
	trackerP *checkpoint.Tracker
}

func newBench(t *testing.T, deleteStatus func(id string, call int) int) *bench {
	b := &bench{t: t, f: &fakePipeline{}, reg: monitoring.NewRegistry(),
		deletes: &deleteBulker{status: deleteStatus}, checkB: &checkBulker{answers: make(chan bool, 16)}}
	b.trackerP = checkpoint.NewTracker(checkpoint.Position{}, func(p checkpoint.Position) {
		b.mu.Lock()
		b.saved = append(b.saved, p.StartFrom)
		b.mu.Unlock()
	})
	e := &Engine{
		Deletes: b.deletes, Checks: b.checkB, Index: "i", DeadLetterIndex: "dl",
		Refused:     func() Refusals { return Refusals{DeadLetter: b.refused.Load()} },
		Rewind:      func(context.Context) error { b.rewinds.Add(1); return nil },
		BackoffInit: time.Millisecond, BackoffMax: 5 * time.Millisecond,
	}
	p, err := New(b.f, b.trackerP, NewMetrics(b.reg), Options{Engine: e})
	if err != nil {
		t.Fatal(err)
	}
	b.p = p
	t.Cleanup(func() { _ = p.Close() })
	return b
}

func (b *bench) last() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.saved) == 0 {
		return ""
	}
	return b.saved[len(b.saved)-1]
}

func (b *bench) metric(name string) uint64 {
	v, _ := b.reg.Get(name).(*monitoring.Uint)
	if v == nil {
		b.t.Fatalf("no metric %s", name)
	}
	return v.Get()
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// stays fails if cond stops holding within a short while.
func stays(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 30; i++ {
		if !cond() {
			t.Fatalf("%s no longer holds", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func pos(id string) checkpoint.Position { return checkpoint.Position{StartFrom: id} }

func write(id string) mapping.Doc {
	return mapping.Doc{Op: mapping.Index, Index: "i", ID: id, Fields: map[string]any{"a": 1}}
}

func del(id string) mapping.Doc {
	return mapping.Doc{Op: mapping.Delete, Index: "i", ID: id, Event: "ev-" + id}
}

// TestDeletesGoToTheEngine: deletes skip libbeat's output; a delete of a
// missing document (404) is done and counted as missing, not refused.
func TestDeletesGoToTheEngine(t *testing.T) {
	b := newBench(t, func(id string, _ int) int {
		if id == "gone" {
			return 404
		}
		return 200
	})
	b.p.Publish(pos("1-0"), []mapping.Doc{write("a"), del("b"), del("gone")})
	if evs := b.f.published(); len(evs) != 1 || evs[0].Meta["_id"] != "a" {
		t.Fatalf("the pipeline got %v, want only the write of a", evs)
	}
	eventually(t, "the deletes", func() bool { return len(b.deletes.sent()) == 2 })
	stays(t, "the position waiting for the write", func() bool { return b.last() == "" })
	b.f.ack(1)
	eventually(t, "the position", func() bool { return b.last() == "1-0" })
	for name, want := range map[string]uint64{"deletes.deleted_total": 1, "deletes.missing_total": 1, "deletes.refused_total": 0, "refused_total": 0, "acked_total": 3, "published_total": 3} {
		if got := b.metric(name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
}

// TestRefusedDeleteHoldsThePosition: a delete the engine refuses is retried
// until accepted; meanwhile the position does not pass it and a later write
// of the same document waits.
func TestRefusedDeleteHoldsThePosition(t *testing.T) {
	var accept atomic.Bool
	b := newBench(t, func(string, int) int {
		if accept.Load() {
			return 200
		}
		return 403
	})
	b.p.Publish(pos("1-0"), []mapping.Doc{del("x")})
	b.p.Publish(pos("2-0"), []mapping.Doc{write("y")})
	b.f.ack(1)
	eventually(t, "retries of the refused delete", func() bool { return b.metric("deletes.refused_total") >= 3 })
	b.p.Publish(pos("3-0"), []mapping.Doc{write("x")}) // parked behind the delete
	wroteX := func() bool {
		for _, e := range b.f.published() {
			if e.Meta["_id"] == "x" {
				return true
			}
		}
		return false
	}
	stays(t, "the position before the refused delete", func() bool { return b.last() == "" })
	if wroteX() {
		t.Fatal("a write of x went out while its delete was refused")
	}
	accept.Store(true)
	eventually(t, "the write of x after its delete", wroteX)
	b.f.ack(1)
	eventually(t, "the position", func() bool { return b.last() == "3-0" })
}

// TestRefusedDocumentsPassAfterACheck: when libbeat's refusal count rises,
// the acknowledged events are held until a write check: accepted, they
// pass (counted in refused_total). A rise during the check holds what came
// after it for another check.
func TestRefusedDocumentsPassAfterACheck(t *testing.T) {
	b := newBench(t, func(string, int) int { return 200 })
	b.p.Publish(pos("1-0"), []mapping.Doc{write("a")})
	b.p.Publish(pos("2-0"), []mapping.Doc{write("b")})
	b.f.ack(1)
	eventually(t, "the first position", func() bool { return b.last() == "1-0" })
	b.refused.Add(1) // b was refused (it went to the dead letter index)
	b.f.ack(1)
	eventually(t, "a write check", func() bool { return b.checkB.checks() == 1 })
	stays(t, "the position held during the check", func() bool { return b.last() == "1-0" })
	// During the check, another refusal.
	b.p.Publish(pos("3-0"), []mapping.Doc{write("c")})
	b.refused.Add(1)
	b.f.ack(1)
	b.checkB.answers <- true
	eventually(t, "the position past b", func() bool { return b.last() == "2-0" })
	eventually(t, "a second check", func() bool { return b.checkB.checks() == 2 })
	stays(t, "c held for the second check", func() bool { return b.last() == "2-0" })
	b.checkB.answers <- true
	eventually(t, "the position past c", func() bool { return b.last() == "3-0" })
	if got := b.metric("refused_total"); got != 2 {
		t.Errorf("refused_total = %d, want 2", got)
	}
	if b.metric("blocked_total") != 0 || b.rewinds.Load() != 0 {
		t.Error("a refused document is not a blocked index")
	}
	// Afterwards acknowledgements pass at once again.
	b.p.Publish(pos("4-0"), []mapping.Doc{write("d")})
	b.f.ack(1)
	eventually(t, "the position", func() bool { return b.last() == "4-0" })
}

// TestBlockedIndexPausesAndRewinds: when the write check is refused,
// publishing pauses and the position is held; once the engine accepts
// writes, the stream is rewound and publishing resumes.
func TestBlockedIndexPausesAndRewinds(t *testing.T) {
	b := newBench(t, func(string, int) int { return 200 })
	b.p.Publish(pos("1-0"), []mapping.Doc{write("a")})
	b.refused.Add(1)
	b.f.ack(1)
	b.checkB.answers <- false // a write block
	eventually(t, "blocked", func() bool { return b.metric("blocked_total") == 1 })
	published := make(chan struct{})
	go func() { b.p.Publish(pos("2-0"), []mapping.Doc{write("b")}); close(published) }()
	b.checkB.answers <- false // still blocked
	eventually(t, "a second check", func() bool { return b.checkB.checks() >= 2 })
	select {
	case <-published:
		t.Fatal("published while the engine refuses writes")
	default:
	}
	if b.last() != "" || b.rewinds.Load() != 0 {
		t.Fatalf("saved %q, rewinds %d while blocked", b.last(), b.rewinds.Load())
	}
	b.checkB.answers <- true
	<-published
	eventually(t, "the rewind", func() bool { return b.rewinds.Load() == 1 })
	if got := b.metric("rewinds_total"); got != 1 {
		t.Errorf("rewinds_total = %d", got)
	}
	if got := b.metric("refused_total"); got != 0 {
		t.Errorf("refused_total = %d: events refused by a block are written again, not lost", got)
	}
	if got := b.metric("blocked_total"); got != 1 {
		t.Errorf("blocked_total = %d, want 1", got)
	}
}

// TestWaitWritable: at start, a refusing engine holds the beat back; the
// check only deletes, so it creates no index before the output installed
// the templates.
func TestWaitWritable(t *testing.T) {
	b := newBench(t, func(string, int) int { return 200 })
	b.checkB.answers <- false
	b.checkB.answers <- false
	b.checkB.answers <- true
	if err := b.p.WaitWritable(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.checkB.mu.Lock()
	defer b.checkB.mu.Unlock()
	if fmt.Sprint(b.checkB.sizes) != "[1 1 1]" {
		t.Errorf("checks of %v actions, want 3 checks of one delete", b.checkB.sizes)
	}
	if got := b.metric("blocked_total"); got != 1 {
		t.Errorf("blocked_total = %d, want 1", got)
	}
}
