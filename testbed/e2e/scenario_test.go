//go:build integration

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/openctibeat/openctibeat/stix"
	"github.com/openctibeat/openctibeat/testbed/octiserver"
)

// scenario builds a stream and, independently of the beat's code, the
// documents stix mode must end with (the oracle).
type scenario struct {
	events []octiserver.Event
	want   map[string]map[string]any // doc id -> object
	ms     int64
	counts map[string]int // events by name
}

func newScenario() *scenario {
	return &scenario{want: map[string]map[string]any{}, ms: 1_700_000_000_000, counts: map[string]int{}}
}

func uuidOf(kind byte, n int) string {
	return fmt.Sprintf("%08x-0000-4000-8%03x-%012x", n, kind, n)
}

// object returns a STIX object of typ, number n, at version v.
func object(typ string, n, v int) map[string]any {
	internal := uuidOf(1, n)
	o := map[string]any{
		"id":           fmt.Sprintf("%s--%s", typ, uuidOf(2, n)),
		"type":         typ,
		"spec_version": "2.1",
		"created":      "2024-01-01T00:00:00.000Z",
		"modified":     time.Date(2024, 1, 1, 0, 0, v, 0, time.UTC).Format("2006-01-02T15:04:05.000Z"),
		"name":         fmt.Sprintf("%s %d v%d", typ, n, v),
		"labels":       []any{"e2e", fmt.Sprintf("v%d", v)},
		"confidence":   float64(50 + v),
		"extensions": map[string]any{stix.OpenCTIExtension: map[string]any{
			"extension_type": "property-extension",
			"id":             internal,
			"type":           "Indicator",
			"score":          float64(10 * v),
			"updated_at":     time.Date(2024, 1, 1, 0, 0, v, 0, time.UTC).Format("2006-01-02T15:04:05.000Z"),
		}},
	}
	switch typ {
	case "indicator":
		o["pattern"] = fmt.Sprintf("[ipv4-addr:value = '10.0.%d.%d']", n/250, n%250+v)
		o["pattern_type"] = "stix"
		o["valid_from"] = "2024-01-01T00:00:00.000Z"
	case "relationship":
		o["relationship_type"] = "indicates"
		o["source_ref"] = fmt.Sprintf("indicator--%s", uuidOf(2, n+1))
		o["target_ref"] = fmt.Sprintf("malware--%s", uuidOf(2, n+2))
		delete(o, "name")
	}
	return o
}

func docID(o map[string]any) string {
	return o["extensions"].(map[string]any)[stix.OpenCTIExtension].(map[string]any)["id"].(string)
}

// normalized returns o as the engine gives it back.
func normalized(o map[string]any) map[string]any {
	b, _ := json.Marshal(o)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

func (s *scenario) nextID() string {
	s.ms += 7
	return fmt.Sprintf("%d-0", s.ms)
}

func (s *scenario) add(name, data string) string {
	id := s.nextID()
	s.events = append(s.events, octiserver.Event{ID: id, Name: name, Data: data})
	s.counts[name]++
	return id
}

func (s *scenario) create(o map[string]any) {
	s.add("create", octiserver.Envelope("create", o, nil))
	s.want[docID(o)] = normalized(o)
}

func (s *scenario) update(o map[string]any) {
	s.add("update", octiserver.Envelope("update", o, map[string]any{
		"patch":         []any{map[string]any{"op": "replace", "path": "/name", "value": o["name"]}},
		"reverse_patch": []any{},
	}))
	s.want[docID(o)] = normalized(o)
}

func (s *scenario) delete(o map[string]any) {
	s.add("delete", octiserver.Envelope("delete", o, nil))
	delete(s.want, docID(o))
}

func (s *scenario) merge(target map[string]any, sources ...map[string]any) {
	srcs := make([]any, len(sources))
	for i, src := range sources {
		srcs[i] = src
		delete(s.want, docID(src))
	}
	s.add("merge", octiserver.Envelope("merge", target, map[string]any{"sources": srcs}))
	s.want[docID(target)] = normalized(target)
}

func (s *scenario) raw(name, data string) string { return s.add(name, data) }

// liveReceived is the number of the stream's own events of a name the beat
// received: creates OpenCTI sent on its own (dependencies, recovered
// objects) are counted apart.
func liveReceived(stats map[string]float64, name string) int {
	n := stats["openctibeat.events.received."+name+"_total"]
	if name == "create" {
		n -= stats["openctibeat.events.origin.dependencies_total"] + stats["openctibeat.events.origin.init_total"]
	}
	return int(n)
}

func (s *scenario) lastID() string { return s.events[len(s.events)-1].ID }

// mixed builds n indicators through creates, updates, deletes and merges,
// plus malware and relationships from indicators to malware (which the
// platform sends as dependencies of both).
func mixed(n int) *scenario {
	s := newScenario()
	for i := 0; i < n; i++ {
		s.create(object("indicator", i, 1))
		if i%5 == 0 {
			s.create(object("malware", 100000+i, 1))
			rel := object("relationship", 200000+i, 1)
			rel["source_ref"] = object("indicator", i, 1)["id"]
			rel["target_ref"] = object("malware", 100000+i, 1)["id"]
			s.create(rel)
		}
		if i >= 3 && i%3 == 0 {
			s.update(object("indicator", i-3, 2))
		}
		if i >= 10 && i%10 == 0 {
			s.delete(object("indicator", i-7, 1))
		}
		if i >= 20 && i%20 == 0 {
			s.merge(object("indicator", i-1, 3), object("indicator", i-2, 1), object("indicator", i-4, 1))
		}
	}
	return s
}

// gate sits in front of the engine and can make it unreachable (connections
// are closed without an answer), silent (requests are held, never
// answered, until the client gives up) and slow (a delay per bulk request).
type gate struct {
	next      http.Handler
	down      atomic.Bool
	silent    atomic.Bool
	bulkDelay atomic.Int64 // nanoseconds
	bulks     atomic.Int64
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.down.Load() {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		http.Error(w, "engine down", http.StatusServiceUnavailable)
		return
	}
	if g.silent.Load() {
		// The request's context ends when the client hangs up, which the
		// server notices only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
		return
	}
	if r.URL.Path == "/_bulk" || len(r.URL.Path) > 6 && r.URL.Path[len(r.URL.Path)-6:] == "/_bulk" {
		g.bulks.Add(1)
		if d := time.Duration(g.bulkDelay.Load()); d > 0 {
			time.Sleep(d)
		}
	}
	g.next.ServeHTTP(w, r)
}
