package sightings

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	conf "github.com/elastic/elastic-agent-libs/config"
	"github.com/elastic/elastic-agent-libs/logp"
	"github.com/elastic/elastic-agent-libs/logp/logptest"
	"github.com/elastic/elastic-agent-libs/monitoring"
	"github.com/elastic/go-elasticsearch/v8"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/openctibeat/openctibeat/module/sightings/alerts"
	"github.com/openctibeat/openctibeat/opencti"
	"github.com/openctibeat/openctibeat/opencti/api"
)

var base = time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)

// harness runs modules against a fake OpenCTI and an alert source.
type harness struct {
	t       testing.TB
	f       *fakeOpenCTI
	src     alertSource
	dir     string
	octiURL string // the fake's URL, or a proxy's
	mutate  func(*Config)
	wrap    func(OpenCTI) OpenCTI
	inds    []fakeIndicator
	// timeout, when set, is the client's opencti.timeout.
	timeout time.Duration
	// logger, when set, replaces the test logger.
	logger *logp.Logger
	// es, when src is nil, is the Elasticsearch the module reads.
	es *elasticsearch.Config
	// apiOpts are added to the GraphQL client's options.
	apiOpts []api.Option
	// clock, when set, is the module's clock (default: base + 2h).
	clock func() time.Time
}

func newHarness(t testing.TB, src alertSource, indicators int) *harness {
	h := &harness{t: t, f: newFakeOpenCTI(t), src: src, dir: t.TempDir()}
	h.octiURL = h.f.srv.URL()
	for i := 0; i < indicators; i++ {
		id := uuid.NewSHA1(api.OpenCTINamespace, []byte(fmt.Sprintf("indicator-%d", i))).String()
		h.inds = append(h.inds, h.f.addIndicator(id, fmt.Sprintf("[ipv4-addr:value = '%s']", valueOf(i))))
	}
	return h
}

func valueOf(i int) string { return fmt.Sprintf("198.51.%d.%d", i/250, i%250+1) }

func (h *harness) config() Config {
	cfg := DefaultConfig()
	cfg.Identity.Name = "Elastic Test Cluster"
	if h.mutate != nil {
		h.mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		h.t.Fatal(err)
	}
	return cfg
}

func (h *harness) module(reg *monitoring.Registry) *Module {
	h.t.Helper()
	conn := opencti.DefaultConfig()
	conn.URL, conn.Token = h.octiURL, "t"
	if h.timeout > 0 {
		conn.Transport.Timeout = h.timeout
	}
	client, err := api.New(conn, append([]api.Option{api.WithRetry(2, time.Millisecond, 2*time.Millisecond)}, h.apiOpts...)...)
	if err != nil {
		h.t.Fatal(err)
	}
	var octi OpenCTI = client
	if h.wrap != nil {
		octi = h.wrap(client)
	}
	log := h.logger
	if log == nil {
		log = logptest.NewTestingLogger(h.t, "")
	}
	clock := h.clock
	if clock == nil {
		clock = func() time.Time { return base.Add(2 * time.Hour) }
	}
	m, err := New(Params{
		Config: h.config(), OpenCTI: octi, DataPath: h.dir, Logger: log,
		Registry: reg, Clock: clock, source: h.src, ESConfig: h.es,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	m.backoff = time.Millisecond
	return m
}

func (h *harness) identity() string {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	for _, id := range h.f.identities {
		return id.ID
	}
	return ""
}

// pollAll polls until a poll reports no more alerts.
func pollAll(t testing.TB, m *Module) {
	t.Helper()
	for i := 0; ; i++ {
		more, err := m.Poll(context.Background())
		if err != nil {
			t.Fatalf("poll %d: %v", i, err)
		}
		if !more {
			return
		}
		if i > 10000 {
			t.Fatal("polls never end")
		}
	}
}

func counter(reg *monitoring.Registry, name string) uint64 {
	parts := strings.Split(name, ".")
	for _, p := range parts[:len(parts)-1] {
		reg = reg.GetRegistry(p)
		if reg == nil {
			return 0
		}
	}
	if u, ok := reg.Get(parts[len(parts)-1]).(*monitoring.Uint); ok {
		return u.Get()
	}
	return 0
}

// Indicator documents of the scenario (openctibeat's ecs index, and a data
// stream backing index).
const (
	scenarioDocIndex1 = "logs-ti_openctibeat.indicator-default"
	scenarioDocIndex2 = ".ds-logs-ti_openctibeat.indicator-default-2024.05.01-000001"
)

// scenario is a mix of every shape, resolution path and bad alert; addDoc
// stores the indicator documents the alerts point to.
func scenario(h *harness, docIndex1, docIndex2 string, addDoc func(index, id string, doc map[string]any)) []genAlert {
	i0, i1, i2, i3 := h.inds[0], h.inds[1], h.inds[2], h.inds[3]
	addDoc(docIndex1, "doc-1", indicatorDoc(i1, valueOf(1)))
	addDoc(docIndex2, "doc-2", indicatorDoc(i2, valueOf(2)))
	at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	return []genAlert{
		{id: "a01", shape: shape8, created: at(1), original: at(-50), by: byIDs, ind: i0, value: valueOf(0)},
		{id: "a02", shape: shape8, created: at(2), original: at(-40), by: byIDs, ind: i0, value: valueOf(0)},
		{id: "a03", shape: shape8, created: at(3), original: at(-45), by: byIDs, ind: i0, value: valueOf(0)},
		{id: "a04", shape: shape8Nest, created: at(4), original: at(-30), by: byDoc, ind: i1, docIndex: docIndex1, docID: "doc-1"},
		{id: "a05", shape: shape715, created: at(5), original: at(-20), by: byIDs, ind: i1, value: valueOf(1)},
		{id: "a06", shape: shape714, created: at(6), original: at(-10), by: byValue, ind: i2, value: valueOf(2)},
		{id: "a07", shape: shape714, created: at(7), original: at(-15), by: byDoc, ind: i2, docIndex: docIndex2, docID: "doc-2"},
		{id: "a08", shape: shape715, created: at(8), by: byIDs, ind: i3, value: valueOf(3)}, // no original time: @timestamp
		{id: "b01", shape: shape8, created: at(9), original: at(-5), by: byUnknown},
		{id: "b02", shape: shape715, created: at(10), original: at(-5), by: byBroken},
		{id: "b03", shape: shape714, created: at(11), original: at(-5), by: byBroken},
		{id: "b04", shape: shape8, created: at(12), original: at(-5), by: byNothing},
		{id: "b05", shape: shape8, created: at(13), noTime: true, by: byIDs, ind: i0, value: valueOf(0)},
		{id: "a09", shape: shape8, created: at(14), original: at(-60), by: byIDs, ind: i0, value: valueOf(0)},
	}
}

// memScenario is scenario in a memSource.
func memScenario(h *harness, src *memSource) []genAlert {
	gs := scenario(h, scenarioDocIndex1, scenarioDocIndex2, src.addDoc)
	src.add("default", gs...)
	return gs
}

func TestPollCountsExactly(t *testing.T) {
	src := newMemSource()
	h := newHarness(t, src, 4)
	gs := memScenario(h, src)
	reg := monitoring.NewRegistry()
	m := h.module(reg)

	pollAll(t, m)
	h.f.checkSightings(t, h.identity(), expectations(gs))
	if n := h.f.mutationCount(); n != 4 {
		t.Errorf("%d mutations, want 4 (one per indicator)", n)
	}
	for name, want := range map[string]uint64{
		"alerts_total": 14, "sightings_created_total": 4,
		"skipped.unknown_indicator_total": 1, "skipped.malformed_enrichment_total": 3, "skipped.missing_time_total": 1,
	} {
		if got := counter(reg, name); got != want {
			t.Errorf("metric %s = %d, want %d", name, got, want)
		}
	}

	// The same alerts again (the overlap re-reads them): nothing changes.
	pollAll(t, m)
	if n := h.f.mutationCount(); n != 4 {
		t.Errorf("a second poll sent %d mutations in all, want still 4", n)
	}
	// Re-read: the alerts created in the 5 minutes before the newest one.
	if got := counter(reg, "alerts_duplicate_total"); got != 6 {
		t.Errorf("alerts_duplicate_total = %d, want 6", got)
	}

	// New alerts: i0's last_seen moves (OpenCTI adds), i1's falls inside
	// its span (OpenCTI replaces), i3's moves first_seen back.
	at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	more := []genAlert{
		{id: "c01", shape: shape8, created: at(20), original: at(15), by: byIDs, ind: h.inds[0], value: valueOf(0)},
		{id: "c02", shape: shape715, created: at(21), original: at(-25), by: byIDs, ind: h.inds[1], value: valueOf(1)},
		{id: "c03", shape: shape8, created: at(22), original: at(-500), by: byIDs, ind: h.inds[3], value: valueOf(3)},
	}
	src.add("default", more...)
	gs = append(gs, more...)
	pollAll(t, m)
	h.f.checkSightings(t, h.identity(), expectations(gs))
	if n := h.f.mutationCount(); n != 7 {
		t.Errorf("%d mutations in all, want 7", n)
	}

	// A restart on the same data path changes nothing.
	m2 := h.module(monitoring.NewRegistry())
	pollAll(t, m2)
	h.f.checkSightings(t, h.identity(), expectations(gs))
	if n := h.f.mutationCount(); n != 7 {
		t.Errorf("after a restart: %d mutations in all, want 7", n)
	}
	h.f.checkRequests(t)
}

func TestLateAlertInOverlapCountedOnce(t *testing.T) {
	src := newMemSource()
	h := newHarness(t, src, 1)
	i0 := h.inds[0]
	gs := []genAlert{
		{id: "x1", shape: shape8, created: base.Add(10 * time.Minute), original: base, by: byIDs, ind: i0, value: valueOf(0)},
		{id: "x2", shape: shape8, created: base.Add(20 * time.Minute), original: base.Add(time.Minute), by: byIDs, ind: i0, value: valueOf(0)},
	}
	src.add("default", gs...)
	m := h.module(monitoring.NewRegistry())
	pollAll(t, m)
	// Became searchable after the poll, with an @timestamp before the
	// newest alert processed (within the 5m overlap).
	late := genAlert{id: "x0", shape: shape8, created: base.Add(17 * time.Minute), original: base.Add(30 * time.Second), by: byIDs, ind: i0, value: valueOf(0)}
	src.add("default", late)
	gs = append(gs, late)
	pollAll(t, m)
	pollAll(t, m)
	h.f.checkSightings(t, h.identity(), expectations(gs))
	if n := h.f.mutationCount(); n != 2 {
		t.Errorf("%d mutations, want 2", n)
	}
}

// TestKilledAndRestarted stops a poll after k mutations (the context is
// cancelled from OpenCTI's side, as a kill would), adds alerts, and
// finishes with a new module on the same data path.
// checkFirstCheckpoint fails unless the state file, if there is one, still
// holds the first run's checkpoint (no read position, no alert seen) and no
// totals: a poll that failed or was killed may have saved the zero bases of
// its new sightings (adopt), nothing else.
func checkFirstCheckpoint(t *testing.T, path string) {
	t.Helper()
	st, err := newStateStore(path).load()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Cursor) > 0 || !st.Watermark.IsZero() || len(st.Seen) > 0 || st.Continue {
		t.Fatalf("a failed poll moved the checkpoint: %s", compactJSON(st))
	}
	for key, rec := range st.Sightings {
		if rec.Count != 0 || !rec.LastSeen.IsZero() {
			t.Fatalf("a failed poll saved totals for %s: %+v", key, rec)
		}
	}
}

// TestInvalidMatchedDocument: an alert whose matched.index or matched.id
// Elasticsearch would refuse is not looked up (nothing from it reaches a
// request); it is logged with the alert and the field, counted, and found
// by its matched value instead; the poll goes on and counts exactly.
func TestInvalidMatchedDocument(t *testing.T) {
	src := newMemSource()
	h := newHarness(t, src, 4)
	log, logs := logptest.NewTestingLoggerWithObserver(t, "")
	h.logger = log
	at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	src.addDoc("ti", "doc-3", indicatorDoc(h.inds[3], valueOf(3)))
	gs := []genAlert{
		{id: "v1", shape: shape8, created: at(1), original: at(0), by: byDoc, ind: h.inds[0], docIndex: "ti/_doc/x/../../_search", docID: "x", value: valueOf(0)},
		{id: "v2", shape: shape714, created: at(2), original: at(0), by: byDoc, ind: h.inds[1], docIndex: "Threat-Index", docID: "x", value: valueOf(1)},
		{id: "v3", shape: shape715, created: at(3), original: at(0), by: byDoc, ind: h.inds[2], docIndex: "ti", docID: strings.Repeat("x", 513), value: valueOf(2)},
		{id: "v4", shape: shape8, created: at(4), original: at(0), by: byDoc, ind: h.inds[3], docIndex: "remote:ti", docID: "doc-3"}, // and no value: unknown
		{id: "v5", shape: shape8, created: at(5), original: at(1), by: byDoc, ind: h.inds[3], docIndex: "ti", docID: "doc-3"},
	}
	src.add("default", gs...)
	reg := monitoring.NewRegistry()
	pollAll(t, h.module(reg))

	want := expectations(gs[:3])
	want[h.inds[3].ID] = expectations(gs[4:])[h.inds[3].ID]
	h.f.checkSightings(t, h.identity(), want)
	if d := cmp.Diff([]string{"ti/doc-3"}, src.docCalls); d != "" {
		t.Errorf("document lookups (-want +got):\n%s", d)
	}
	for name, want := range map[string]uint64{
		"lookup_skipped.invalid_matched_index_total": 3, "lookup_skipped.invalid_matched_id_total": 1,
		"skipped.unknown_indicator_total": 1, "alerts_total": 5,
	} {
		if got := counter(reg, name); got != want {
			t.Errorf("metric %s = %d, want %d", name, got, want)
		}
	}
	var logged []string
	for _, e := range logs.FilterMessageSnippet("matched document is not looked up").All() {
		f := e.ContextMap()
		logged = append(logged, fmt.Sprintf("%v %v %v", f["alert_id"], f["field"], f["reason"]))
	}
	wantLogged := []string{
		"v1 threat.enrichments.matched.index invalid_matched_index",
		"v2 threat.indicator.matched.index invalid_matched_index",
		"v3 threat.enrichments.matched.id invalid_matched_id",
		"v4 threat.enrichments.matched.index invalid_matched_index",
	}
	if d := cmp.Diff(wantLogged, logged); d != "" {
		t.Errorf("logged (-want +got):\n%s", d)
	}
}

func TestKilledAndRestarted(t *testing.T) {
	for k := 1; k <= 4; k++ {
		t.Run(fmt.Sprintf("killed after %d mutations", k), func(t *testing.T) {
			src := newMemSource()
			h := newHarness(t, src, 4)
			gs := memScenario(h, src)
			ctx, cancel := context.WithCancel(context.Background())
			h.f.afterAdd = func(n int) {
				if n == k {
					cancel()
				}
			}
			_, err := h.module(monitoring.NewRegistry()).Poll(ctx)
			if k < 4 { // after the 4th and last mutation the poll may complete
				if err == nil {
					t.Fatal("the killed poll reported success")
				}
				checkFirstCheckpoint(t, h.module(nil).StatePath())
			}
			h.f.afterAdd = nil
			more := genAlert{id: "d01", shape: shape8, created: base.Add(30 * time.Minute), original: base.Add(-90 * time.Minute), by: byIDs, ind: h.inds[k-1], value: valueOf(k - 1)}
			src.add("default", more)
			gs = append(gs, more)
			pollAll(t, h.module(monitoring.NewRegistry()))
			h.f.checkSightings(t, h.identity(), expectations(gs))
		})
	}
}

// faultyOpenCTI forwards GraphQL requests to the fake; the chosen requests
// of operation op (sighting mutations unless set; counted from 1), or all
// of them while failAll is set, fail: answered 502, or left hanging until
// the client gives up (hang), after being applied (the answer is lost) or
// not (the request is lost).
type faultyOpenCTI struct {
	target  *url.URL
	op      string
	applied bool
	hang    bool
	failAll atomic.Bool
	// onHang, when set, runs as a hang starts.
	onHang func()
	sent   atomic.Int32 // requests of op received
	failed atomic.Int32 // of which failed

	mu   sync.Mutex
	fail map[int32]bool
}

func newFaultyOpenCTI(t *testing.T, fakeURL string, applied, hang bool, fail ...int32) *faultyOpenCTI {
	t.Helper()
	u, err := url.Parse(fakeURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultyOpenCTI{target: u, op: "OpenctibeatSightingAdd", applied: applied, hang: hang, fail: map[int32]bool{}}
	for _, n := range fail {
		p.fail[n] = true
	}
	return p
}

// failNext makes the next k sighting mutations fail.
func (p *faultyOpenCTI) failNext(k int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := int32(1); i <= k; i++ {
		p.fail[p.sent.Load()+i] = true
	}
}

func (p *faultyOpenCTI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var req struct {
		OperationName string `json:"operationName"`
	}
	_ = json.Unmarshal(body, &req)
	if req.OperationName == p.op {
		n := p.sent.Add(1)
		p.mu.Lock()
		fail := p.fail[n] || p.failAll.Load()
		p.mu.Unlock()
		if fail {
			p.failed.Add(1)
			if p.applied {
				httputil.NewSingleHostReverseProxy(p.target).ServeHTTP(httptest.NewRecorder(), r)
			}
			if !p.hang {
				http.Error(w, "bad gateway", http.StatusBadGateway)
				return
			}
			if p.onHang != nil {
				p.onHang()
			}
			// Until the client hangs up; the cap only keeps a broken
			// client from hanging the test (it then gets an empty answer).
			select {
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
			return
		}
	}
	httputil.NewSingleHostReverseProxy(p.target).ServeHTTP(w, r)
}

func TestLostAnswersAreNotCountedTwice(t *testing.T) {
	for _, applied := range []bool{true, false} {
		t.Run(fmt.Sprintf("applied=%v", applied), func(t *testing.T) {
			src := newMemSource()
			h := newHarness(t, src, 4)
			gs := memScenario(h, src)
			p := newFaultyOpenCTI(t, h.f.srv.URL(), applied, false, 1, 3, 4)
			proxy := httptest.NewServer(p)
			defer proxy.Close()
			h.octiURL = proxy.URL
			m := h.module(monitoring.NewRegistry())
			pollAll(t, m)
			h.f.checkSightings(t, h.identity(), expectations(gs))
			// Grow i0 and lose that answer too: the retry must send the
			// total's difference only once.
			more := genAlert{id: "e01", shape: shape8, created: base.Add(40 * time.Minute), original: base.Add(40 * time.Minute), by: byIDs, ind: h.inds[0], value: valueOf(0)}
			src.add("default", more)
			gs = append(gs, more)
			p.failNext(1)
			pollAll(t, m)
			h.f.checkSightings(t, h.identity(), expectations(gs))
			// Each lost mutation was applied exactly once in the end.
			if n := h.f.mutationCount(); n != 5 {
				t.Errorf("OpenCTI applied %d mutations, want 5", n)
			}
		})
	}
}

// checkTimedOut fails unless err is the sighting mutation timing out.
func checkTimedOut(t *testing.T, err error) {
	t.Helper()
	var te *api.TransportError
	var ne net.Error
	if !errors.As(err, &te) || te.Operation != "OpenctibeatSightingAdd" || te.StatusCode != 0 || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("poll error %v, want the sighting mutation's timeout", err)
	}
	if !strings.Contains(err.Error(), "sighting of indicator") || !strings.Contains(err.Error(), "Timeout") {
		t.Errorf("unclear poll error: %v", err)
	}
	t.Logf("the poll failed as it should: %v", err)
}

// TestHungOpenCTITimesOut: OpenCTI hangs on sighting mutations longer than
// the client's timeout (opencti.timeout), after applying them or without.
// A poll whose write gives up fails with the timeout and keeps its
// checkpoint; a later poll reads the sighting again and sends only what is
// missing; a single hang is retried within the poll the same way. In the
// end every sighting is exact: none lost, none counted twice.
func TestHungOpenCTITimesOut(t *testing.T) {
	for _, applied := range []bool{true, false} {
		t.Run(fmt.Sprintf("applied=%v", applied), func(t *testing.T) {
			src := newMemSource()
			h := newHarness(t, src, 4)
			gs := memScenario(h, src)
			p := newFaultyOpenCTI(t, h.f.srv.URL(), applied, true, 2)
			proxy := httptest.NewServer(p)
			defer proxy.Close()
			h.octiURL, h.timeout = proxy.URL, 500*time.Millisecond
			m := h.module(monitoring.NewRegistry())
			ctx := context.Background()

			// One attempt per write: the second indicator's mutation
			// hangs, the poll fails and saves nothing.
			m.retry = 1
			_, err := m.Poll(ctx)
			checkTimedOut(t, err)
			checkFirstCheckpoint(t, m.StatePath())
			wantApplied := 1
			if applied {
				wantApplied = 2
			}
			if n := h.f.mutationCount(); n != wantApplied {
				t.Fatalf("OpenCTI applied %d mutations, want %d", n, wantApplied)
			}

			// The next poll retries; its first mutation hangs once and is
			// retried within the poll.
			m.retry = 2
			p.failNext(1)
			pollAll(t, m)
			h.f.checkSightings(t, h.identity(), expectations(gs))
			if n := h.f.mutationCount(); n != 4 {
				t.Errorf("OpenCTI applied %d mutations, want 4 (one per indicator)", n)
			}

			// New alert for i0, whose mutation hangs: the poll fails, the
			// next one brings the sighting to its total once.
			more := genAlert{id: "h01", shape: shape8, created: base.Add(40 * time.Minute), original: base.Add(40 * time.Minute), by: byIDs, ind: h.inds[0], value: valueOf(0)}
			src.add("default", more)
			gs = append(gs, more)
			m.retry = 1
			p.failNext(1)
			_, err = m.Poll(ctx)
			checkTimedOut(t, err)
			pollAll(t, m)
			h.f.checkSightings(t, h.identity(), expectations(gs))
			if n := h.f.mutationCount(); n != 5 {
				t.Errorf("OpenCTI applied %d mutations, want 5", n)
			}
			// Applied hangs are never sent again; unapplied ones once more.
			wantSent := int32(5)
			if !applied {
				wantSent = 8
			}
			if hung, sent := p.failed.Load(), p.sent.Load(); hung != 3 || sent != wantSent {
				t.Errorf("%d mutations sent, %d hung; want %d and 3", sent, hung, wantSent)
			}
			h.f.checkRequests(t)
		})
	}
}

// TestHungEngineTimesOut: an Elasticsearch that accepts the alert search
// and never answers fails the poll with request_timeout after one request;
// the checkpoint does not move, and the next poll (on a healthy engine)
// goes on from it.
func TestHungEngineTimesOut(t *testing.T) {
	src := newMemSource()
	h := newHarness(t, src, 4)
	gs := memScenario(h, src)
	pollAll(t, h.module(monitoring.NewRegistry()))
	saved, err := os.ReadFile(h.module(nil).StatePath())
	if err != nil {
		t.Fatal(err)
	}

	var requests atomic.Int32
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		_, _ = io.Copy(io.Discard, r.Body) // then a hang-up cancels r.Context()
		// Until the client hangs up; the cap only keeps a client without a
		// timeout from hanging the test (it then gets an empty answer).
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
	}))
	defer hung.Close()
	h.src, h.es = nil, &elasticsearch.Config{Addresses: []string{hung.URL}}
	h.mutate = func(c *Config) {
		yml, err := conf.NewConfigWithYAML([]byte("request_timeout: 200ms"), "test")
		if err != nil {
			t.Fatal(err)
		}
		if err := yml.Unpack(c); err != nil {
			t.Fatal(err)
		}
	}
	_, err = h.module(monitoring.NewRegistry()).Poll(context.Background())
	var se *alerts.SearchError
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &se) {
		t.Fatalf("poll error %v, want the alert search's timeout", err)
	}
	t.Logf("the poll failed as it should: %v", err)
	if n := requests.Load(); n != 1 {
		t.Errorf("%d requests reached the hung engine, want 1", n)
	}
	if now, err := os.ReadFile(h.module(nil).StatePath()); err != nil || !bytes.Equal(now, saved) {
		t.Fatalf("the failed poll changed the state (checkpoint):\n%s\nwas\n%s", now, saved)
	}

	// The engine is back: nothing was lost or counted twice.
	more := genAlert{id: "t01", shape: shape8, created: base.Add(40 * time.Minute), original: base.Add(40 * time.Minute), by: byIDs, ind: h.inds[0], value: valueOf(0)}
	src.add("default", more)
	gs = append(gs, more)
	h.src, h.es = src, nil
	pollAll(t, h.module(monitoring.NewRegistry()))
	h.f.checkSightings(t, h.identity(), expectations(gs))
}

// manualClock only moves when told (by a sleep, or by a hung request).
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *manualClock) Sleep(ctx context.Context, d time.Duration) error {
	c.advance(d)
	return ctx.Err()
}

// TestHungOpenCTIReadIsBounded: OpenCTI hangs on every read of a sighting
// (the read before each mutation). The GraphQL client tries the read twice,
// within 3 × opencti.timeout (its clock is injected: each hung request
// advances it by the timeout), and the poll fails with the timeout, its
// checkpoint unmoved; once OpenCTI answers again the counts are exact.
func TestHungOpenCTIReadIsBounded(t *testing.T) {
	src := newMemSource()
	h := newHarness(t, src, 4)
	gs := memScenario(h, src)
	p := newFaultyOpenCTI(t, h.f.srv.URL(), false, true)
	p.op = "OpenctibeatSighting"
	proxy := httptest.NewServer(p)
	defer proxy.Close()
	h.octiURL, h.timeout = proxy.URL, 300*time.Millisecond
	pollAll(t, h.module(monitoring.NewRegistry()))
	saved, err := os.ReadFile(h.module(nil).StatePath())
	if err != nil {
		t.Fatal(err)
	}

	more := genAlert{id: "r01", shape: shape8, created: base.Add(40 * time.Minute), original: base.Add(40 * time.Minute), by: byIDs, ind: h.inds[0], value: valueOf(0)}
	src.add("default", more)
	gs = append(gs, more)
	clock := &manualClock{now: base}
	h.apiOpts = []api.Option{api.WithRetry(5, time.Millisecond, time.Millisecond), api.WithClock(clock.Now, clock.Sleep)}
	p.onHang = func() { clock.advance(h.timeout) }
	p.failAll.Store(true)
	mutations := h.f.mutationCount()
	_, err = h.module(monitoring.NewRegistry()).Poll(context.Background())
	var te *api.TransportError
	var ne net.Error
	if !errors.As(err, &te) || te.Operation != "OpenctibeatSighting" || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("poll error %v, want the sighting read's timeout", err)
	}
	t.Logf("the poll failed as it should: %v", err)
	if n := p.failed.Load(); n != 2 {
		t.Errorf("the hung read was tried %d times, want 2 (within 3 × opencti.timeout)", n)
	}
	if now, err := os.ReadFile(h.module(nil).StatePath()); err != nil || !bytes.Equal(now, saved) {
		t.Fatalf("the failed poll changed the state (checkpoint):\n%s\nwas\n%s", now, saved)
	}
	if n := h.f.mutationCount(); n != mutations {
		t.Errorf("%d mutations sent without their read", n-mutations)
	}

	p.failAll.Store(false)
	pollAll(t, h.module(monitoring.NewRegistry()))
	h.f.checkSightings(t, h.identity(), expectations(gs))
	h.f.checkRequests(t)
}

func TestMaxAlertsPerPoll(t *testing.T) {
	src := newMemSource()
	h := newHarness(t, src, 10)
	var gs []genAlert
	shapes := []string{shape8, shape715, shape714, shape8Nest}
	for i := 0; i < 1000; i++ {
		ind := i % 10
		gs = append(gs, genAlert{
			id: fmt.Sprintf("m%04d", i), shape: shapes[i%4], created: base.Add(time.Duration(i) * time.Second),
			original: base.Add(time.Duration((i*7919)%3600) * time.Second), by: byIDs, ind: h.inds[ind], value: valueOf(ind),
		})
	}
	src.add("default", gs...)
	h.mutate = func(c *Config) { c.PageSize, c.MaxAlertsPerPoll = 50, 200 }
	m := h.module(monitoring.NewRegistry())
	polls := 0
	for {
		before := h.f.mutationCount()
		more, err := m.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		polls++
		if n := h.f.mutationCount() - before; n > 10 {
			t.Fatalf("poll %d sent %d mutations for 10 indicators", polls, n)
		}
		if !more {
			break
		}
	}
	if polls != 5 && polls != 6 {
		t.Errorf("%d polls for 1000 alerts at 200 per poll", polls)
	}
	h.f.checkSightings(t, h.identity(), expectations(gs))
}

// rejecting makes OpenCTI refuse the sightings of one indicator.
type rejecting struct {
	OpenCTI
	from string
}

func (r rejecting) AddSighting(ctx context.Context, in api.SightingInput) (api.Sighting, error) {
	if in.FromID == r.from {
		return api.Sighting{}, &api.GraphQLError{Operation: "OpenctibeatSightingAdd", Errors: []api.ErrorEntry{{Message: "Missing reference", Code: "MISSING_REFERENCE_ERROR"}}}
	}
	return r.OpenCTI.AddSighting(ctx, in)
}

func TestRejectedSightingSkipsItsAlerts(t *testing.T) {
	src := newMemSource()
	h := newHarness(t, src, 4)
	gs := memScenario(h, src)
	h.wrap = func(o OpenCTI) OpenCTI { return rejecting{OpenCTI: o, from: h.inds[0].ID} }
	reg := monitoring.NewRegistry()
	pollAll(t, h.module(reg))
	want := expectations(gs)
	rejectedAlerts := want[h.inds[0].ID].count
	delete(want, h.inds[0].ID)
	h.f.checkSightings(t, h.identity(), want)
	if got := counter(reg, "skipped.rejected_total"); got != uint64(rejectedAlerts) {
		t.Errorf("skipped.rejected_total = %d, want %d", got, rejectedAlerts)
	}
	// The checkpoint moved on: a new module does not try again.
	h.wrap = nil
	pollAll(t, h.module(monitoring.NewRegistry()))
	h.f.checkSightings(t, h.identity(), want)
}

func TestFailingOpenCTIKeepsTheCheckpoint(t *testing.T) {
	src := newMemSource()
	h := newHarness(t, src, 4)
	gs := memScenario(h, src)
	// An internal error on one mutation stops the poll (not a rejection).
	h.f.reject = func(in map[string]any) string {
		if in["fromId"] == h.inds[2].ID {
			return "Lock timeout"
		}
		return ""
	}
	m := h.module(monitoring.NewRegistry())
	if _, err := m.Poll(context.Background()); err == nil {
		t.Fatal("poll succeeded")
	}
	h.f.reject = nil
	// And OpenCTI unreachable.
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	h.octiURL = down.URL
	m2 := h.module(monitoring.NewRegistry())
	var te *api.TransportError
	if _, err := m2.Poll(context.Background()); !errors.As(err, &te) {
		t.Fatalf("poll against a down OpenCTI: %v", err)
	}
	down.Close()
	h.octiURL = h.f.srv.URL()
	pollAll(t, m) // the first module, whose state is still the start
	h.f.checkSightings(t, h.identity(), expectations(gs))
}

func TestRunStopsWithContext(t *testing.T) {
	src := newMemSource()
	h := newHarness(t, src, 4)
	gs := memScenario(h, src)
	h.mutate = func(c *Config) { c.Interval = time.Second }
	m := h.module(monitoring.NewRegistry())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for h.f.mutationCount() < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
	h.f.checkSightings(t, h.identity(), expectations(gs))
}
