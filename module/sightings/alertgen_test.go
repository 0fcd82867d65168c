package sightings

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/openctibeat/openctibeat/module/sightings/alerts"
)

// Shapes of generated alerts.
const (
	shape8     = "8.x"   // .alerts-security.alerts-*, flat kibana.alert.* keys
	shape715   = "7.15"  // .siem-signals-*, signal.* + threat.enrichments[]
	shape714   = "7.14"  // .siem-signals-*, threat.indicator[] with matched
	shape8Nest = "8.x-n" // 8.x written with nested objects
)

// How a generated alert names its indicator.
const (
	byIDs     = "ids"     // enrichment indicator.id = [internal id, STIX id]
	byDoc     = "doc"     // matched.index/matched.id of the indicator document (and matched.atomic if value is set)
	byValue   = "value"   // only matched.atomic
	byUnknown = "unknown" // ids and value OpenCTI does not know
	byBroken  = "broken"  // threat.enrichments is not an array of objects
	byNothing = "nothing" // enrichment entries without any id, document or value
)

// genAlert describes one alert to generate.
type genAlert struct {
	id       string
	shape    string
	created  time.Time // @timestamp (alert creation)
	original time.Time // original event time; zero: none
	noTime   bool      // drop every time from the source (keep @timestamp for the index)
	by       string
	ind      fakeIndicator
	docIndex string // indicator document location, for byDoc
	docID    string
	value    string // matched value, for byValue
	closed   bool   // workflow status closed (open otherwise)
}

func (g genAlert) status() string {
	if g.closed {
		return "closed"
	}
	return "open"
}

func (g genAlert) index(space string) string {
	if g.shape == shape8 || g.shape == shape8Nest {
		return ".alerts-security.alerts-" + space
	}
	return ".siem-signals-" + space
}

// eventTime is the time the module must use for the alert.
func (g genAlert) eventTime() time.Time {
	if !g.original.IsZero() {
		return g.original.UTC().Truncate(time.Millisecond)
	}
	return g.created.UTC().Truncate(time.Millisecond)
}

func iso(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// enrichment returns the indicator object and matched object of the alert.
func (g genAlert) enrichment() (indicator, matched map[string]any) {
	indicator = map[string]any{}
	matched = map[string]any{"type": "indicator_match_rule", "field": "destination.ip"}
	switch g.by {
	case byIDs:
		indicator = map[string]any{"id": []any{g.ind.ID, g.ind.StandardID}, "type": "ipv4-addr", "ip": g.value}
		matched["id"], matched["index"], matched["atomic"] = "doc-of-"+g.ind.ID, "logs-ti_openctibeat.indicator-default", g.value
	case byDoc:
		matched["id"], matched["index"] = g.docID, g.docIndex
		if g.value != "" {
			matched["atomic"] = g.value
		}
	case byValue:
		matched["atomic"] = g.value
	case byUnknown:
		indicator = map[string]any{"id": []any{"00000000-0000-4000-8000-000000000000"}}
		matched["atomic"] = "203.0.113.254"
		matched["id"], matched["index"] = "no-such-doc", "no-such-index"
	case byNothing:
		matched = map[string]any{"type": "indicator_match_rule"}
	}
	return indicator, matched
}

// source returns the alert document in its shape.
func (g genAlert) source() map[string]any {
	indicator, matched := g.enrichment()
	var enrichments any = []any{map[string]any{"indicator": indicator, "feed": map[string]any{"name": "OpenCTI"}, "matched": matched}}
	if g.by == byBroken {
		enrichments = "not an array"
	}
	src := map[string]any{"@timestamp": iso(g.created), "event": map[string]any{"kind": "signal"}}
	switch g.shape {
	case shape8:
		src["kibana.alert.uuid"] = g.id
		src["kibana.alert.rule.type"] = "threat_match"
		src["kibana.alert.rule.uuid"] = "rule-8"
		src["kibana.alert.workflow_status"] = g.status()
		if !g.original.IsZero() {
			src["kibana.alert.original_time"] = iso(g.original)
		}
		src["threat"] = map[string]any{"enrichments": enrichments}
	case shape8Nest:
		alert := map[string]any{"uuid": g.id, "rule": map[string]any{"type": "threat_match", "uuid": "rule-8"}, "workflow_status": g.status()}
		if !g.original.IsZero() {
			alert["original_time"] = iso(g.original)
		}
		src["kibana"] = map[string]any{"alert": alert}
		src["threat"] = map[string]any{"enrichments": enrichments}
	case shape715, shape714:
		signal := map[string]any{
			"rule":   map[string]any{"type": "threat_match", "id": "rule-7"},
			"parent": map[string]any{"id": "event-" + g.id},
			"status": g.status(),
		}
		if !g.original.IsZero() {
			signal["original_time"] = iso(g.original)
		}
		src["signal"] = signal
		if g.shape == shape715 {
			src["threat"] = map[string]any{"enrichments": enrichments}
		} else {
			legacy := map[string]any{"matched": matched, "event": map[string]any{"kind": "enrichment"}}
			for k, v := range indicator {
				legacy[k] = v
			}
			entries := []any{legacy, map[string]any{"domain": "source-event-threat-data-without-matched"}}
			if g.by == byBroken {
				entries = []any{map[string]any{"domain": "no matched here"}}
			}
			src["threat"] = map[string]any{"indicator": entries}
		}
	}
	if g.noTime {
		delete(src, "kibana.alert.original_time")
		if s, ok := src["signal"].(map[string]any); ok {
			delete(s, "original_time")
		}
	}
	return src
}

// memSource is an in-memory alert index with Elasticsearch's sort and
// search_after semantics, for unit tests.
type memSource struct {
	mu    sync.Mutex
	hits  []memHit
	docs  map[string]map[string]any
	pages int
	// docCalls are the Document lookups, as index/id.
	docCalls []string
	// dropTimestamp lists alert ids whose _source lacks @timestamp (the
	// index has it: the engine found the alert by its range).
	dropTimestamp map[string]bool
}

type memHit struct {
	key  [4]string
	ms   int64
	hit  alerts.Hit
	time time.Time
}

func newMemSource() *memSource {
	return &memSource{docs: map[string]map[string]any{}, dropTimestamp: map[string]bool{}}
}

func (s *memSource) add(space string, gs ...genAlert) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range gs {
		src := g.source()
		if g.noTime {
			delete(src, "@timestamp")
		}
		b, _ := json.Marshal(src)
		uuid, rule, parent := "", "", ""
		switch g.shape {
		case shape8, shape8Nest:
			uuid = g.id
		default:
			rule, parent = "rule-7", "event-"+g.id
		}
		ms := g.created.UnixMilli()
		h := alerts.Hit{ID: g.id, Index: g.index(space), Source: b, Sort: []any{json.Number(fmt.Sprint(ms)), uuid, rule, parent}}
		s.hits = append(s.hits, memHit{key: [4]string{fmt.Sprintf("%020d", ms), uuid, rule, parent}, ms: ms, hit: h, time: g.created})
	}
	sort.SliceStable(s.hits, func(i, j int) bool { return less(s.hits[i].key, s.hits[j].key) })
}

func less(a, b [4]string) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

func (s *memSource) addDoc(index, id string, doc map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docs[index+"\x00"+id] = doc
}

func (s *memSource) Page(_ context.Context, q alerts.Query) ([]alerts.Hit, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pages++
	var after *[4]string
	if len(q.After) == 4 {
		ms, _ := q.After[0].(json.Number).Int64()
		k := [4]string{fmt.Sprintf("%020d", ms), fmt.Sprint(q.After[1]), fmt.Sprint(q.After[2]), fmt.Sprint(q.After[3])}
		after = &k
	}
	var out []alerts.Hit
	for _, h := range s.hits {
		if h.ms < q.From.UnixMilli() || (after != nil && !less(*after, h.key)) {
			continue
		}
		out = append(out, h.hit)
		if len(out) == q.Size {
			break
		}
	}
	return out, nil
}

func (s *memSource) Document(_ context.Context, index, id string) (map[string]any, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docCalls = append(s.docCalls, index+"/"+id)
	d, ok := s.docs[index+"\x00"+id]
	return d, ok, nil
}

// indicatorDoc is an openctibeat ecs-mode indicator document.
func indicatorDoc(ind fakeIndicator, value string) map[string]any {
	return map[string]any{
		"@timestamp": "2024-04-01T00:00:00.000Z",
		"event":      map[string]any{"kind": "enrichment", "category": "threat", "type": "indicator", "module": "ti_openctibeat"},
		"threat": map[string]any{"indicator": map[string]any{
			"id": []any{ind.ID, ind.StandardID}, "type": "ipv4-addr", "ip": value,
		}},
		"opencti": map[string]any{"indicator": map[string]any{"id": ind.ID}},
	}
}

// expectations sums generated alerts per indicator (the ones that resolve).
func expectations(gs []genAlert) map[string]want {
	out := map[string]want{}
	for _, g := range gs {
		if g.noTime || g.by == byUnknown || g.by == byBroken || g.by == byNothing {
			continue
		}
		t := g.eventTime()
		w, ok := out[g.ind.ID]
		if !ok || t.Before(w.first) {
			w.first = t
		}
		if !ok || t.After(w.last) {
			w.last = t
		}
		w.count++
		out[g.ind.ID] = w
	}
	return out
}

// compactJSON is a helper for readable failures.
func compactJSON(v any) string {
	b, _ := json.Marshal(v)
	var buf bytes.Buffer
	_ = json.Compact(&buf, b)
	return strings.TrimSpace(buf.String())
}
