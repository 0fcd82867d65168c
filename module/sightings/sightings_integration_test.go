//go:build integration

package sightings

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/elastic/elastic-agent-libs/monitoring"
	"github.com/elastic/go-elasticsearch/v8"

	"github.com/openctibeat/openctibeat/module/sightings/alerts"
	"github.com/openctibeat/openctibeat/testbed/engine"
	"github.com/openctibeat/openctibeat/testbed/esproxy"
)

// Run with the engine started by scripts/opensearch.sh:
//
//	url=$(scripts/opensearch.sh start)
//	OPENCTIBEAT_OPENSEARCH_URL=$url OPENCTIBEAT_REQUIRE_ENGINE=1 go test -tags integration ./module/sightings/
//	scripts/opensearch.sh stop

// engineEnv holds alert indices shaped like Kibana's on the real engine, and
// a go-elasticsearch client that reaches it through the compatibility proxy.
type engineEnv struct {
	t     testing.TB
	base  string
	es    *elasticsearch.Client
	space string
}

// Index names of a space.
func (e *engineEnv) alerts8() string {
	return ".internal.alerts-security.alerts-" + e.space + "-000001"
}
func (e *engineEnv) alerts8NoTS() string {
	return ".internal.alerts-security.alerts-" + e.space + "-000002"
}
func (e *engineEnv) signals7() string   { return ".siem-signals-" + e.space + "-000001" }
func (e *engineEnv) indicators() string { return "logs-ti_openctibeat.indicator-" + e.space }

// patterns are the module's indices for this space only.
func (e *engineEnv) patterns() []string {
	return []string{".alerts-security.alerts-" + e.space + "*", ".siem-signals-" + e.space + "*"}
}

func newEngineEnv(t testing.TB) *engineEnv {
	t.Helper()
	base := engine.URL(t)
	p, err := esproxy.New(base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{p.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	e := &engineEnv{t: t, base: base, es: es, space: fmt.Sprintf("it%d", time.Now().UnixNano())}
	cleanup := func() {
		for _, ix := range []string{e.alerts8(), e.alerts8NoTS(), e.signals7(), e.indicators()} {
			engine.DeleteIndex(t, base, ix)
		}
	}
	cleanup()
	t.Cleanup(cleanup)
	e.createIndices()
	return e
}

func (e *engineEnv) do(method, path, body string) []byte {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if strings.HasPrefix(path, "/_bulk") {
		req.Header.Set("Content-Type", "application/x-ndjson")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		e.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return b
}

// createIndices mimics Kibana's alert indices: 8.x a hidden backing index
// behind the .alerts-security.alerts-<space> alias, with keyword kibana.alert
// fields and the legacy signal.* aliases; 7.x .siem-signals-<space>-000001
// behind its alias; dynamic false, as Kibana's mappings.
func (e *engineEnv) createIndices() {
	kw := map[string]any{"type": "keyword"}
	date := map[string]any{"type": "date"}
	mappings8 := map[string]any{"dynamic": false, "properties": map[string]any{
		"@timestamp": date,
		"kibana": map[string]any{"properties": map[string]any{"alert": map[string]any{"properties": map[string]any{
			"uuid": kw, "original_time": date, "workflow_status": kw,
			"rule": map[string]any{"properties": map[string]any{"type": kw, "uuid": kw}},
		}}}},
		"signal": map[string]any{"properties": map[string]any{
			"rule":   map[string]any{"properties": map[string]any{"type": map[string]any{"type": "alias", "path": "kibana.alert.rule.type"}, "id": map[string]any{"type": "alias", "path": "kibana.alert.rule.uuid"}}},
			"status": map[string]any{"type": "alias", "path": "kibana.alert.workflow_status"},
		}},
	}}
	settings8 := map[string]any{"index": map[string]any{"hidden": true, "number_of_shards": 1, "number_of_replicas": 0}}
	alias8 := ".alerts-security.alerts-" + e.space
	e.do(http.MethodPut, "/"+e.alerts8(), compactJSON(map[string]any{
		"settings": settings8, "mappings": mappings8, "aliases": map[string]any{alias8: map[string]any{"is_write_index": true}},
	}))
	// A second backing index whose _source drops @timestamp: its alerts
	// come back without any time.
	noTS := map[string]any{"_source": map[string]any{"excludes": []any{"@timestamp"}}}
	for k, v := range mappings8 {
		noTS[k] = v
	}
	e.do(http.MethodPut, "/"+e.alerts8NoTS(), compactJSON(map[string]any{
		"settings": settings8, "mappings": noTS, "aliases": map[string]any{alias8: map[string]any{}},
	}))
	e.do(http.MethodPut, "/"+e.signals7(), compactJSON(map[string]any{
		"settings": map[string]any{"index": map[string]any{"number_of_shards": 1, "number_of_replicas": 0}},
		"aliases":  map[string]any{".siem-signals-" + e.space: map[string]any{"is_write_index": true}},
		"mappings": map[string]any{"dynamic": false, "properties": map[string]any{
			"@timestamp": date,
			"signal": map[string]any{"properties": map[string]any{
				"original_time": date, "status": kw,
				"rule":   map[string]any{"properties": map[string]any{"id": kw, "type": kw}},
				"parent": map[string]any{"properties": map[string]any{"id": kw}},
			}},
		}},
	}))
}

// addDoc writes an indicator document (refreshed at once).
func (e *engineEnv) addDoc(index, id string, doc map[string]any) {
	e.bulk([]bulkItem{{index: index, id: id, doc: doc}})
}

type bulkItem struct {
	index, id string
	doc       map[string]any
}

func (e *engineEnv) bulk(items []bulkItem) {
	e.t.Helper()
	for start := 0; start < len(items); start += 2000 {
		var buf bytes.Buffer
		for _, it := range items[start:min(start+2000, len(items))] {
			buf.WriteString(compactJSON(map[string]any{"index": map[string]any{"_index": it.index, "_id": it.id}}))
			buf.WriteByte('\n')
			buf.WriteString(compactJSON(it.doc))
			buf.WriteByte('\n')
		}
		b := e.do(http.MethodPost, "/_bulk?refresh=true", buf.String())
		var res struct {
			Errors bool `json:"errors"`
		}
		if err := json.Unmarshal(b, &res); err != nil || res.Errors {
			e.t.Fatalf("bulk: %v %.2000s", err, b)
		}
	}
}

// addAlerts writes generated alerts to the index of their shape.
func (e *engineEnv) addAlerts(gs ...genAlert) {
	items := make([]bulkItem, 0, len(gs))
	for _, g := range gs {
		ix := e.signals7()
		switch {
		case g.noTime && (g.shape == shape8 || g.shape == shape8Nest):
			ix = e.alerts8NoTS()
		case g.shape == shape8 || g.shape == shape8Nest:
			ix = e.alerts8()
		}
		items = append(items, bulkItem{index: ix, id: g.id, doc: g.source()})
	}
	e.bulk(items)
}

func (e *engineEnv) reader(indices []string, query string) *alerts.Reader {
	var filter json.RawMessage
	if query != "" {
		filter = json.RawMessage(query)
	}
	return alerts.NewReader(e.es, indices, filter, DefaultConfig().RequestTimeout)
}

// TestIntegrationAlertsBecomeExactSightings: 8.x and 7.x alerts (every
// shape and resolution path, broken ones, a closed one the query filter
// excludes) on the real engine become exactly the expected sightings; a
// poll over the same alerts, new alerts, and a restart keep them exact.
func TestIntegrationAlertsBecomeExactSightings(t *testing.T) {
	env := newEngineEnv(t)
	const query = `{"bool":{"should":[{"term":{"kibana.alert.workflow_status":"open"}},{"term":{"signal.status":"open"}}],"minimum_should_match":1}}`
	h := newHarness(t, env.reader(env.patterns(), query), 4)
	h.mutate = func(c *Config) { c.Indices, c.Query = env.patterns(), query }
	gs := scenario(h, env.indicators(), env.indicators(), env.addDoc)
	closed := genAlert{id: "z01", shape: shape8, created: base.Add(15 * time.Minute), original: base, by: byIDs, ind: h.inds[3], value: valueOf(3), closed: true}
	env.addAlerts(append(gs, closed)...)

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

	pollAll(t, m)
	if n := h.f.mutationCount(); n != 4 {
		t.Errorf("polling the same alerts again sent %d mutations in all, want 4", n)
	}

	at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	more := []genAlert{
		{id: "c01", shape: shape8, created: at(20), original: at(15), by: byIDs, ind: h.inds[0], value: valueOf(0)},
		{id: "c02", shape: shape715, created: at(21), original: at(-25), by: byIDs, ind: h.inds[1], value: valueOf(1)},
		{id: "c03", shape: shape714, created: at(22), original: at(-500), by: byValue, ind: h.inds[2], value: valueOf(2)},
		{id: "c04", shape: shape8Nest, created: at(23), original: at(-500), by: byIDs, ind: h.inds[3], value: valueOf(3)},
	}
	env.addAlerts(more...)
	gs = append(gs, more...)
	pollAll(t, m)
	h.f.checkSightings(t, h.identity(), expectations(gs))
	if n := h.f.mutationCount(); n != 8 {
		t.Errorf("%d mutations in all, want 8", n)
	}

	pollAll(t, h.module(monitoring.NewRegistry())) // restart
	h.f.checkSightings(t, h.identity(), expectations(gs))
	if n := h.f.mutationCount(); n != 8 {
		t.Errorf("after a restart: %d mutations in all, want 8", n)
	}
	h.f.checkRequests(t)
}

// TestIntegrationMatchedDocumentNames: on the real engine, a matched
// document whose id holds "/", "?", "#", spaces or ".." is read (the id
// travels as data, not in a path); matched indices the engine would refuse
// are not requested and their alerts fall back to the matched value; a
// valid index that does not exist is a miss. The poll never fails.
func TestIntegrationMatchedDocumentNames(t *testing.T) {
	env := newEngineEnv(t)
	h := newHarness(t, env.reader(env.patterns(), ""), 4)
	h.mutate = func(c *Config) { c.Indices = env.patterns() }
	const odd = "a/b?c #d/../../_search"
	env.addDoc(env.indicators(), odd, indicatorDoc(h.inds[0], valueOf(0)))
	at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	gs := []genAlert{
		{id: "n1", shape: shape8, created: at(1), original: at(0), by: byDoc, ind: h.inds[0], docIndex: env.indicators(), docID: odd},
		{id: "n2", shape: shape715, created: at(2), original: at(0), by: byDoc, ind: h.inds[1], docIndex: "Threat-Index", docID: "x", value: valueOf(1)},
		{id: "n3", shape: shape8, created: at(3), original: at(0), by: byDoc, ind: h.inds[2], docIndex: env.indicators() + "/_doc/x/../../_search?q=*", docID: "x", value: valueOf(2)},
		{id: "n4", shape: shape714, created: at(4), original: at(0), by: byDoc, ind: h.inds[3], docIndex: "no-such-index-" + env.space, docID: "x", value: valueOf(3)},
	}
	env.addAlerts(gs...)
	reg := monitoring.NewRegistry()
	pollAll(t, h.module(reg))
	h.f.checkSightings(t, h.identity(), expectations(gs))
	for name, want := range map[string]uint64{
		"lookup_skipped.invalid_matched_index_total": 2, "skipped.unknown_indicator_total": 0, "errors_total": 0,
	} {
		if got := counter(reg, name); got != want {
			t.Errorf("metric %s = %d, want %d", name, got, want)
		}
	}
}

// TestIntegrationDefaultIndices reads through the default patterns
// (.alerts-security.alerts-* behind hidden backing indices, .siem-signals-*).
func TestIntegrationDefaultIndices(t *testing.T) {
	env := newEngineEnv(t)
	h := newHarness(t, env.reader(DefaultConfig().Indices, ""), 2)
	var gs []genAlert
	for i, shape := range []string{shape8, shape8Nest, shape715, shape714} {
		gs = append(gs, genAlert{id: fmt.Sprintf("%s-%d", env.space, i), shape: shape, created: base.Add(time.Duration(i) * time.Minute), original: base.Add(-time.Duration(i) * time.Hour), by: byIDs, ind: h.inds[i%2], value: valueOf(i % 2)})
	}
	env.addAlerts(gs...)
	pollAll(t, h.module(monitoring.NewRegistry()))
	h.f.checkSightings(t, h.identity(), expectations(gs))
}

// backlog generates n alerts over k indicators in every shape, created one
// per 100 ms, with original times spread over two days.
func backlog(h *harness, prefix string, n, k int) []genAlert {
	shapes := []string{shape8, shape715, shape714, shape8Nest}
	gs := make([]genAlert, 0, n)
	for i := 0; i < n; i++ {
		ind := (i * 7) % k
		gs = append(gs, genAlert{
			id: fmt.Sprintf("%s%05d", prefix, i), shape: shapes[i%len(shapes)],
			created:  base.Add(time.Duration(i) * 100 * time.Millisecond),
			original: base.Add(-time.Duration((i*7919)%(48*3600)) * time.Second),
			by:       byIDs, ind: h.inds[ind], value: valueOf(ind),
		})
	}
	return gs
}

// cancelAfterPages cancels a context once n pages were read: a kill in the
// middle of reading a backlog.
type cancelAfterPages struct {
	alertSource
	n      int
	pages  int
	cancel context.CancelFunc
}

func (c *cancelAfterPages) Page(ctx context.Context, q alerts.Query) ([]alerts.Hit, error) {
	c.pages++
	if c.pages == c.n {
		c.cancel()
	}
	return c.alertSource.Page(ctx, q)
}

// TestIntegrationKillAndRestartMidBacklog kills the module twice in the
// middle of a 3000-alert backlog (while reading, then between mutations)
// and finishes it with a new module on the same data path: no sighting is
// counted twice, none is missed.
func TestIntegrationKillAndRestartMidBacklog(t *testing.T) {
	env := newEngineEnv(t)
	reader := env.reader(env.patterns(), "")
	h := newHarness(t, reader, 20)
	h.mutate = func(c *Config) {
		c.Indices, c.PageSize, c.MaxAlertsPerPoll, c.Interval = env.patterns(), 100, 500, time.Second
	}
	gs := backlog(h, "k", 3000, 20)
	env.addAlerts(gs...)

	// Kill 1: during the 8th page (the second poll's third).
	ctx, cancel := context.WithCancel(context.Background())
	h.src = &cancelAfterPages{alertSource: reader, n: 8, cancel: cancel}
	if err := h.module(monitoring.NewRegistry()).Run(ctx); err == nil {
		t.Fatal("Run ended without error")
	}
	afterKill1 := h.f.mutationCount()
	if afterKill1 != 20 {
		t.Errorf("%d mutations before the first kill, want 20 (the first poll's)", afterKill1)
	}

	// Kill 2: after 7 of a poll's 20 mutations.
	ctx, cancel = context.WithCancel(context.Background())
	h.src = reader
	h.f.afterAdd = func(n int) {
		if n == afterKill1+7 {
			cancel()
		}
	}
	if err := h.module(monitoring.NewRegistry()).Run(ctx); err == nil {
		t.Fatal("Run ended without error")
	}
	h.f.afterAdd = nil

	// More alerts while the beat was down, then a restart to the end.
	more := backlog(h, "l", 200, 20)
	for i := range more {
		more[i].created = more[i].created.Add(10 * time.Minute)
	}
	env.addAlerts(more...)
	gs = append(gs, more...)
	m := h.module(monitoring.NewRegistry())
	for i := 0; ; i++ {
		before := h.f.mutationCount()
		more, err := m.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n := h.f.mutationCount() - before; n > 20 {
			t.Fatalf("poll %d sent %d mutations for 20 indicators", i, n)
		}
		if !more {
			break
		}
	}
	h.f.checkSightings(t, h.identity(), expectations(gs))
	h.f.checkRequests(t)
}

// TestIntegrationTenThousandAlerts: a backlog of 10,000 alerts over 50
// indicators is processed whole, with at most one mutation per indicator
// per poll, in one poll (default max_alerts_per_poll) or in five.
func TestIntegrationTenThousandAlerts(t *testing.T) {
	env := newEngineEnv(t)
	reader := env.reader(env.patterns(), "")
	h0 := newHarness(t, reader, 50)
	gs := backlog(h0, "t", 10000, 50)
	env.addAlerts(gs...)

	for _, tc := range []struct {
		name      string
		perPoll   int
		wantPolls int
	}{{"one poll", 50000, 1}, {"five polls", 2000, 5}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, reader, 50) // same indicator ids, fresh OpenCTI and data path
			h.mutate = func(c *Config) { c.Indices, c.PageSize, c.MaxAlertsPerPoll = env.patterns(), 500, tc.perPoll }
			reg := monitoring.NewRegistry()
			m := h.module(reg)
			polls := 0
			start := time.Now()
			for {
				before := h.f.mutationCount()
				more, err := m.Poll(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				polls++
				if n := h.f.mutationCount() - before; n > 50 {
					t.Fatalf("poll %d sent %d mutations for 50 indicators", polls, n)
				}
				if !more {
					break
				}
			}
			t.Logf("%d alerts in %d polls, %s", len(gs), polls, time.Since(start))
			if polls != tc.wantPolls && polls != tc.wantPolls+1 {
				t.Errorf("%d polls, want %d", polls, tc.wantPolls)
			}
			if got := counter(reg, "alerts_total"); got != 10000 {
				t.Errorf("alerts_total = %d, want 10000", got)
			}
			if n := h.f.mutationCount(); n > 50*polls {
				t.Errorf("%d mutations in %d polls", n, polls)
			}
			h.f.checkSightings(t, h.identity(), expectations(gs))
			h.f.checkRequests(t)
		})
	}
}
