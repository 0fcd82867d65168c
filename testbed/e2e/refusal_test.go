//go:build integration

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openctibeat/openctibeat/checkpoint"
	"github.com/openctibeat/openctibeat/testbed/engine"
	"github.com/openctibeat/openctibeat/testbed/octiserver"
)

// Issue #10: bulk items the engine refuses for good.

// defaultDeadLetter is the dead letter index the beat gives
// output.elasticsearch by default (config.DefaultDeadLetterIndex, spelled
// out so that the test also runs on code without it).
const defaultDeadLetter = "openctibeat-refused"

// freshDeadLetter empties the default dead letter index now and after the
// test (tests run one at a time).
func freshDeadLetter(t *testing.T, esURL string) string {
	engine.DeleteIndex(t, esURL, defaultDeadLetter)
	t.Cleanup(func() { engine.DeleteIndex(t, esURL, defaultDeadLetter) })
	return defaultDeadLetter
}

// checkDeadLetterMapping fails unless the dead letter index has the
// beat's template (setup covers it).
func checkDeadLetterMapping(t *testing.T, esURL, index string) {
	t.Helper()
	status, body, err := engine.Request(http.MethodGet, esURL, "/"+index+"/_mapping", nil, "")
	if err != nil || status != http.StatusOK {
		t.Fatalf("mapping of %s: %d %v %s", index, status, err, body)
	}
	var m map[string]struct {
		Mappings map[string]any `json:"mappings"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	mp := m[index].Mappings
	if fmt.Sprint(get(mp, "_meta.managed_by")) != "openctibeat" || fmt.Sprint(get(mp, "properties.error.properties.type.type")) != "keyword" {
		t.Errorf("the dead letter index %s was not created from the beat's template: %v", index, mp)
	}
}

// engineCall sends one request to the engine and fails the test unless it
// answers 200.
func engineCall(t *testing.T, esURL, method, path, body string) {
	t.Helper()
	status, resp, err := engine.Request(method, esURL, path, nil, body)
	if err != nil || status != http.StatusOK {
		t.Fatalf("%s %s: %d %v %s", method, path, status, err, resp)
	}
}

// appendLive appends events to the stream with fresh ids and returns the
// first and last id.
func appendLive(b *bed, evs ...octiserver.Event) (first, last string) {
	for i := range evs {
		evs[i].ID = b.octi.NextID()
	}
	b.octi.Append(evs...)
	return evs[0].ID, evs[len(evs)-1].ID
}

func ecsCreate(n int) octiserver.Event {
	o := ecsIndicator(n, 1, fmt.Sprintf("[ipv4-addr:value = '10.77.%d.%d']", n/250, n%250), nil)
	return octiserver.Event{Name: "create", Data: octiserver.Envelope("create", o, nil)}
}

func ecsDelete(n int) octiserver.Event {
	o := ecsIndicator(n, 1, fmt.Sprintf("[ipv4-addr:value = '10.77.%d.%d']", n/250, n%250), nil)
	return octiserver.Event{Name: "delete", Data: octiserver.Envelope("delete", o, nil)}
}

// indicators is the set of indicators (OpenCTI internal ids) with
// documents in the ecs index.
func indicators(t *testing.T, esURL, index string) map[string]bool {
	out := map[string]bool{}
	for id := range ecsState(t, esURL, index) {
		out[indicatorOf(id)] = true
	}
	return out
}

func wantIndicators(from, to int, except ...int) map[string]bool {
	out := map[string]bool{}
	for n := from; n <= to; n++ {
		out[uuidOf(1, n)] = true
	}
	for _, n := range except {
		delete(out, uuidOf(1, n))
	}
	return out
}

// positionBefore tells whether the saved position is before event id.
func positionBefore(t *testing.T, p *beatProc, id string) bool {
	pos, ok := p.position()
	if !ok {
		return true
	}
	got, err := checkpoint.ParseEventID(pos.StartFrom)
	if err != nil {
		t.Fatalf("saved position %+v: %v", pos, err)
	}
	want, err := checkpoint.ParseEventID(id)
	if err != nil {
		t.Fatal(err)
	}
	return got.Less(want)
}

// letterField is a field of a dead letter document: libbeat writes
// "error.type" and "error.message" as dotted keys, kept so in _source.
func letterField(d map[string]any, name string) string {
	if v, ok := d[name]; ok {
		return fmt.Sprint(v)
	}
	return fmt.Sprint(get(d, name))
}

// deadLetters returns the dead letter index's documents by _id.
func deadLetters(t *testing.T, esURL, index string) map[string]map[string]any {
	engine.Refresh(t, esURL, index)
	out := map[string]map[string]any{}
	for _, h := range engine.All(t, esURL, index) {
		out[h.ID] = h.Source
	}
	return out
}

// TestRefusalBlockedIndex: a write block, then a closed index, on the ecs
// index while events stream. The beat reports the refusal with the
// engine's reason and its fix, publishes nothing more and holds the saved
// position before the refused events; the refused writes are in the dead
// letter index with their reason. Once the index accepts writes again,
// the stream is read again from the saved position and every event is
// written: the index ends exact. Deletes of missing documents are counted
// as missing, never as refused.
func TestRefusalBlockedIndex(t *testing.T) {
	s := newScenario()
	for n := 1; n <= 20; n++ {
		s.add("create", octiserver.Envelope("create", ecsIndicator(n, 1, fmt.Sprintf("[ipv4-addr:value = '10.77.%d.%d']", n/250, n%250), nil), nil))
	}
	b := newBed(t, s.events)
	o := b.options()
	o.mode = "ecs"
	dl := freshDeadLetter(t, b.esURL)
	index := o.ecsIndex()
	t.Cleanup(func() { engine.DeleteIndex(t, b.esURL, index) })
	p := startBeat(t, t.TempDir(), o)
	waitPosition(t, p, s.lastID(), time.Minute)

	phase := func(name string, block, unblock func(), from, to int, deleted []int, wantBlocked float64, reason string) {
		t.Logf("phase %s", name)
		block()
		var evs []octiserver.Event
		for n := from; n <= to; n++ {
			evs = append(evs, ecsCreate(n))
		}
		for _, n := range deleted {
			evs = append(evs, ecsDelete(n))
		}
		evs = append(evs, ecsDelete(9000+from)) // never written: a 404
		first, last := appendLive(b, evs...)
		eventually(t, time.Minute, name+": the refusal to be noticed (or the position to pass the refused events)", func() bool {
			return p.stats()["openctibeat.publish.blocked_total"] >= wantBlocked || !positionBefore(t, p, first)
		})
		// Held: nothing past the refused events is saved while refused.
		for i := 0; i < 20; i++ {
			if !positionBefore(t, p, first) {
				pos, _ := p.position()
				t.Fatalf("%s: the saved position %+v passed refused events (first %s)", name, pos, first)
			}
			time.Sleep(100 * time.Millisecond)
		}
		out := p.out.String()
		for _, want := range []string{"the search engine refuses the beat's writes", reason} {
			if !strings.Contains(out, want) {
				t.Fatalf("%s: the log does not say %q", name, want)
			}
		}
		unblock()
		waitPosition(t, p, last, 2*time.Minute)
		eventually(t, time.Minute, name+": every event written", func() bool {
			return fmt.Sprint(indicators(t, b.esURL, index)) == fmt.Sprint(wantIndicators(1, to, deleted...))
		})
	}

	phase("write block",
		func() { engineCall(t, b.esURL, http.MethodPut, "/"+index+"/_settings", `{"index.blocks.write": true}`) },
		func() { engineCall(t, b.esURL, http.MethodPut, "/"+index+"/_settings", `{"index.blocks.write": null}`) },
		21, 80, []int{5}, 1, "cluster_block_exception")
	// The refused writes are visible with the engine's reason.
	letters := deadLetters(t, b.esURL, dl)
	if len(letters) == 0 {
		t.Fatal("the dead letter index holds none of the refused writes")
	}
	checkDeadLetterMapping(t, b.esURL, dl)
	for id, d := range letters {
		if letterField(d, "error.type") != "403" || !strings.Contains(letterField(d, "error.message"), "cluster_block_exception") ||
			!strings.Contains(fmt.Sprint(d["message"]), indicatorOf(id)) {
			t.Fatalf("dead letter %s: %v", id, d)
		}
	}

	phase("closed index",
		func() { engineCall(t, b.esURL, http.MethodPost, "/"+index+"/_close", "") },
		func() { engineCall(t, b.esURL, http.MethodPost, "/"+index+"/_open", "") },
		81, 100, []int{5, 6}, 2, "index_closed_exception")

	st := p.stats()
	if st["openctibeat.publish.rewinds_total"] < 2 {
		t.Errorf("rewinds_total = %v, want at least 2", st["openctibeat.publish.rewinds_total"])
	}
	if st["openctibeat.publish.refused_total"] != 0 {
		t.Errorf("refused_total = %v: events refused by a block were written after it, none is lost", st["openctibeat.publish.refused_total"])
	}
	if st["openctibeat.publish.deletes.missing_total"] < 2 {
		t.Errorf("deletes.missing_total = %v, want at least 2", st["openctibeat.publish.deletes.missing_total"])
	}
	if st["openctibeat.publish.deletes.refused_total"] < 1 {
		t.Errorf("deletes.refused_total = %v: the deletes sent during the block were refused", st["openctibeat.publish.deletes.refused_total"])
	}
	if out := p.out.String(); strings.Contains(out, "Can't deliver to dead letter index") {
		t.Error("a write (a delete?) was sent to the dead letter index and refused there")
	}
}

// stixWith is STIX object n with extra properties.
func stixWith(n int, extra map[string]any) map[string]any {
	o := object("indicator", n, 1)
	for k, v := range extra {
		o[k] = v
	}
	return o
}

// TestRefusalMappingConflict: in stix mode, an object whose property has
// another type than an earlier object's (a mapping conflict) and one with
// more properties than the total fields limit are refused for good, while
// the engine accepts other writes. They are in the dead letter index with
// the engine's reason, their _id and their STIX id; they are counted in
// refused_total and logged with their stream event id; the stream goes on
// and the position passes them. A delete of a missing object is not
// counted as refused.
func TestRefusalMappingConflict(t *testing.T) {
	many := map[string]any{}
	for i := 0; i < 10100; i++ {
		many[fmt.Sprintf("f%05d", i)] = "v"
	}
	s := newScenario()
	// An object where a string came first is written (the index ignores
	// malformed values); a string where an object came first is refused.
	a := stixWith(1, map[string]any{"x_custom": map[string]any{"an": "object"}})
	conflict := stixWith(2, map[string]any{"x_custom": "a string"})
	tooWide := stixWith(3, map[string]any{"x_many": many})
	s.create(a)
	conflictEvent := s.add("create", octiserver.Envelope("create", conflict, nil))
	s.add("create", octiserver.Envelope("create", tooWide, nil))
	s.create(object("indicator", 4, 1))
	s.add("delete", octiserver.Envelope("delete", object("indicator", 5, 1), nil)) // never created: a 404
	s.update(object("indicator", 4, 2))

	b := newBed(t, s.events)
	dl := freshDeadLetter(t, b.esURL)
	p := startBeat(t, t.TempDir(), b.options())
	waitPosition(t, p, s.lastID(), time.Minute)
	b.waitState(s.want, 30*time.Second)

	letters := deadLetters(t, b.esURL, dl)
	for _, c := range []struct {
		obj    map[string]any
		reason string
	}{{conflict, "mapper_parsing_exception"}, {tooWide, "Limit of total fields"}} {
		d, ok := letters[docID(c.obj)]
		if !ok {
			t.Errorf("the refused object %s is not in the dead letter index (it holds %d documents)", c.obj["id"], len(letters))
			continue
		}
		if letterField(d, "error.type") != "400" || !strings.Contains(letterField(d, "error.message"), c.reason) ||
			!strings.Contains(fmt.Sprint(d["message"]), c.obj["id"].(string)) {
			t.Errorf("dead letter of %s: error.type %v, error.message %.300v, message names the object: %t",
				c.obj["id"], letterField(d, "error.type"), letterField(d, "error.message"), strings.Contains(fmt.Sprint(d["message"]), c.obj["id"].(string)))
		}
	}
	if len(letters) != 2 {
		t.Errorf("the dead letter index holds %d documents, want 2", len(letters))
	}
	if len(letters) > 0 {
		checkDeadLetterMapping(t, b.esURL, dl)
	}
	eventually(t, 10*time.Second, "the refusals to be counted", func() bool {
		return p.stats()["openctibeat.publish.refused_total"] == 2
	})
	st := p.stats()
	for name, want := range map[string]float64{"blocked_total": 0, "rewinds_total": 0, "deletes.missing_total": 1, "deletes.refused_total": 0} {
		if got := st["openctibeat.publish."+name]; got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	out := p.out.String()
	if !strings.Contains(out, "refused documents for good") {
		t.Error("the refusals were not reported as an error")
	}
	// libbeat's own line for the refused document names its stream event.
	named := false
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "Cannot index event") && strings.Contains(line, conflictEvent) {
			named = true
		}
	}
	if !named {
		t.Errorf("no 'Cannot index event' line names the stream event %s", conflictEvent)
	}
}
