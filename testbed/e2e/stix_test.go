//go:build integration

package e2e

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/openctibeat/openctibeat/checkpoint"
	"github.com/openctibeat/openctibeat/testbed/engine"
	"github.com/openctibeat/openctibeat/testbed/esproxy"
	"github.com/openctibeat/openctibeat/testbed/octiserver"
)

const token = "e2e-token-d41d8cd98f00b204"

type bed struct {
	t      *testing.T
	octi   *octiserver.Server
	esURL  string // the raw engine, for assertions
	gate   *gate
	beatES string // what the beat talks to: gate -> proxy -> engine
	index  string
}

func newBed(t *testing.T, events []octiserver.Event) *bed {
	t.Helper()
	return newBedWith(t, octiserver.Options{Events: events})
}

// newBedWith serves opts (the token, stream id and timers are the test's).
// The heartbeat fires every second; the reader hands over an empty batch
// after a second without news (OpenCTI: 5 s), so that the last group of a
// stream is known complete (and saved) soon.
func newBedWith(t *testing.T, opts octiserver.Options) *bed {
	t.Helper()
	esURL := engine.URL(t)
	opts.Token, opts.StreamIDs = token, []string{"e2e"}
	if opts.HeartbeatInterval == 0 {
		opts.HeartbeatInterval = time.Second
	}
	if opts.BatchTime == 0 {
		opts.BatchTime = time.Second
	}
	octi, err := octiserver.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(octi.Close)
	up, err := url.Parse(esURL)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{next: esproxy.Handler(up)}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	b := &bed{t: t, octi: octi, esURL: esURL, gate: g, beatES: srv.URL, index: uniqueIndex(t)}
	t.Cleanup(func() { engine.DeleteIndex(t, esURL, b.index) })
	return b
}

func (b *bed) options() beatOptions {
	return beatOptions{openctiURL: b.octi.URL(), token: token, streamID: "e2e", esURL: b.beatES, index: b.index}
}

// waitState waits until the index holds exactly want.
func (b *bed) waitState(want map[string]map[string]any, timeout time.Duration) {
	b.t.Helper()
	var got map[string]map[string]any
	deadline := time.Now().Add(timeout)
	for {
		got = indexState(b.t, b.esURL, b.index)
		if reflect.DeepEqual(got, want) {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	b.t.Fatalf("index %s after %s: %s", b.index, timeout, diffState(got, want))
}

func diffState(got, want map[string]map[string]any) string {
	var missing, extra, differ []string
	for id, w := range want {
		g, ok := got[id]
		switch {
		case !ok:
			missing = append(missing, id)
		case !reflect.DeepEqual(g, w):
			differ = append(differ, fmt.Sprintf("%s: got %v want %v", id, g, w))
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			extra = append(extra, id)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(differ) > 3 {
		differ = differ[:3]
	}
	return fmt.Sprintf("%d docs, want %d; missing %d %v; extra %d %v; different: %s",
		len(got), len(want), len(missing), head(missing), len(extra), head(extra), strings.Join(differ, "; "))
}

func head(s []string) []string {
	if len(s) > 5 {
		return s[:5]
	}
	return s
}

func waitPosition(t *testing.T, p *beatProc, id string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "saved position "+id, func() bool {
		pos, ok := p.position()
		return ok && pos.StartFrom == id
	})
}

// TestSTIXModeEndToEnd: creates, updates, deletes and merges of several
// object types end in exactly the expected documents, and the position is
// the last event.
func TestSTIXModeEndToEnd(t *testing.T) {
	s := mixed(120)
	b := newBed(t, s.events)
	p := startBeat(t, t.TempDir(), b.options())
	b.waitState(s.want, 90*time.Second)
	waitPosition(t, p, s.lastID(), 30*time.Second)

	// A plain index (documents can be replaced and deleted), created from
	// the beat's template.
	code, body := getJSON(t, b.esURL+"/_index_template/"+b.index)
	if code != 200 || !strings.Contains(body, `"managed_by":"openctibeat"`) {
		t.Fatalf("template %s: %d %s", b.index, code, body)
	}
	for _, h := range engine.Search(t, b.esURL, b.index, `{"size":5}`) {
		if h.Index != b.index {
			t.Fatalf("documents live in %s, not in the plain index %s (a data stream?)", h.Index, b.index)
		}
	}
	stats := p.stats()
	for name, n := range s.counts {
		if got := liveReceived(stats, name); got != n {
			t.Errorf("received %d %s events of the stream's own, want %d", got, name, n)
		}
	}
	if stats["openctibeat.events.origin.dependencies_total"] == 0 {
		t.Error("no dependency was received: the relationships' ends come before them")
	}
	p.stop()
	if pos, _ := p.position(); pos.StartFrom != s.lastID() {
		t.Fatalf("position after stop %+v", pos)
	}
}

// TestKillAndResume: SIGKILL mid-stream, restart: the engine ends identical
// to an uninterrupted run and the restart resumed from the saved
// (acknowledged) position.
func TestKillAndResume(t *testing.T) {
	s := mixed(3000)
	b := newBed(t, s.events)
	b.gate.bulkDelay.Store(int64(60 * time.Millisecond)) // keep the backfill going long enough to kill it
	dir := t.TempDir()
	p := startBeat(t, dir, b.options())
	first, _ := checkpoint.ParseEventID(s.events[0].ID)
	last, _ := checkpoint.ParseEventID(s.lastID())
	var killedAt checkpoint.Position
	eventually(t, 120*time.Second, "some progress", func() bool {
		pos, ok := p.position()
		if !ok {
			return false
		}
		id, err := checkpoint.ParseEventID(pos.StartFrom)
		return err == nil && first.Less(id) && id.Millis > first.Millis+(last.Millis-first.Millis)/5
	})
	p.kill()
	killedAt, _ = p.position()
	if killedAt.StartFrom == s.lastID() {
		t.Fatal("the backfill completed before the kill; nothing was tested")
	}
	reqsBefore := len(b.octi.StreamRequests())

	b.gate.bulkDelay.Store(0)
	p2 := startBeat(t, dir, b.options())
	b.waitState(s.want, 120*time.Second)
	waitPosition(t, p2, s.lastID(), 30*time.Second)
	reqs := b.octi.StreamRequests()
	if len(reqs) <= reqsBefore {
		t.Fatal("the restart made no stream request")
	}
	resume := reqs[reqsBefore]
	if resume.LastEventID != killedAt.StartFrom || resume.From != killedAt.StartFrom {
		t.Fatalf("restart resumed from Last-Event-ID %q / from %q, want the saved position %q", resume.LastEventID, resume.From, killedAt.StartFrom)
	}
}

// TestDroppedConnections: the server drops the stream again and again; the
// beat reconnects with Last-Event-ID and misses nothing; only the group of
// messages it was receiving at a drop (one event and what OpenCTI sent
// before it) is received again.
func TestDroppedConnections(t *testing.T) {
	s := mixed(1500)
	b := newBed(t, s.events)
	b.gate.bulkDelay.Store(int64(20 * time.Millisecond))
	p := startBeat(t, t.TempDir(), b.options())
	// Ten drops, each on a new connection, while the backfill goes on.
	drops := 0
	for drops < 10 {
		eventually(t, 30*time.Second, "a new connection", func() bool {
			return len(b.octi.StreamRequests()) > drops && b.octi.OpenStreams() > 0
		})
		time.Sleep(100 * time.Millisecond)
		b.octi.DropConnections()
		drops++
	}
	b.gate.bulkDelay.Store(0)
	b.waitState(s.want, 120*time.Second)
	waitPosition(t, p, s.lastID(), 30*time.Second)
	checkReceived(t, p.stats(), s.counts, drops)
	// The reconnect after the last drop may come after the beat has
	// everything (it reads ahead of the output since it publishes on its
	// own goroutine).
	eventually(t, 30*time.Second, "a reconnect after each drop", func() bool {
		return len(b.octi.StreamRequests()) >= drops+1
	})
	reqs := b.octi.StreamRequests()
	for _, r := range reqs[1:] {
		if r.LastEventID == "" || r.LastEventID == "0-0" {
			t.Fatalf("a reconnect did not resume: %+v", r)
		}
	}
}

// checkReceived: every event of the stream was received at least once, and
// at most one more time a connection end (the group being received then
// is read again whole).
func checkReceived(t *testing.T, stats map[string]float64, counts map[string]int, drops int) {
	t.Helper()
	extra := 0
	for name, n := range counts {
		got := liveReceived(stats, name)
		if got < n {
			t.Errorf("received %d %s events, want %d: events were missed", got, name, n)
		}
		extra += got - n
	}
	if ends := int(stats["openctibeat.events.connections_total"]) - 1; extra > ends || ends < drops {
		t.Errorf("%d events received twice over %d connection ends (%d drops): at most one group a connection end", extra, ends, drops)
	}
}

// TestEngineDown: the engine is unreachable at start and again mid-stream;
// the beat waits, retries and loses nothing.
func TestEngineDown(t *testing.T) {
	s := mixed(300)
	b := newBed(t, s.events)
	b.gate.down.Store(true)
	p := startBeat(t, t.TempDir(), b.options())
	time.Sleep(4 * time.Second)
	if pos, _ := p.position(); pos.StartFrom != "0-0" {
		t.Fatalf("the position moved to %+v while the engine was down", pos)
	}
	select {
	case <-p.done:
		t.Fatal("the beat exited while the engine was down")
	default:
	}
	b.gate.down.Store(false)
	b.waitState(s.want, 90*time.Second)
	waitPosition(t, p, s.lastID(), 30*time.Second)

	// Down again, while new events arrive.
	b.gate.down.Store(true)
	before, _ := p.position()
	more := mixedFrom(s, 300, 200)
	b.octi.Append(more...)
	time.Sleep(4 * time.Second)
	if pos, _ := p.position(); pos != before {
		t.Fatalf("position moved from %+v to %+v while the engine was down", before, pos)
	}
	b.gate.down.Store(false)
	b.waitState(s.want, 90*time.Second)
	waitPosition(t, p, s.lastID(), 30*time.Second)
}

// mixedFrom extends s with n more indicators numbered from start and
// returns the new events.
func mixedFrom(s *scenario, start, n int) []octiserver.Event {
	from := len(s.events)
	for i := start; i < start+n; i++ {
		s.create(object("indicator", i, 1))
		if i%4 == 0 {
			s.update(object("indicator", i-1, 5))
		}
		if i%9 == 0 {
			s.delete(object("indicator", i-5, 1))
		}
	}
	return s.events[from:]
}

// TestMalformedEvents: malformed events (a message over max_event_size
// and JSON nested too deep among them) are counted, logged with their id
// and skipped on the same connection; later events are still indexed.
func TestMalformedEvents(t *testing.T) {
	const maxEventSize = 64 << 10
	s := newScenario()
	s.create(object("indicator", 1, 1))
	bad := map[string]string{
		s.raw("create", `{"version":"4","data":{"type":"indicator","x":"`+strings.Repeat("a", maxEventSize)+`"}}`): "oversize",
		s.raw("update", `{"version":"4","data":`+strings.Repeat("[", 10000)+`}`):                                   "too_deep",
		s.raw("create", `{"version":"4","data":{"type":"indicator"`):                                               "malformed_json",
		s.raw("update", `{"version":"4","type":"update"}`):                                                         "missing_field",
		s.raw("create", `{"version":"4","data":{"type":"Not A Type!","id":"x"}}`):                                  "invalid_object",
		s.raw("merge", `{"version":"4","data":`+string(mustJSON(object("indicator", 1, 2)))+`}`):                   "missing_field",
		s.raw("create", `null`): "missing_field",
	}
	s.raw("something_new", `{"whatever":true}`)
	s.create(object("malware", 2, 1))
	s.update(object("indicator", 1, 3))
	b := newBed(t, s.events)
	o := b.options()
	o.extra = fmt.Sprintf("openctibeat.stream.max_event_size: %d", maxEventSize)
	p := startBeat(t, t.TempDir(), o)
	b.waitState(s.want, 60*time.Second)
	waitPosition(t, p, s.lastID(), 30*time.Second)
	want := map[string]int{}
	for _, reason := range bad {
		want[reason]++
	}
	stats := p.stats()
	if n := stats["openctibeat.stream.reconnects_total"]; n != 0 {
		t.Errorf("%v reconnects: a bad event broke the connection", n)
	}
	for reason, n := range want {
		if got := stats["openctibeat.events.skipped."+reason+"_total"]; int(got) != n {
			t.Errorf("skipped.%s_total = %v, want %d", reason, got, n)
		}
	}
	out := p.out.String()
	for id := range bad {
		if !strings.Contains(out, `"event_id":"`+id+`"`) {
			t.Errorf("no log line names malformed event %s", id)
		}
	}
	if strings.Contains(out, token) {
		t.Error("the token appears in the beat's output")
	}
}
